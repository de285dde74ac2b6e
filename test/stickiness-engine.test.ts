import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { suiteSchema } from '../src/suite/schema.js';
import { runSuite } from '../src/runner/run.js';
import { storedMean, type ChatMessage } from '../src/backends/types.js';
import { writeSafetensors } from '../src/engine/formats/safetensors.js';
import { writeVectorFile } from '../src/engine/formats/vector-files.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { tempDir } from './helpers.js';

// Plumbing only: a random-weight model's numbers mean nothing, but every stage must run and be stored.
test('engine: a stickiness suite runs end to end with forked inventories, a judge and activation projections, all stored', async () => {
  const config = { ...familyConfig('qwen2', { layers: 2 }) };
  const model = makeModel(config);
  const d = config.hidden_size;
  const dir = tempDir();
  writeSafetensors(join(dir, 'v.safetensors'), { v: { shape: [d], data: Float32Array.from({ length: d }, (_, i) => Math.cos(i)) } });
  writeFileSync(join(dir, 'steer.yaml'), '- hook: blocks.0.hook_resid_post\n  op: add\n  vector: { file: v.safetensors, tensor: v }\n  coef: 4\n');
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(suiteFile, '# placeholder: relative paths resolve from here\n');
  const suite = suiteSchema.parse({
    name: 'engine-stickiness',
    instrument: { id: 'ipip-neo-120', min_coverage: 0 }, // a random-weight model puts ~1e-4 on the options
    fidelity: false,
    personas: [{ id: 'keeper', name: 'Ada', description: 'A lighthouse keeper who distrusts strangers.', target: { O: 2, C: 4, E: 1.5, A: 2, N: 3 } }],
    models: [{ name: 'plain', id: `engine:${model.dir}` }, { name: 'steered', id: `engine:${model.dir}`, interventions: 'steer.yaml' }],
    judges: [{ id: 'self-judge', model: 'plain', repeats: 2, maxTokens: 8 }],
    stickiness: {
      conditions: [
        { id: 'prompted', persona: 'keeper', model: 'plain' },
        { id: 'steered', persona: 'keeper', model: 'steered', default_model: 'plain' },
      ],
      attacks: ['identity-challenge', 'slow-drift'],
      turns: 2,
      conversations: 1,
      max_tokens: 6,
      temperature: 0,
      retention: { inventory: { items_per_domain: 1 }, judge: 'self-judge', activations: { hook: 'blocks.1.hook_resid_post' } },
    },
  });
  const outDir = join(dir, 'out');
  const r = await runSuite(suite, { outDir, suitePath: suiteFile });
  assert.equal(r.counters.errors, 0);
  assert.equal(r.analysis.simulated, false);
  const s = r.analysis.stickiness!;
  assert.deepEqual(s.families, ['identity-challenge', 'slow-drift']);
  assert.equal(s.conditions.length, 2);
  assert.ok(s.comparisons.some((c) => c.a === 'prompted' && c.b === 'steered' && c.measure === 'inventory' && c.difference.n === 2));

  const db = new Database(join(outDir, 'persona-probe.sqlite'), { readonly: true });
  const rows = db.prepare('SELECT t.task_key AS k, c.kind AS kind, c.request_json AS q, c.response_json AS r, c.backend AS b FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ?').all(r.runId) as { k: string; kind: string; q: string; r: string; b: string }[];
  db.close();
  const byKey = new Map(rows.map((x) => [x.k, x]));
  // Judgments the analysis counts as failures are exactly the stored judge replies without a readable score.
  for (const c of s.conditions) {
    const judged = rows.filter((x) => x.k.startsWith(`st|${c.id}|`) && x.k.includes('|judge|r'));
    assert.equal(c.judge!.judgments, judged.length);
    assert.equal(c.judge!.failures, judged.filter((x) => !/SCORE:\s*\d/i.test((JSON.parse(x.r) as { text: string }).text)).length);
    // The judge runs at temperature 0 on a deterministic engine: its 2 repeats would be one request
    // answered identically, so each judgment is asked once and no spread across repeats is claimed.
    assert.equal(c.judge!.judgments, 2 * 3, 'families x turns, one judgment each');
    assert.equal(c.judge!.repeats, 1);
    assert.ok(Number.isNaN(c.judge!.meanRepeatSd));
    assert.match(c.judge!.note ?? '', /temperature 0: its 2 repeats would be identical/);
  }
  // 2 conditions x 2 families x 3 turns, plus the default reference's opening.
  const replies = rows.filter((x) => x.k.endsWith('|reply'));
  assert.equal(replies.length, 2 * 2 * 3 + 1);
  const acts = rows.filter((x) => x.kind === 'activations');
  assert.equal(acts.length, replies.length, 'one activation read per reply');
  assert.ok(rows.some((x) => x.k.startsWith('st|steered|') && x.b.includes('+interventions:')), 'the steered condition runs on the steered backend');
  // Forking: no item ever enters the conversation; each item request is the conversation so far plus the item.
  for (const reply of replies) assert.ok(!reply.q.includes('How accurately does this statement describe you?'), reply.k);
  const conv = 'st|prompted|slow-drift|c0|t2';
  const replyReq = JSON.parse(byKey.get(`${conv}|reply`)!.q) as { messages: ChatMessage[] };
  const replyText = (JSON.parse(byKey.get(`${conv}|reply`)!.r) as { text: string }).text;
  const items = rows.filter((x) => x.k.startsWith(`${conv}|inv|`));
  assert.equal(items.length, 5);
  for (const it of items) {
    const msgs = (JSON.parse(it.q) as { messages: ChatMessage[] }).messages;
    assert.deepEqual(msgs.slice(0, -1), [...replyReq.messages, { role: 'assistant', content: replyText }]);
    assert.match(msgs[msgs.length - 1]!.content, /How accurately does this statement describe you\?/);
  }
  // The stored activation is the mean of blocks.1.hook_resid_post over the reply's tokens, recomputed directly.
  const storedResponse = JSON.parse(byKey.get(`${conv}|acts`)!.r) as { tokens: number };
  const stored = { tokens: storedResponse.tokens, mean: storedMean(storedResponse, 'blocks.1.hook_resid_post')! };
  await withEngine(model.dir, async (engine) => {
    const prompt = engine.tokenizer.chatIds(replyReq.messages);
    const reply = engine.tokenizer.encode(replyText);
    assert.equal(stored.tokens, reply.length);
    const f = await engine.forward([...prompt, ...reply], { hooks: ['blocks.1.hook_resid_post'] });
    const rowsH = f.hooks.get('blocks.1.hook_resid_post')!;
    for (let i = 0; i < d; i += 7) {
      let sum = 0;
      for (let t = prompt.length; t < prompt.length + reply.length; t++) sum += rowsH[t * d + i]!;
      assert.ok(Math.abs(stored.mean[i]! - sum / reply.length) < 1e-4);
    }
  });
  // The activation retention is the projection on (persona turn-0 mean - default mean), recomputed from the stored vectors.
  const prompted = s.conditions.find((c) => c.id === 'prompted')!;
  const actMeasure = prompted.measures.find((m) => m.measure === 'activations');
  assert.ok(actMeasure, 'activation projection was computed');
  const vec = (k: string) => [...storedMean(JSON.parse(byKey.get(k)!.r), 'blocks.1.hook_resid_post')!];
  const p0 = ['identity-challenge', 'slow-drift'].map((f) => vec(`st|prompted|${f}|c0|t0|acts`));
  const def = vec('st|default|plain|c0|t0|acts');
  const dir0 = p0[0]!.map((x, i) => (x + p0[1]![i]!) / 2 - def[i]!);
  const n = Math.hypot(...dir0);
  const proj = (v: number[]) => v.reduce((sum, x, i) => sum + (x * dir0[i]!) / n, 0);
  const expected = [0, 1, 2].map((t) => Math.min(1, Math.max(0, (proj(vec(`${conv.slice(0, -3)}|t${t}|acts`)) - proj(def)) / (proj(vec(`${conv.slice(0, -3)}|t0|acts`)) - proj(def)))));
  const curve = actMeasure.byFamily.find((f) => f.family === 'slow-drift')!.curve.map((p) => p.mean);
  expected.forEach((e, t) => assert.ok(Math.abs(curve[t]! - e) < 1e-9, `turn ${t}: ${curve[t]} vs ${e}`));

  // A persona-vector file as the retention direction: the same stored activations, projected on that vector.
  const pv = Float32Array.from({ length: d }, (_, i) => Math.sin(i / 3));
  writeVectorFile(join(dir, 'trait.safetensors'), { layers: new Map([[1, pv]]), metadata: { trait: 't' } });
  const withVector = suiteSchema.parse({ ...suite, stickiness: { ...suite.stickiness, retention: { ...suite.stickiness!.retention, activations: { hook: 'blocks.1.hook_resid_post', vector: 'trait.safetensors' } } } });
  const r2 = await runSuite(withVector, { outDir, suitePath: suiteFile });
  const projV = (vv: number[]) => vv.reduce((sum, x, i) => sum + (x * pv[i]!) / Math.hypot(...pv), 0);
  const expectedV = [0, 1, 2].map((t) => Math.min(1, Math.max(0, (projV(vec(`${conv.slice(0, -3)}|t${t}|acts`)) - projV(def)) / (projV(vec(`${conv.slice(0, -3)}|t0|acts`)) - projV(def)))));
  const curveV = r2.analysis.stickiness!.conditions.find((c) => c.id === 'prompted')!.measures.find((m) => m.measure === 'activations')!.byFamily.find((f) => f.family === 'slow-drift')!.curve.map((p) => p.mean);
  expectedV.forEach((e, t) => assert.ok(Math.abs(curveV[t]! - e) < 1e-9, `vector direction, turn ${t}: ${curveV[t]} vs ${e}`));
  assert.equal(r2.counters.calls, 0, 'the same calls, served from the store');
});

test('a random-weight model never adopts the persona: adoption near 0 with a "not adopted" verdict and a realization index of 0 (not "nothing lost")', async () => {
  const config = familyConfig('llama', { layers: 2 });
  const model = makeModel(config, { sharpness: 1 });
  const suite = suiteSchema.parse({
    name: 'never-adopted',
    instrument: { id: 'ipip-neo-120', min_coverage: 0 }, // a random-weight model puts ~1e-4 on the options
    fidelity: false,
    personas: [{ id: 'keeper', name: 'Ada', description: 'A lighthouse keeper who distrusts strangers.', target: { O: 1.5, C: 4.5, E: 1, A: 1.5, N: 4.5 } }],
    models: [`engine:${model.dir}`],
    stickiness: {
      conditions: [{ id: 'prompted', persona: 'keeper' }],
      attacks: ['identity-challenge', 'slow-drift'],
      turns: 2,
      conversations: 3,
      max_tokens: 6,
      temperature: 0,
      retention: { inventory: { items_per_domain: 4 } },
    },
  });
  const r = await runSuite(suite, { outDir: tempDir() });
  assert.equal(r.counters.errors, 0);
  const m = r.analysis.stickiness!.conditions[0]!.measures.find((x) => x.measure === 'inventory')!;
  console.log(`# random-weight model: adoption ${m.adoption!.value.toFixed(3)} [${m.adoption!.lo.toFixed(3)}, ${m.adoption!.hi.toFixed(3)}], verdict ${m.adoption!.verdict}, realization ${m.realization.value.toFixed(3)}`);
  assert.equal(m.adoption!.verdict, 'not adopted');
  assert.equal(m.adoption!.notAdopted, 6);
  assert.equal(m.realization.value, 0, 'a persona never taken on is not realized');
  const [verdict] = r.analysis.verdicts;
  assert.equal(r.analysis.verdicts.length, 1);
  assert.equal(verdict!.adopted, 'not adopted');
  assert.equal(verdict!.realized, 'not adopted');
  assert.match(verdict!.line, /^keeper · engine:.* · system-prompt: not adopted \(-0\.00 \[-0\.00, -0\.00\] of the way from the default to the target; the rule: interval below 0\.25\); not realized: never adopted$/);
});
