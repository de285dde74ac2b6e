import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { heldOutQuestions, monitorTranscript, saveVectors, NEUTRAL_TEXT } from '../src/probes/vectors.js';
import { extractVectors, sweepSteering } from '../src/commands/vectors.js';
import { shortInventory } from '../src/probes/dialogue.js';
import { getInstrument } from '../src/instruments/index.js';
import { profileOf, scoreAnswers } from '../src/instruments/scoring.js';

import { loadTraitFile, resolveTrait } from '../src/probes/traits.js';
import { readVectorFile, readControlVector, writeControlVector } from '../src/engine/formats/vector-files.js';
import { GgmlType, GgufType, readGguf } from '../src/engine/formats/gguf.js';
import { storedMean, type ChatMessage } from '../src/backends/types.js';
import { EngineBackend } from '../src/backends/engine.js';
import { addIntervention } from '../src/engine/interventions.js';
import { projections } from '../src/metrics/vectors.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { cli, tempDir } from './helpers.js';
import { topEigenvector } from './linalg.js';

const config = familyConfig('qwen2', { layers: 3 });
const model = makeModel(config);
const d = config.hidden_size;

function writeTrait(dir: string): string {
  const file = join(dir, 'brisk.yaml');
  const questions = Array.from({ length: 20 }, (_, i) => `  - "Question number ${i + 1}, what do you think about item ${i * 7}?"`).join('\n');
  writeFileSync(file, `version: 1\nid: brisk\nname: Brisk\ndescription: short, clipped answers\npairs:\n${[1, 2, 3, 4, 5].map((i) => `  - { positive: "Be brisk, variant ${i}.", negative: "Be expansive and warm, variant ${i}." }`).join('\n')}\nquestions:\n${questions}\nrubric: "How brisk? 0 = not at all, 100 = extremely."\n`);
  return file;
}

test('vectors extract: per layer, the stored vector is the difference of means of the captured activations; separation, PCA (vs an SVD) and resume all check out', async () => {
  const dir = tempDir();
  const trait = loadTraitFile(writeTrait(dir))[0]!;
  const store = join(dir, 'store');
  const r = await extractVectors({ outDir: store, model: `engine:${model.dir}`, trait, pca: true, maxTokens: 6, seed: 3 });
  assert.equal(r.counters.errors, 0);
  assert.deepEqual(r.layers.map((l) => l.layer), [0, 1, 2]);
  assert.equal(r.counts.answers + r.counts.missing, 5 * 20 * 2);
  const held = heldOutQuestions(20, 0.25, 3);
  assert.equal(held.size, 5);

  // Recompute everything from the stored activations, independently of computeVectors.
  const db = new Database(join(store, 'persona-probe.sqlite'), { readonly: true });
  const rows = db.prepare("SELECT t.task_key AS k, c.response_json AS r FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ? AND t.task_key LIKE '%|acts'").all(r.runId) as { k: string; r: string }[];
  db.close();
  const acts = rows.map((x) => {
    const [, p, q, sign] = /^vx\|p(\d+)\|q(\d+)\|(pos|neg)\|acts$/.exec(x.k)!;
    return { pair: Number(p), question: Number(q), sign, response: JSON.parse(x.r) as unknown };
  });
  assert.equal(acts.length, r.counts.answers);
  for (const layer of [0, 1, 2]) {
    const hook = `blocks.${layer}.hook_resid_post`;
    const meanOf = (sign: string, heldOut: boolean) => {
      const xs = acts.filter((a) => a.sign === sign && held.has(a.question) === heldOut).map((a) => storedMean(a.response, hook)!);
      return Array.from({ length: d }, (_, i) => xs.reduce((s, x) => s + x[i]!, 0) / xs.length);
    };
    const diff = meanOf('pos', false).map((x, i) => x - meanOf('neg', false)[i]!);
    const stored = r.vectors.get(layer)!;
    for (let i = 0; i < d; i++) assert.ok(Math.abs(stored[i]! - diff[i]!) <= 1e-5 * (1 + Math.abs(diff[i]!)), `layer ${layer} [${i}]`);
    // Separation: Cohen's d of the held-out answers' projections on the unit vector.
    const n = Math.hypot(...diff);
    const proj = (sign: string) => acts.filter((a) => a.sign === sign && held.has(a.question)).map((a) => [...storedMean(a.response, hook)!].reduce((s, x, i) => s + (x * diff[i]!) / n, 0));
    // Cohen's d written out: difference of means over the pooled SD.
    const [pp, pn] = [proj('pos'), proj('neg')];
    const avg = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    const ss = (xs: number[]) => xs.reduce((s, x) => s + (x - avg(xs)) ** 2, 0);
    const dDirect = (avg(pp) - avg(pn)) / Math.sqrt((ss(pp) + ss(pn)) / (pp.length + pn.length - 2));
    assert.ok(Math.abs(r.layers[layer]!.separation - dDirect) < 1e-6);
    // PCA: the top right-singular vector of the centred paired differences, up to sign.
    const pairs = acts.filter((a) => a.sign === 'pos' && !held.has(a.question)).flatMap((a) => {
      const neg = acts.find((b) => b.sign === 'neg' && b.pair === a.pair && b.question === a.question);
      return neg ? [[...storedMean(a.response, hook)!].map((x, i) => x - storedMean(neg.response, hook)![i]!)] : [];
    });
    const mean = Array.from({ length: d }, (_, i) => pairs.reduce((s, p) => s + p[i]!, 0) / pairs.length);
    const centred = pairs.map((p) => p.map((x, i) => x - mean[i]!));
    const cov = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => centred.reduce((s, p) => s + p[i]! * p[j]!, 0)));
    const top = topEigenvector(cov);
    const pc = r.pca!.get(layer)!;
    const cos = top.reduce((s, x, i) => s + x * pc[i]!, 0) / (Math.hypot(...top) * Math.hypot(...pc));
    assert.ok(Math.abs(Math.abs(cos) - 1) < 1e-6, `layer ${layer}: |cos| = ${Math.abs(cos)}`);
    assert.ok(pc.reduce((s, x, i) => s + x * diff[i]!, 0) > 0, 'oriented toward the positive side');
  }
  // Recommended: the best-separated layer among those whose separation clears the permutation null.
  for (const l of r.layers) assert.equal(l.clearsNull, l.separation > l.nullD95);
  const clearing = r.layers.filter((l) => l.clearsNull);
  assert.equal(r.recommendedLayer, clearing.length ? clearing.reduce((b, l) => (l.separation > b.separation ? l : b)).layer : null);

  // Saved file round trip, then a resumed extraction makes no call and gives the same vectors.
  const file = join(dir, 'brisk.safetensors');
  saveVectors(file, r);
  const back = readVectorFile(file);
  assert.equal(back.format, 'persona-probe');
  for (const [l, v] of r.vectors) assert.deepEqual([...back.layers.get(l)!], [...v]);
  assert.equal(back.metadata.recommended_layer, String(r.recommendedLayer));
  const again = await extractVectors({ outDir: store, model: `engine:${model.dir}`, trait, pca: true, maxTokens: 6, seed: 3 });
  assert.equal(again.resumed, true);
  assert.equal(again.counters.calls, 0);
  assert.deepEqual([...again.vectors.get(1)!], [...r.vectors.get(1)!]);
});

test('vectors monitor: each turn projection equals the dot product of the turn mean with the unit vector', async () => {
  const v = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1));
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are Brisk.' },
    { role: 'user', content: 'Hello there.' },
    { role: 'assistant', content: 'Hi. What?' },
    { role: 'user', content: 'Tell me about your day.' },
    { role: 'assistant', content: 'Long. Boring. Done.' },
  ];
  const backend = await EngineBackend.create({ model: model.dir });
  const rows = await monitorTranscript(backend, messages, [{ name: 'brisk', layer: 2, vector: v }]);
  assert.deepEqual(rows.map((r) => [r.turn, r.message]), [[0, 2], [1, 4]]);
  await withEngine(model.dir, async (engine) => {
    for (const row of rows) {
      const prompt = engine.tokenizer.chatIds(messages.slice(0, row.message));
      const reply = engine.tokenizer.encode(messages[row.message]!.content);
      const f = await engine.forward([...prompt, ...reply], { hooks: ['blocks.2.hook_resid_post'] });
      const h = f.hooks.get('blocks.2.hook_resid_post')!;
      const mean = Array.from({ length: d }, (_, i) => {
        let s = 0;
        for (let t = prompt.length; t < prompt.length + reply.length; t++) s += h[t * d + i]!;
        return s / reply.length;
      });
      assert.ok(Math.abs(row.projection - projections([mean], [...v])[0]!) < 1e-4);
    }
  });
  const file = join(tempDir(), 'conv.json');
  writeFileSync(file, JSON.stringify(messages));
  const vfile = join(tempDir(), 'v.safetensors');
  saveVectors(vfile, { runId: 'x', resumed: false, trait: 'brisk', model: 'm', layers: [{ layer: 2, norm: 1, separation: 1, nullD95: 0.5, nullP: 0.01, clearsNull: true }], recommendedLayer: 2, vectors: new Map([[2, v]]), counts: { answers: 0, kept: { positive: 0, negative: 0 }, heldOut: { positive: 0, negative: 0 }, judgeFailures: 0, missing: 0 }, counters: { done: 0, total: 0, calls: 0, cacheHits: 0, errors: 0, retries: 0 }, parts: [] });
  const html = join(tempDir(), 'm.html');
  const c = cli(['vectors', 'monitor', '--model', model.dir, '--vectors', vfile, '--transcript', file, '--html', html]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /brisk@2/);
  const bad = cli(['vectors', 'monitor', '--model', model.dir, '--vectors', vfile, '--transcript', file, '--layer', '7']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no vector for layer 7 \(has 2\)/);
});

test('llama.cpp control vectors: export field by field, round trip of every value, layer 0 left out, and a file written by hand imports', () => {
  const dir = tempDir();
  const layers = new Map([0, 1, 2, 3].map((l) => [l, Float32Array.from({ length: 8 }, (_, i) => (l + 1) * 0.25 + i / 7)]));
  const out = join(dir, 'cv.gguf');
  const { written, skipped } = writeControlVector(out, layers, 'qwen2');
  assert.deepEqual([written, skipped], [[1, 2, 3], [0]]);
  const g = readGguf(out);
  assert.equal(g.version, 3);
  assert.equal(g.metadata.get('general.architecture'), 'controlvector');
  assert.equal(g.metadataTypes.get('general.architecture')!.type, GgufType.STRING);
  assert.equal(g.metadata.get('controlvector.model_hint'), 'qwen2');
  assert.equal(g.metadataTypes.get('controlvector.model_hint')!.type, GgufType.STRING);
  assert.equal(g.metadata.get('controlvector.layer_count'), 3);
  assert.equal(g.metadataTypes.get('controlvector.layer_count')!.type, GgufType.INT32);
  assert.deepEqual(g.tensors.map((t) => [t.name, t.dims, t.type]), [1, 2, 3].map((l) => [`direction.${l}`, [8], GgmlType.F32]));
  const back = readControlVector(out);
  for (const l of [1, 2, 3]) assert.deepEqual([...back.layers.get(l)!], [...layers.get(l)!], 'every value preserved');

  // A control vector laid out byte by byte as llama.cpp's gguf writer does (not by our writer).
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([len, b]);
  };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
  const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
  const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
  const kv = Buffer.concat([str('general.architecture'), u32(8), str('controlvector'), str('controlvector.model_hint'), u32(8), str('llama'), str('controlvector.layer_count'), u32(5), i32(2)]);
  const infos = Buffer.concat([1, 2].map((l, k) => Buffer.concat([str(`direction.${l}`), u32(1), u64(3), u32(0), u64(k * 32)])));
  const head = Buffer.concat([Buffer.from('GGUF'), u32(3), u64(2), u64(3), kv, infos]);
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((32 - (b.length % 32)) % 32)]);
  const data = [new Float32Array([1, 2, 3]), new Float32Array([-4, 5.5, 6])].map((a) => pad(Buffer.from(a.buffer)));
  const foreign = join(dir, 'foreign.gguf');
  writeFileSync(foreign, Buffer.concat([pad(head), ...data]));
  // repeng's export_gguf writes the same tensors with controlvector.layer_count as uint32.
  const repeng = join(dir, 'repeng.gguf');
  const kvU32 = Buffer.concat([str('general.architecture'), u32(8), str('controlvector'), str('controlvector.model_hint'), u32(8), str('mistral'), str('controlvector.layer_count'), u32(4), u32(2)]);
  writeFileSync(repeng, Buffer.concat([pad(Buffer.concat([Buffer.from('GGUF'), u32(3), u64(2), u64(3), kvU32, infos])), ...data]));
  const fromRepeng = readVectorFile(repeng);
  assert.deepEqual([fromRepeng.metadata.model_hint, fromRepeng.metadata.layer_count], ['mistral', '2']);
  assert.deepEqual([...fromRepeng.layers.get(1)!], [1, 2, 3]);
  const imported = readVectorFile(foreign);
  assert.equal(imported.format, 'llama.cpp');
  assert.equal(imported.metadata.model_hint, 'llama');
  assert.deepEqual([...imported.layers.get(2)!], [-4, 5.5, 6]);
  const sf = join(dir, 'imported.safetensors');
  const r = cli(['vectors', 'import', '--from', foreign, '--out', sf]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual([...readVectorFile(sf).layers.get(1)!], [1, 2, 3]);
});

test('direction.N is the output of block N: as an add at blocks.N.hook_resid_post it moves that hook by v and leaves the block input and its attention half untouched', async () => {
  const v = Float32Array.from({ length: d }, (_, i) => Math.cos(i));
  const cv = join(tempDir(), 'one.gguf');
  writeControlVector(cv, new Map([[1, v]]), 'qwen2');
  const imported = readVectorFile(cv);
  const [layer, vector] = [...imported.layers][0]!;
  assert.equal(layer, 1);
  await withEngine(model.dir, async (engine) => {
    const ids = engine.tokenizer.encode('The keeper of the lighthouse');
    const hooks = ['blocks.1.hook_resid_pre', 'blocks.1.hook_resid_mid', 'blocks.1.hook_resid_post', 'blocks.2.hook_resid_pre'];
    const plain = await engine.forward(ids, { hooks });
    const steered = await engine.forward(ids, { hooks, interventions: [addIntervention(`blocks.${layer}.hook_resid_post`, vector, 1)] });
    assert.deepEqual(steered.hooks.get('blocks.1.hook_resid_pre'), plain.hooks.get('blocks.1.hook_resid_pre'));
    assert.deepEqual(steered.hooks.get('blocks.1.hook_resid_mid'), plain.hooks.get('blocks.1.hook_resid_mid'));
    const a = plain.hooks.get('blocks.1.hook_resid_post')!;
    const b = steered.hooks.get('blocks.1.hook_resid_post')!;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(b[i]! - a[i]! - v[i % d]!) < 1e-5);
    // The next block's input is that output: what llama.cpp's direction.1 feeds into block 2.
    assert.deepEqual(steered.hooks.get('blocks.2.hook_resid_pre'), b);
  });
});

test('vectors sweep: coefficient 0 is the unsteered model; steering moves the inventory; perplexity of the neutral text is the direct computation; runs re-render with report', async () => {
  const dir = tempDir();
  const store = join(dir, 'store');
  const vfile = join(dir, 'v.safetensors');
  const v = Float32Array.from({ length: d }, (_, i) => Math.cos(i * 1.3));
  saveVectors(vfile, { runId: 'x', resumed: false, trait: 'wave', model: 'm', layers: [{ layer: 1, norm: 1, separation: 1, nullD95: 0.5, nullP: 0.01, clearsNull: true }], recommendedLayer: 1, vectors: new Map([[1, v]]), counts: { answers: 0, kept: { positive: 0, negative: 0 }, heldOut: { positive: 0, negative: 0 }, judgeFailures: 0, missing: 0 }, counters: { done: 0, total: 0, calls: 0, cacheHits: 0, errors: 0, retries: 0 }, parts: [] });
  const r = await sweepSteering({ outDir: store, model: model.dir, vectorsFile: vfile, coefs: [-20, 0, 20], itemsPerDomain: 2 });
  assert.equal(r.rows.length, 3);
  const zero = r.rows.find((x) => x.coef === 0)!;
  // Coefficient 0 is the plain engine: the same option probabilities give the same scores (to float
  // rounding: the sweep's requests in flight together run packed, these one at a time).
  const engineBackend = await EngineBackend.create({ model: model.dir });
  const items = shortInventory(getInstrument('ipip-neo-120'), 2);
  const { itemPrompt, OPTION_DIGITS, DEFAULT_VARIANTS } = await import('../src/probes/fidelity.js');
  const answers: Record<string, number> = {};
  for (const it of items) {
    const p = await engineBackend.optionProbs({ messages: [{ role: 'user', content: itemPrompt(it, getInstrument('ipip-neo-120').options, DEFAULT_VARIANTS[0]!) }], options: OPTION_DIGITS });
    answers[it.id] = p.probs.reduce((s, x, i) => s + x * (i + 1), 0);
  }
  const direct = profileOf(scoreAnswers(getInstrument('ipip-neo-120'), answers));
  for (const dm of ['O', 'C', 'E', 'A', 'N'] as const) assert.ok(Math.abs(zero.inventory[dm] - direct[dm]) < 1e-5, `${dm}: ${zero.inventory[dm]} against ${direct[dm]}`);
  const moved = r.rows.filter((x) => x.coef !== 0).some((x) => (['O', 'C', 'E', 'A', 'N'] as const).some((dm) => Math.abs(x.inventory[dm] - zero.inventory[dm]) > 1e-3));
  assert.ok(moved, 'steering changes the answers');
  // Perplexity at 0 from a direct forward pass.
  await withEngine(model.dir, async (engine) => {
    const ids = engine.tokenizer.encode(NEUTRAL_TEXT);
    const f = await engine.forward(ids, { logits: 'all' });
    const V = engine.spec.vocab;
    let nll = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = f.logits.subarray(t * V, (t + 1) * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      nll -= row[ids[t + 1]!]! - lse;
    }
    assert.ok(Math.abs(Math.log(zero.perplexity) - nll / (ids.length - 1)) < 1e-4);
  });
  const rep = cli(['report', r.runId, '--out', store]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, /report: .*report\.html/);
  // The viewer lists the sweep run and shows its page: one steering-effect line per layer in each measure's panel.
  const { startViewer } = await import('../src/viewer/server.js');
  const viewer = await startViewer({ dir: store });
  try {
    const list = await (await fetch(viewer.url)).text();
    assert.match(list, new RegExp(`${r.runId}[\\s\\S]*steering-sweep`));
    const res = await fetch(`${viewer.url}run/${r.runId}`);
    assert.equal(res.status, 200);
    const page = await res.text();
    const panels = 5 + 1 + (r.rows[0]!.judge ? 1 : 0);
    const layers = new Set(r.rows.map((x) => x.layer)).size;
    const lines = [...page.matchAll(/<g class="mark-line role-mark effect_marks"[^>]*>(.*?)<\/g>/g)].reduce((n, m) => n + (m[1]!.match(/<path/g) ?? []).length, 0);
    assert.equal(lines, panels * layers);
    // The page names what was steered, and its axes read as plain numbers (no SI prefixes such as 20E).
    assert.match(page, new RegExp(`Model <code>[^<]*</code>, vector file <code>${vfile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</code>, layer 1 \\(blocks\\.L\\.hook_resid_post\\)`));
    assert.match(page, /log10 perplexity of neutral text/);
    assert.doesNotMatch(page, /<text[^>]*>-?[\d.]+[kMGTPE]<\/text>/, 'no SI-prefixed tick labels');
  } finally {
    await viewer.close();
  }
});

test('computeVectors with a judge: positive answers need a score at or above the threshold, negative ones below; unparsable judgments are counted and dropped', async () => {
  const trait = { id: 't', name: 'T', description: 'd', pairs: [{ positive: 'p', negative: 'n' }], questions: Array.from({ length: 4 }, (_, i) => `q${i}`), rubric: 'r', source: 'x' };
  const { encodeF32 } = await import('../src/util/f32.js');
  const { computeVectors } = await import('../src/probes/vectors.js');
  const responses = new Map<string, unknown>();
  const put = (q: number, sign: 'pos' | 'neg', vec: number[], judge: string) => {
    responses.set(`vx|p0|q${q}|${sign}|acts`, { means: { 'blocks.0.hook_resid_post': encodeF32(vec) }, tokens: 3 });
    responses.set(`vx|p0|q${q}|${sign}|judge`, { text: judge });
  };
  // Scores: q0 pos 80 (kept), q1 pos 30 (dropped: does not express), q2 pos garbage (failure), q3 pos 90 (kept)
  //         q0 neg 10 (kept), q1 neg 70 (dropped: expresses), q2 neg 20 (kept), q3 neg 5 (kept)
  put(0, 'pos', [4, 0], 'SCORE: 80');
  put(1, 'pos', [100, 100], 'SCORE: 30');
  put(2, 'pos', [100, 100], 'no idea');
  put(3, 'pos', [6, 2], 'SCORE: 90');
  put(0, 'neg', [0, 0], 'SCORE: 10');
  put(1, 'neg', [50, 50], 'SCORE: 70');
  put(2, 'neg', [2, 0], 'SCORE: 20');
  put(3, 'neg', [1, 3], 'SCORE: 5');
  // Nothing held out of these four would leave no training data, so hold out by a share that rounds to one question.
  const held = heldOutQuestions(4, 0.01, 1);
  const r = computeVectors(trait, responses, { threshold: 50, pca: false, heldOut: 0.01, seed: 1, judged: true });
  assert.equal(r.counts.judgeFailures, 1);
  assert.deepEqual(r.counts.kept, { positive: 2, negative: 3 });
  const keptPos = [[4, 0], [6, 2]].filter((_, i) => !held.has([0, 3][i]!));
  const keptNeg = [[0, 0], [2, 0], [1, 3]].filter((_, i) => !held.has([0, 2, 3][i]!));
  const mean = (xs: number[][]) => [0, 1].map((j) => xs.reduce((s, x) => s + x[j]!, 0) / xs.length);
  const expected = mean(keptPos).map((x, j) => x - mean(keptNeg)[j]!);
  assert.deepEqual([...r.vectors.get(0)!].map((x) => Math.round(x * 1e6) / 1e6), expected.map((x) => Math.round(x * 1e6) / 1e6));
});

test('vectors extract --generate-with sim: is labelled a simulation in its run, its console output, its vector file, its report and the viewer', async () => {
  const dir = tempDir();
  const traitFile = writeTrait(dir);
  const store = join(dir, 'store');
  const out = join(dir, 'sim.safetensors');
  const r = cli(['vectors', 'extract', '--model', `engine:${model.dir}`, '--trait', traitFile, '--generate-with', 'sim:', '--out', out, '--max-tokens', '4', '--dir', store]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /SIMULATION: the generator \(sim:[^)]*\) is the simulated panel, not a language model/);
  assert.match(readVectorFile(out).metadata.simulated ?? '', /generator sim:/);
  const listed = cli(['vectors', 'list', out]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /persona-probe vectors, 3 layer\(s\), width 64/);
  assert.match(listed.stdout, /simulated: yes: generator sim:/);
  assert.match(listed.stdout, /blocks\.2\.hook_resid_post {2}\|v\| \d/);
  const runs = cli(['runs', '--dir', store]);
  assert.match(runs.stdout, /vectors:brisk .*\[simulation\]/);
  const runId = runs.stdout.split(' ')[0]!;
  const html = join(dir, 'page.html');
  assert.equal(cli(['report', runId, '--dir', store, '--out', html]).code, 0);
  assert.match(readFileSync(html, 'utf8'), /<strong>SIMULATION<\/strong>: the generator \(<code>sim:[^<]*<\/code>\) is the simulated panel/);
  // Without the simulation nothing says so.
  const real = await extractVectors({ outDir: join(dir, 'real'), model: `engine:${model.dir}`, trait: loadTraitFile(traitFile)[0]!, maxTokens: 4 });
  assert.ok(real.parts.every((p) => !p.simulated));
  const { startViewer } = await import('../src/viewer/server.js');
  const viewer = await startViewer({ dir });
  try {
    const list = await (await fetch(viewer.url)).text();
    const simRow = list.split('<tr>').find((row) => row.includes(runId))!;
    assert.match(simRow, /class="tag">simulation/);
    const realRow = list.split('<tr>').find((row) => row.includes(real.runId))!;
    assert.doesNotMatch(realRow, /simulation/);
    assert.match(await (await fetch(`${viewer.url}run/${runId}?in=store`)).text(), /<strong>SIMULATION<\/strong>/);
  } finally {
    await viewer.close();
  }
});

test('separation null: with no planted difference a layer clears the null about 5% of the time; a planted shift clears it and is the recommended layer', async () => {
  const { computeVectors } = await import('../src/probes/vectors.js');
  const { encodeF32 } = await import('../src/util/f32.js');
  const { createRng } = await import('../src/util/rng.js');
  const trait = loadTraitFile(writeTrait(tempDir()))[0]!;
  const width = 48;
  /** Stored activations for every (pair, question, sign); layer 1 shifts positive answers by `shift` along a planted direction. */
  const responses = (seed: number, shift: number) => {
    const rng = createRng(seed);
    const planted = Array.from({ length: width }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const scale = Math.hypot(...planted);
    const map = new Map<string, unknown>();
    trait.pairs.forEach((_, p) => trait.questions.forEach((__, q) => (['pos', 'neg'] as const).forEach((sign) => {
      const means: Record<string, string> = {};
      for (const layer of [0, 1, 2]) {
        const v = Array.from({ length: width }, (_, i) => rng.normal() + (layer === 1 && sign === 'pos' ? (shift * planted[i]!) / scale : 0));
        means[`blocks.${layer}.hook_resid_post`] = encodeF32(v);
      }
      map.set(`vx|p${p}|q${q}|${sign}|acts`, { means, tokens: 5 });
    })));
    return map;
  };
  const opts = { threshold: 50, pca: false, heldOut: 0.25, seed: 1, judged: false };
  // No planted difference: over 30 datasets, the layers that clear the null are near the nominal 5%.
  let cleared = 0;
  let layers = 0;
  for (let s = 0; s < 30; s++) {
    const r = computeVectors(trait, responses(100 + s, 0), opts);
    for (const l of r.layers) {
      layers++;
      if (l.clearsNull) cleared++;
    }
  }
  assert.ok(cleared / layers <= 0.12, `${cleared} of ${layers} null layers cleared the null`);
  // A planted shift of one standard deviation at layer 1 only: it clears, and it is the recommended layer.
  const planted = computeVectors(trait, responses(7, 1), opts);
  assert.equal(planted.layers[1]!.clearsNull, true);
  assert.ok(planted.layers[1]!.nullP < 0.01);
  assert.equal(planted.layers[1]!.instructionP, 1 / 16, 'every pair carries the shift: the true assignment beats all 15 others');
  assert.equal(planted.recommendedLayer, 1);
});

test('a random-weight model: its persona vectors separate the answers (the instructions are different text) yet clear no null with the sides swapped pair by pair, so no layer is recommended', async (t) => {
  const { INSTRUCTION_ALPHA } = await import('../src/metrics/vectors.js');
  let rowNullCleared = 0;
  for (const family of ['llama', 'qwen2'] as const) {
    const { dir } = makeModel(familyConfig(family, { layers: 3 }), { seed: 1 });
    for (const trait of ['extraversion-high', 'humor']) {
      const r = await extractVectors({ outDir: join(tempDir(), 'store'), model: `engine:${dir}`, trait: resolveTrait(trait), maxTokens: 8, seed: 3 });
      t.diagnostic(`${family} ${trait}: ${r.layers.map((l) => `layer ${l.layer} d ${l.separation.toFixed(2)} (answers shuffled 95% ${l.nullD95.toFixed(2)}; pairs swapped p ${l.instructionP!.toFixed(3)})`).join('; ')}`);
      for (const l of r.layers) {
        if (l.separation > l.nullD95) rowNullCleared++;
        assert.ok(l.instructionP! > INSTRUCTION_ALPHA, `${family} ${trait} layer ${l.layer}: p ${l.instructionP}`);
        assert.equal(l.clearsNull, false);
      }
      assert.equal(r.recommendedLayer, null);
      const out = join(tempDir(), 'v.safetensors');
      saveVectors(out, r);
      assert.equal(readVectorFile(out).metadata.recommended_layer, undefined, 'no layer recommended in the file');
    }
  }
  // Why the pair-level null is needed: shuffling answers alone is cleared by most of these layers.
  assert.ok(rowNullCleared >= 6, `${rowNullCleared} of 12 layers clear the answer-shuffling null`);
});

test('vectors extract alternates generation and capture without rebuilding a graph for each: generation runs on the capture graph', async (t) => {
  const { dir } = makeModel({ ...familyConfig('llama', { layers: 2 }), tie_word_embeddings: false }, { seed: 1 });
  await extractVectors({ outDir: join(tempDir(), 'store'), model: `engine:${dir}`, trait: resolveTrait('humor'), maxTokens: 8, seed: 3 });
  // The backend registry shares one engine per model: read how many graphs it built.
  const backend = await EngineBackend.create({ model: dir });
  const built = (backend as unknown as { engine: { sessionsBuilt: number } }).engine.sessionsBuilt;
  t.diagnostic(`graphs built for 200 answers and their activations: ${built}`);
  assert.ok(built <= 2, `${built} graphs built`);
});

test('vectors export --format pytorch: the named layers, the coefficient and the convention for a trainer, vectors unchanged; bad combinations are one line', async () => {
  const { writeVectorFile } = await import('../src/engine/formats/vector-files.js');
  const { readSafetensorsHeader, readTensorF32 } = await import('../src/engine/formats/safetensors.js');
  const dir = tempDir();
  const src = join(dir, 'v.safetensors');
  const v1 = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i));
  const v2 = Float32Array.from({ length: 16 }, (_, i) => Math.cos(i));
  writeVectorFile(src, { layers: new Map([[1, v1], [2, v2]]), metadata: { trait: 'wave', recommended_layer: '2' } });
  const out = join(dir, 'train.safetensors');
  const r = cli(['vectors', 'export', '--vectors', src, '--format', 'pytorch', '--coef=-4', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const header = readSafetensorsHeader(out);
  assert.deepEqual([...header.tensors.keys()], ['model.layers.2'], 'the recommended layer, named after its decoder module');
  assert.deepEqual(readTensorF32(header, 'model.layers.2').data, v2);
  assert.equal(header.metadata.coef, '-4');
  assert.match(header.metadata.convention ?? '', /hidden_states\[L \+ 1\]/);
  const both = cli(['vectors', 'export', '--vectors', src, '--format', 'pytorch', '--coef', '2', '--layers', '1,2', '--out', out]);
  assert.equal(both.code, 0, both.stderr);
  assert.deepEqual([...readSafetensorsHeader(out).tensors.keys()].sort(), ['model.layers.1', 'model.layers.2']);
  assert.match(cli(['vectors', 'export', '--vectors', src, '--format', 'pytorch', '--out', out]).stderr, /pass --coef X/);
  assert.match(cli(['vectors', 'export', '--vectors', src, '--format', 'llama.cpp', '--coef', '2', '--out', out]).stderr, /--coef and --layers go with --format pytorch/);
  assert.match(cli(['vectors', 'export', '--vectors', src, '--format', 'pytorch', '--coef', '1', '--layers', '7', '--out', out]).stderr, /has no vector for layer 7/);
});

test('vectors extract --preset: an unknown preset and the persona-vectors preset without a judge are one line each; --coherence or --pairwise without a judge too', () => {
  const model = makeModel(familyConfig('llama', { layers: 2 }));
  const base = ['vectors', 'extract', '--model', `engine:${model.dir}`, '--trait', 'extraversion-high', '--out', join(tempDir(), 'v.safetensors'), '--dir', tempDir()];
  const cases: [string[], RegExp][] = [
    [['--preset', 'assistant'], /--preset must be persona-vectors, got "assistant"$/],
    [['--preset', 'persona-vectors'], /the persona-vectors preset filters answers by a judge \(trait and coherence\): pass --judge MODEL$/],
    [['--coherence'], /the coherence filter needs a judge \(--judge MODEL\)$/],
    [['--pairwise'], /pairwise masking needs a judge \(--judge MODEL\)$/],
    [['--rollouts', '0', '--judge', 'sim:'], /--rollouts must be an integer from 1 to 100 \(got 0\)$/],
  ];
  for (const [extra, expected] of cases) {
    const r = cli([...base, ...extra]);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), expected);
  }
});

test('computeVectors with pairwise masking, coherence and rollouts: a pair is kept only when both sides pass both judges; counts say why the rest went', async () => {
  const trait = { id: 't', name: 'T', description: 'd', pairs: [{ positive: 'p', negative: 'n' }], questions: Array.from({ length: 4 }, (_, i) => `q${i}`), rubric: 'r', source: 'x' };
  const { encodeF32 } = await import('../src/util/f32.js');
  const { computeVectors, vectorKey } = await import('../src/probes/vectors.js');
  const responses = new Map<string, unknown>();
  const put = (q: number, r: number, sign: 'pos' | 'neg', vec: number[], score: number, coherence: number) => {
    const key = vectorKey(0, q, sign, r);
    responses.set(`${key}|acts`, { means: { 'blocks.0.hook_resid_post': encodeF32(vec) }, tokens: 3 });
    responses.set(`${key}|judge`, { text: `SCORE: ${score}` });
    responses.set(`${key}|coherence`, { text: `SCORE: ${coherence}` });
  };
  // Rollout 0 of every question passes on both sides. Rollout 1: q0 positive not expressed (pair dropped),
  // q1 negative incoherent (pair dropped), q2 both fail (nothing kept), q3 passes.
  for (let q = 0; q < 4; q++) {
    put(q, 0, 'pos', [4 + q, 0], 80, 90);
    put(q, 0, 'neg', [0, q], 10, 90);
  }
  put(0, 1, 'pos', [100, 100], 20, 90);
  put(0, 1, 'neg', [50, 50], 10, 90);
  put(1, 1, 'pos', [100, 100], 90, 90);
  put(1, 1, 'neg', [50, 50], 10, 20);
  put(2, 1, 'pos', [100, 100], 20, 90);
  put(2, 1, 'neg', [50, 50], 90, 90);
  put(3, 1, 'pos', [8, 1], 70, 60);
  put(3, 1, 'neg', [1, 1], 40, 55);
  const opts = { threshold: 50, pca: false, heldOut: 0.01, seed: 1, judged: true, rollouts: 2, coherence: true };
  const masked = computeVectors(trait, responses, { ...opts, pairwise: true });
  assert.deepEqual(masked.counts.kept, { positive: 5, negative: 5 });
  assert.equal(masked.counts.unpaired, 2);
  assert.equal(masked.counts.incoherent, 1);
  assert.equal(masked.counts.answers, 16);
  // Without masking, each side is filtered on its own: the passing halves of the dropped pairs stay.
  const alone = computeVectors(trait, responses, { ...opts, pairwise: false });
  assert.deepEqual(alone.counts.kept, { positive: 6, negative: 6 });
  // None of the planted outliers (100, 100) or (50, 50) reaches the masked vector.
  const v = masked.vectors.get(0)!;
  assert.ok(Math.abs(v[0]!) < 10 && Math.abs(v[1]!) < 10, `${[...v]}`);
  // PCA pairs each positive answer with the negative one of the same rollout: the differences of the kept
  // training pairs, centred, their top eigenvector.
  const held = heldOutQuestions(4, 0.01, 1);
  const pairs: [number, number[], number[]][] = [0, 1, 2, 3].map((q) => [q, [4 + q, 0], [0, q]]);
  pairs.push([3, [8, 1], [1, 1]]);
  const diffs = pairs.filter(([q]) => !held.has(q)).map(([, p, n]) => [p[0]! - n[0]!, p[1]! - n[1]!]);
  const centre = [0, 1].map((j) => diffs.reduce((a, d) => a + d[j]!, 0) / diffs.length);
  const cov = [0, 1].map((a) => [0, 1].map((b) => diffs.reduce((sum, d) => sum + (d[a]! - centre[a]!) * (d[b]! - centre[b]!), 0)));
  const top = topEigenvector(cov);
  const pc = computeVectors(trait, responses, { ...opts, pairwise: true, pca: true }).pca!.get(0)!;
  const cos = (top[0]! * pc[0]! + top[1]! * pc[1]!) / (Math.hypot(...top) * Math.hypot(...pc));
  assert.ok(Math.abs(Math.abs(cos) - 1) < 1e-6, `PCA of the rollout-paired differences: cos ${cos}`);
});
