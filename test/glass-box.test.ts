// Recovery against truth planted in the weights: glass-box models (src/engine/glass-box.ts)
// run through the real path (chat template -> tokenizer -> engine -> option probabilities
// -> scores -> metrics), with requests that carry text only. The expected values come from
// the planted parameters (glassBoxAnswer, float64), never from the metrics under test.

import { test } from 'node:test';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeGlassBoxModel } from '../src/cli/glass-box.js';
import { GLASS_BOX_DIMS, glassBoxAnswer, type GlassBoxSpec } from '../src/engine/glass-box.js';
import { capIntervention } from '../src/engine/interventions.js';
import { EngineBackend } from '../src/backends/engine.js';
import { saveVectors } from '../src/probes/vectors.js';
import { extractVectors, PERSONA_VECTORS_PRESET, sweepSteering } from '../src/commands/vectors.js';
import { startFakeOpenAI } from './fake-openai-server.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from '../src/engine/formats/safetensors.js';
import { instructionSystem } from '../src/probes/vectors.js';
import { resolveTrait } from '../src/probes/traits.js';
import { ModelTokenizer } from '../src/engine/tokenizer.js';
import { DOMAINS, getInstrument, keyedScore, type Domain } from '../src/instruments/index.js';
import { conditioningMessages } from '../src/probes/conditioning.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../src/probes/fidelity.js';
import { runSuite } from '../src/runner/run.js';
import { methodSchema, suiteSchema, type Suite } from '../src/suite/schema.js';
import type { ChatMessage } from '../src/backends/types.js';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { SMOLLM_DIR, cli, cliAsync, tempDir } from './helpers.js';
import { summaryText } from '../src/cli/summary.js';
import { renderHtml } from '../src/report/html.js';
import { monitorRun } from '../src/commands/drift.js';
import { rankSamples, screenDataset } from '../src/commands/screen.js';
import { writeVectorFile } from '../src/engine/formats/vector-files.js';
import { RunStore } from '../src/store/store.js';
import { storedMechanismPage, vectorsPage } from '../src/report/mechanism-html.js';
import { withEngine } from './engine-helpers.js';

const instrument = getInstrument('ipip-neo-120');

const PERSONAS = [
  { id: 'host', name: 'Dex', description: 'Lives for crowds.', target: { O: 'very high', C: 'low', E: 'very high', A: 'high', N: 'very low' } },
  { id: 'sergeant', name: 'Ilse', description: 'Exacting.', target: { O: 'very low', C: 'very high', E: 'high', A: 'very low', N: 'low' } },
  { id: 'intern', name: 'Theo', description: 'Eager to please.', target: { O: 'neutral', C: 'low', E: 'low', A: 'very high', N: 'very high' } },
];

function fidelitySuite(model: string): Suite {
  return suiteSchema.parse({
    name: 'glass-box',
    instrument: { id: 'ipip-neo-120' },
    personas: PERSONAS,
    methods: [
      { id: 'role-personality', kind: 'role-personality' },
      // A backstory with no trait words: the glass-box model understands trait words only, so nothing is adopted.
      { id: 'backstory', kind: 'system-prompt', template: 'You are {name}. {description}' },
    ],
    baseline: true,
    models: [{ name: 'glass', id: `engine:${model}` }],
  });
}

/** The planted truth of a domain score: the mean keyed expected answer, from the spec and the prompt's tokens. */
function truthScores(spec: GlassBoxSpec, tok: ModelTokenizer, system: ChatMessage[]): Record<Domain, number> {
  const sums = Object.fromEntries(DOMAINS.map((d) => [d, [] as number[]])) as Record<Domain, number[]>;
  for (const item of instrument.items) {
    const ids = tok.chatIds([...system, { role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
    const { probs } = glassBoxAnswer(spec, ids);
    sums[item.domain!].push(keyedScore(item, probs.reduce((s, p, k) => s + p * (k + 1), 0), 5));
  }
  return Object.fromEntries(DOMAINS.map((d) => [d, sums[d].reduce((a, b) => a + b, 0) / sums[d].length])) as Record<Domain, number>;
}

for (const arch of ['llama', 'qwen2'] as const) {
  test(`glass-box ${arch}: the engine's option probabilities are the planted ones, and inventories recover the planted profiles`, async (t) => {
    const dir = join(tempDir('pp-glass-'), 'model');
    const spec = await makeGlassBoxModel(dir, SMOLLM_DIR, { arch });
    const tok = await ModelTokenizer.load(dir, []);

    // 1. The forward pass realises the construction: every option probability to 1e-4.
    await withEngine(dir, async (engine) => {
      let worst = 0;
      const systems: ChatMessage[][] = [[], conditioningMessages(fidelitySuite(dir).personas[1]!, fidelitySuite(dir).methods[0]!)];
      for (const system of systems) {
        for (const item of instrument.items.slice(0, 20)) {
          const ids = tok.chatIds([...system, { role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
          const lp = await engine.nextTokenLogProbs(ids, []);
          const truth = glassBoxAnswer(spec, ids);
          const p = spec.optionTokens.map((t) => Math.exp(lp[t]!));
          const mass = p.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(mass - truth.coverage) < 1e-4, `coverage ${mass} vs ${truth.coverage}`);
          p.forEach((x, k) => (worst = Math.max(worst, Math.abs(x / mass - truth.probs[k]!))));
        }
      }
      assert.ok(worst < 1e-4, `max |p - planted| = ${worst}`);
      t.diagnostic(`max |p - planted| over 40 prompts: ${worst.toExponential(1)}`);
    });

    // 2. A full run: measured domain scores equal the planted truth, personas move each domain
    //    in the direction of their trait words, and the backstory-only method is not adopted.
    const suite = fidelitySuite(dir);
    const r = await runSuite(suite, { outDir: join(dir, '..', 'out') });
    assert.equal(r.counters.errors, 0);
    const model = r.analysis.models![0]!;
    assert.equal(model.simulated, false);
    // Every output names it a constructed model: the analysis, the console summary and the report.
    assert.match(model.constructed ?? '', /glass-box model.*not a language model/);
    assert.deepEqual(r.analysis.roles.map((x) => [x.role, Boolean(x.constructed), x.simulated]), [['model glass', true, false]]);
    assert.match(summaryText(r.analysis), /^CONSTRUCTED MODEL: engine:.* \(model glass\) is a glass-box model/m);
    assert.match(summaryText(r.analysis), /\[constructed model\] · method role-personality/);
    const html = await renderHtml(r.analysis);
    assert.match(html, /<strong>CONSTRUCTED MODEL\.<\/strong>/);
    assert.match(html, /<span class="tag">constructed model<\/span>/);
    const rp = model.methods.find((m) => m.method === 'role-personality')!;
    const baselineTruth = truthScores(spec, tok, []);
    for (const d of DOMAINS) {
      assert.ok(Math.abs(rp.baseline![d]! - baselineTruth[d]) < 1e-3, `baseline ${d}: ${rp.baseline![d]!} vs planted ${baselineTruth[d]}`);
      // The unconditioned default sits on the side of the midpoint its planted level gives.
      assert.equal(Math.sign(rp.baseline![d]! - 3), Math.sign(spec.defaultLevel[d]), `default ${d}`);
    }
    let worstScore = 0;
    for (const persona of suite.personas) {
      const measured = rp.personas.find((p) => p.personaId === persona.id)!;
      const truth = truthScores(spec, tok, conditioningMessages(persona, suite.methods[0]!));
      for (const d of DOMAINS) {
        const m = measured.measured[d]!.value;
        assert.ok(Math.abs(m - truth[d]) < 1e-3, `${persona.id} ${d}: ${m} vs planted ${truth[d]}`);
        worstScore = Math.max(worstScore, Math.abs(m - truth[d]));
        const target = measured.target[d]!;
        if (target === 3) assert.ok(Math.abs(m - rp.baseline![d]!) < 0.1, `${persona.id} ${d}: a neutral target leaves the default (${m} vs ${rp.baseline![d]!})`);
        else assert.equal(Math.sign(m - rp.baseline![d]!), Math.sign(target - 3), `${persona.id} ${d}: moved toward its trait words`);
      }
      assert.ok(measured.adoption!.value > 0.3, `${persona.id} adopted: ${measured.adoption!.value}`);
      assert.equal(measured.coverage!.below, 0);
    }
    t.diagnostic(`max |domain score - planted| ${worstScore.toExponential(1)}; adoption ${rp.personas.map((p) => `${p.personaId} ${p.adoption!.value.toFixed(2)}`).join(', ')}`);
    const backstory = model.methods.find((m) => m.method === 'backstory')!;
    for (const p of backstory.personas) {
      // Only the items with no item word of their own read a backstory's item words ("crowds"): a small, planted shift.
      const truth = truthScores(spec, tok, conditioningMessages(suite.personas.find((x) => x.id === p.personaId)!, suite.methods[1]!));
      for (const d of DOMAINS) assert.ok(Math.abs(p.measured[d]!.value - truth[d]) < 1e-3, `backstory ${p.personaId} ${d}`);
      assert.ok(Math.abs(p.adoption!.value) < 0.15, `${p.personaId}: a backstory without trait words moves next to nothing (${p.adoption!.value})`);
    }
    const verdicts = r.analysis.verdicts.filter((v) => v.method === 'backstory');
    assert.equal(verdicts.length, 3);
    for (const v of verdicts) assert.equal(v.adopted, 'not adopted', JSON.stringify(v));

    // 3. Reverse-keyed items are answered consistently: for each domain a persona moved, plus-keyed
    //    and minus-keyed items (those with planted item words) land on opposite sides of the midpoint.
    const host = suite.personas[0]!;
    const system = conditioningMessages(host, suite.methods[0]!);
    for (const d of ['E', 'N'] as const) {
      const sides = new Set<string>();
      for (const item of instrument.items.filter((i) => i.domain === d)) {
        const ids = tok.chatIds([...system, { role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
        const a = glassBoxAnswer(spec, ids);
        if (!ids.some((id) => spec.itemWords.some((w) => w.token === id && w.domain === d))) continue; // no item word of its own
        const raw = a.probs.reduce((s, p, k) => s + p * (k + 1), 0);
        sides.add(`${item.keyed}:${Math.sign(keyedScore(item, raw, 5) - 3)}`);
      }
      const want = d === 'E' ? 1 : -1;
      assert.deepEqual([...sides].sort(), [`minus:${want}`, `plus:${want}`], `${d}: keyed answers agree`);
    }
  });
}

// A sticky persona (trait words attended with score 20: kept at any context length) and a diluting
// one (score 3: its share of attention falls as the conversation grows), same words, same attacks.
for (const arch of ['llama', 'qwen2'] as const) {
test(`glass-box stickiness (${arch}): the realization index recovers planted dilution, and a sticky persona keeps everything`, async (t) => {
  const root = tempDir('pp-glass-st-');
  const models = { sticky: join(root, 'sticky'), diluting: join(root, 'diluting') };
  const specs = {
    sticky: await makeGlassBoxModel(models.sticky, SMOLLM_DIR, { arch, personaFocus: 20 }),
    diluting: await makeGlassBoxModel(models.diluting, SMOLLM_DIR, { arch, personaFocus: 3 }),
  };
  const tok = await ModelTokenizer.load(models.sticky, []);
  const suite = suiteSchema.parse({
    name: 'glass-box-stickiness',
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas: [PERSONAS[0]],
    methods: [{ id: 'role-personality', kind: 'role-personality' }],
    models: [{ name: 'sticky', id: `engine:${models.sticky}` }, { name: 'diluting', id: `engine:${models.diluting}` }],
    stickiness: {
      conditions: [
        { id: 'sticky', persona: 'host', model: 'sticky', method: 'role-personality' },
        { id: 'diluting', persona: 'host', model: 'diluting', method: 'role-personality' },
      ],
      attacks: ['identity-challenge', 'slow-drift'],
      turns: 6,
      conversations: 1,
      max_tokens: 48,
      temperature: 0,
      retention: { inventory: { items_per_domain: 4 } },
    },
  });
  const outDir = join(root, 'out');
  const r = await runSuite(suite, { outDir });
  assert.equal(r.counters.errors, 0);
  const s = r.analysis.stickiness!;
  const inv = (id: string) => s.conditions.find((c) => c.id === id)!.measures.find((m) => m.measure === 'inventory')!;

  // The planted retention: the persona's share of head A's attention at each turn's forks,
  // relative to turn 0 (P - default is that share times the words' mean direction).
  const db = new Database(join(outDir, 'persona-probe.sqlite'), { readonly: true });
  const rows = db.prepare('SELECT t.task_key AS k, c.request_json AS q FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ?').all(r.runId) as { k: string; q: string }[];
  db.close();
  const plantedIndex = (condition: 'sticky' | 'diluting', family: string): number => {
    const shares: number[] = [];
    for (let turn = 0; turn <= 6; turn++) {
      const fork = rows.find((x) => x.k.startsWith(`st|${condition}|${family}|c0|t${turn}|inv|`))!;
      const ids = tok.chatIds((JSON.parse(fork.q) as { messages: ChatMessage[] }).messages);
      const a = glassBoxAnswer(specs[condition], ids);
      shares.push(a.persona.E - specs[condition].defaultLevel.E);
    }
    const curve = shares.map((x) => x / shares[0]!);
    let area = 0;
    for (let i = 1; i < curve.length; i++) area += (curve[i - 1]! + curve[i]!) / 2;
    return area / (curve.length - 1);
  };
  const sticky = inv('sticky');
  const diluting = inv('diluting');
  t.diagnostic(`realization index: sticky ${sticky.realization.value.toFixed(3)}, diluting ${diluting.realization.value.toFixed(3)} [${diluting.realization.lo.toFixed(3)}, ${diluting.realization.hi.toFixed(3)}]`);
  assert.equal(sticky.adoption!.verdict, 'adopted');
  assert.equal(diluting.adoption!.verdict, 'adopted');
  assert.ok(sticky.realization.value > 0.97, `sticky: ${sticky.realization.value}`);
  for (const family of s.families) {
    const planted = { sticky: plantedIndex('sticky', family), diluting: plantedIndex('diluting', family) };
    const measured = {
      sticky: sticky.byFamily.find((f) => f.family === family)!.realization.value,
      diluting: diluting.byFamily.find((f) => f.family === family)!.realization.value,
    };
    t.diagnostic(`${family}: planted ${planted.diluting.toFixed(3)}, measured ${measured.diluting.toFixed(3)} (sticky planted ${planted.sticky.toFixed(3)}, measured ${measured.sticky.toFixed(3)})`);
    assert.ok(planted.diluting < 0.9, `the diluting model loses part of the persona by design (${planted.diluting})`);
    assert.ok(Math.abs(measured.diluting - planted.diluting) < 0.05, `${family}: measured ${measured.diluting} vs planted ${planted.diluting}`);
    assert.ok(Math.abs(measured.sticky - planted.sticky) < 0.03, `${family} sticky: measured ${measured.sticky} vs planted ${planted.sticky}`);
  }
  assert.ok(sticky.realization.value - diluting.realization.value > 0.1);
});

// The persona level is written by block 1 (blocks.1.hook_resid_post on); block 0 is empty.
test(`glass-box mechanism (${arch}): vectors extract finds the planted direction and layer, steering moves the trait by its sign, capping restores the default`, async (t) => {
  const root = tempDir('pp-glass-vec-');
  const dir = join(root, 'model');
  const spec = await makeGlassBoxModel(dir, SMOLLM_DIR, { arch, shape: { layers: 4 }, personaLayer: 1 });
  const planted = new Float32Array(spec.hidden);
  planted[GLASS_BOX_DIMS.persona + DOMAINS.indexOf('E')] = 1;
  const cos = (v: Float32Array) => v.reduce((s, x, i) => s + x * planted[i]!, 0) / Math.hypot(...v);

  const r = await extractVectors({ outDir: join(root, 'store'), model: `engine:${dir}`, trait: resolveTrait('extraversion-high'), maxTokens: 8, seed: 3 });
  assert.equal(r.counters.errors, 0);
  t.diagnostic(r.layers.map((l) => `layer ${l.layer}: cos ${cos(r.vectors.get(l.layer)!).toFixed(3)}, d ${l.separation.toFixed(2)} (null 95% ${l.nullD95.toFixed(2)}, inst95 ${l.instructionD95?.toFixed(2)} p ${l.instructionP?.toFixed(3)})`).join('; '));
  assert.ok(Math.abs(cos(r.vectors.get(0)!)) < 0.05, 'before the planted layer there is no persona direction');
  for (const l of [1, 2, 3]) assert.ok(cos(r.vectors.get(l)!) >= 0.9, `layer ${l}: cos ${cos(r.vectors.get(l)!)}`);
  assert.equal(r.recommendedLayer, 1);
  assert.ok(r.parts.every((p) => p.constructed), 'the run says it read a constructed model');
  // Chosen by steering effect (the paper's criterion): the planted layer too; before it, and after the last MLP (only
  // the final norm's scale is touched there), steering does next to nothing.
  const bySteering = await extractVectors({ outDir: join(root, 'store'), model: `engine:${dir}`, trait: resolveTrait('extraversion-high'), maxTokens: 8, seed: 3, chooseBy: 'steering' });
  const effect = (l: number) => bySteering.layers.find((x) => x.layer === l)!.steeringEffect!;
  t.diagnostic(`steering effect by layer: ${bySteering.layers.map((l) => `${l.layer}: ${l.steeringEffect!.toFixed(3)}`).join(', ')}`);
  assert.equal(bySteering.chosenBy, 'steering');
  assert.equal(bySteering.recommendedLayer, 1);
  assert.ok(effect(1) > 1, `layer 1: ${effect(1)}`);
  assert.ok(Math.abs(effect(0)) < 0.1 * effect(1) && Math.abs(effect(3)) < 0.1 * effect(1), `layers 0 and 3: ${effect(0)}, ${effect(3)}`);
  assert.match((await vectorsPage({ ...r, parts: r.parts })).body, /CONSTRUCTED MODEL: engine:/);

  // Steering with the extracted vector moves the extraversion score with the coefficient's sign, monotonically.
  const vfile = join(root, 'e.safetensors');
  saveVectors(vfile, r);
  const sweep = await sweepSteering({ outDir: join(root, 'store'), model: dir, vectorsFile: vfile, coefs: [-0.3, -0.15, 0, 0.15, 0.3], itemsPerDomain: 4 });
  const e = [...sweep.rows].sort((a, b) => a.coef - b.coef).map((x) => x.inventory.E);
  t.diagnostic(`E by coefficient -0.3..0.3: ${e.map((x) => x.toFixed(3)).join(', ')}`);
  for (let i = 1; i < e.length; i++) assert.ok(e[i]! > e[i - 1]! + 0.01, `monotone: ${e.join(', ')}`);

  // Capping the planted axis at the default's level undoes an introverted persona's shift (the default is extraverted).
  const persona = suiteSchema.parse({ ...fidelitySuite(dir), personas: [{ id: 'quiet', name: 'Kit', description: '', target: { O: 3, C: 3, E: 1, A: 3, N: 3 } }] }).personas[0]!;
  const system = conditioningMessages(persona, methodSchema.parse({ id: 'rp', kind: 'role-personality' }));
  const eItems = instrument.items.filter((i) => i.domain === 'E');
  const eScore = async (backend: EngineBackend, sys: ChatMessage[]) => {
    let sum = 0;
    for (const item of eItems) {
      const p = await backend.optionProbs({ messages: [...sys, { role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }], options: OPTION_DIGITS });
      sum += keyedScore(item, p.probs.reduce((s, x, k) => s + x * (k + 1), 0), 5);
    }
    return sum / eItems.length;
  };
  const plain = await EngineBackend.create({ model: dir });
  const capped = await EngineBackend.create({ model: dir, interventions: [capIntervention('blocks.1.hook_resid_post', planted, { min: spec.defaultLevel.E })] });
  const base = await eScore(plain, []);
  const conditioned = await eScore(plain, system);
  const restored = await eScore(capped, system);
  t.diagnostic(`E: default ${base.toFixed(4)}, persona ${conditioned.toFixed(4)}, persona capped ${restored.toFixed(4)}`);
  assert.ok(base - conditioned > 1, 'the persona moves extraversion');
  assert.ok(Math.abs(restored - base) < 0.01, `capping restores the default: ${restored} vs ${base}`);
});
}

test('demo --glass-box runs the demo suite through the real engine on a constructed model, and says so everywhere', async () => {
  const dir = tempDir('pp-glass-demo-');
  const r = await cliAsync(['demo', '--glass-box', '--like', SMOLLM_DIR, '--dir', join(dir, 'out'), '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote a glass-box model to .*not a language model/);
  assert.match(r.stdout, /^CONSTRUCTED MODEL: engine:.*glass-box#w[0-9a-f]+ \(model engine:.*\) is a glass-box model/m);
  assert.doesNotMatch(r.stdout, /SIMULATION/);
  const report = readFileSync(join(dir, 'out', 'reports', /run ([0-9a-f]{12})/.exec(r.stdout)![1]!, 'report.html'), 'utf8');
  assert.match(report, /<strong>CONSTRUCTED MODEL\.<\/strong>/);
  // A second run finds the model written and every call stored.
  const again = await cliAsync(['demo', '--glass-box', '--dir', join(dir, 'out'), '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /calls this time 0/);
  // Bad combinations are one line.
  const bad = await cliAsync(['demo', '--glass-box', '--model', 'sim:', '--dir', join(dir, 'x')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--glass-box and --model are two different models/);
  const noTok = await cliAsync(['demo', '--glass-box', '--like', dir, '--dir', join(dir, 'y')]);
  assert.notEqual(noTok.code, 0);
  assert.match(noTok.stderr, /has no config.json and tokenizer.json; pass --like DIR/);
});

test('drift along a planted direction in stored conversations: every family of a diluting persona drifts down, per turn and family, and the run page shows it with its tables', async (t) => {
  const root = tempDir('pp-glass-drift-');
  const model = join(root, 'model');
  const spec = await makeGlassBoxModel(model, SMOLLM_DIR, { arch: 'llama', personaFocus: 3 });
  const suite = suiteSchema.parse({
    name: 'glass-box-drift',
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas: [PERSONAS[0]],
    methods: [{ id: 'role-personality', kind: 'role-personality' }],
    models: [{ name: 'glass', id: `engine:${model}` }],
    stickiness: { conditions: [{ id: 'host', persona: 'host', model: 'glass', method: 'role-personality' }], attacks: ['identity-challenge', 'emotional-pressure', 'meta-reflection'], turns: 4, conversations: 1, max_tokens: 32, temperature: 0, retention: { inventory: { items_per_domain: 1 } } },
  });
  const outDir = join(root, 'out');
  const run = await runSuite(suite, { outDir });
  const planted = new Float32Array(spec.hidden);
  planted[GLASS_BOX_DIMS.persona + DOMAINS.indexOf('E')] = 1;
  const r = await monitorRun({ outDir, run: run.runId, model, vectors: [{ name: 'planted E level', layer: 0, vector: planted }] });
  t.diagnostic(r.families.map((f) => `${f.family} ${f.drift.toFixed(3)}`).join(', '));
  assert.equal(r.families.length, 3);
  for (const f of r.families) assert.ok(f.drift < -0.05, `${f.family}: the persona's E level fades (${f.drift})`);
  assert.deepEqual(new Set(r.points.map((p) => p.turn)), new Set([0, 1, 2, 3, 4]));
  assert.deepEqual(r.families.filter((f) => f.paperDriftFamily).map((f) => f.family).sort(), ['emotional-pressure', 'meta-reflection']);
  // The planted truth of each point: P_E at the turn's tokens is what head A averaged there; a turn's mean is below the opening's.
  for (const family of ['identity-challenge', 'emotional-pressure', 'meta-reflection']) {
    const series = r.points.filter((p) => p.family === family).sort((a, b) => a.turn - b.turn).map((p) => p.projection);
    for (let i = 1; i < series.length; i++) assert.ok(series[i]! < series[i - 1]!, `${family}: monotone fade ${series.join(', ')}`);
  }
  const store = new RunStore(outDir);
  try {
    const page = await storedMechanismPage(store, r.runId, 'drift-monitor');
    assert.ok(page);
    assert.match(page.body, /CONSTRUCTED MODEL/);
    assert.match(page.body, /Drift \(last turn − opening\)/);
    assert.match(page.body, /emotional and meta-reflective conversations drift most/);
    assert.equal((page.body.match(/<svg/g) ?? []).length, 1, 'one chart per vector');
  } finally {
    store.close();
  }
});

test('vectors screen ranks planted trait-pushing samples first, predicts the shift from them, and writes the dataset without them; bad lines are one line with file:line', async (t) => {
  const root = tempDir('pp-glass-screen-');
  const model = join(root, 'model');
  const spec = await makeGlassBoxModel(model, SMOLLM_DIR, { arch: 'qwen2' });
  const planted = new Float32Array(spec.hidden);
  planted[GLASS_BOX_DIMS.persona + DOMAINS.indexOf('E')] = 1;
  const vfile = join(root, 'e.safetensors');
  writeVectorFile(vfile, { layers: new Map([[0, planted]]), metadata: { trait: 'planted E level', recommended_layer: '0' } });
  const sample = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
  const data = join(root, 'train.jsonl');
  writeFileSync(data, [
    sample('How was your weekend?', 'Quiet. I stayed home with a book.'),
    sample('How was your weekend?', 'I was outgoing, energetic and lively at a huge party!'),
    sample('What time is the meeting?', 'The meeting is at noon in room four.'),
    sample('Do you like crowds?', 'I am reserved and solitary; crowds drain me.'),
    sample('Tell me about yourself.', 'Bold, cheerful and assertive: I love being the centre of attention.'),
    '',
  ].join('\n'));
  const r = await screenDataset({ model, dataset: data, vectors: [{ name: 'planted E level', layer: 0, vector: planted }], maxTokens: 8 });
  assert.ok(r.parts[0]!.constructed, "the screened model is said to be a constructed model");
  const ranked = rankSamples(r).map((s) => [s.line, Number(s.projections[0]!.difference.toFixed(3))]);
  t.diagnostic(`ranked (line, difference): ${JSON.stringify(ranked)}; predicted shift ${r.predicted[0]!.shift.toFixed(3)}`);
  assert.deepEqual(ranked.slice(0, 2).map(([line]) => line).sort(), [2, 5], 'the samples with E+ trait words push most');
  assert.equal(ranked.at(-1)![0], 4, 'the sample with E- trait words pulls the other way');
  assert.ok((ranked.at(-1)![1] as number) < 0);
  assert.equal(r.predicted[0]!.n, 5);
  const filtered = join(root, 'screened.jsonl');
  const cliRun = cli(['vectors', 'screen', '--model', model, '--vectors', vfile, '--data', data, '--max-tokens', '8', '--drop-top', '2', '--filtered', filtered]);
  assert.equal(cliRun.code, 0, cliRun.stderr);
  assert.match(cliRun.stdout, /planted E level@0: predicted shift/);
  const kept = readFileSync(filtered, 'utf8').trim().split('\n');
  assert.equal(kept.length, 3);
  assert.ok(!kept.some((l) => /outgoing|centre of attention/.test(l)));
  // A checkpoint "tuned" by a known weight edit: every token embedding moved +0.5 along the planted E level,
  // so the projection on that vector shifts by 0.5 wherever it is read. Screening sets it beside the prediction.
  const tuned = join(root, 'tuned');
  cpSync(model, tuned, { recursive: true });
  const weightsFile = join(tuned, 'model.safetensors');
  const header = readSafetensorsHeader(weightsFile);
  const all = new Map([...header.tensors.keys()].map((name) => [name, readTensorF32(header, name)] as const));
  const embed = all.get('model.embed_tokens.weight')!;
  for (let row = 0; row < embed.shape[0]!; row++) embed.data[row * spec.hidden + GLASS_BOX_DIMS.persona + DOMAINS.indexOf('E')]! += 0.5;
  writeSafetensors(weightsFile, new Map([...all].map(([name, t]) => [name, { dtype: 'F32' as const, shape: t.shape, data: t.data }])));
  const withTuned = cli(['vectors', 'screen', '--model', model, '--vectors', vfile, '--data', data, '--max-tokens', '8', '--tuned', tuned]);
  assert.equal(withTuned.code, 0, withTuned.stderr);
  const m = /planted E level@0: measured shift in \S+ (-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\] over (\d+) prompts; (.*)$/m.exec(withTuned.stdout);
  assert.ok(m, withTuned.stdout);
  assert.ok(Math.abs(Number(m[1]) - 0.5) < 0.02, `measured ${m[1]}: the edit implies 0.5`);
  assert.equal(m[5], r.predicted[0]!.shift > 0 ? 'the sign the screening predicted' : 'NOT the sign the screening predicted');
  writeFileSync(data, `${sample('a', 'b')}\n{"messages": [{"role": "user", "content": "no reply"}]}\n`);
  const bad = cli(['vectors', 'screen', '--model', model, '--vectors', vfile, '--data', data]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.trim(), /train\.jsonl:2: not a chat sample/);
});

test(`glass-box (llama): vectors extract with the persona-vectors preset (rollouts, the "You are a ... assistant" opening, trait and coherence judged, pairs masked jointly, layer by steering) still finds the planted layer`, async () => {
  const root = tempDir('pp-glass-preset-');
  const dir = join(root, 'model');
  const spec = await makeGlassBoxModel(dir, SMOLLM_DIR, { arch: 'llama', shape: { layers: 4 }, personaLayer: 1 });
  const planted = new Float32Array(spec.hidden);
  planted[GLASS_BOX_DIMS.persona + DOMAINS.indexOf('E')] = 1;
  const server = await startFakeOpenAI();
  try {
    const r = await extractVectors({ outDir: join(root, 'store'), model: `engine:${dir}`, trait: resolveTrait('extraversion-high'), ...PERSONA_VECTORS_PRESET, rollouts: 2, maxTokens: 8, seed: 3, judge: 'openai:judge-by-text', env: { OPENAI_BASE_URL: server.url } });
    assert.equal(r.counters.errors, 0);
    assert.deepEqual(r.settings, { rollouts: 2, temperature: 1, maxTokens: 8, threshold: 50, coherence: true, pairwise: true, prefix: true });
    // Masked jointly: as many positive as negative answers kept, some pairs dropped for one side, some answers as incoherent.
    assert.equal(r.counts.kept.positive, r.counts.kept.negative);
    assert.ok(r.counts.unpaired! > 0 && r.counts.incoherent! > 0 && r.counts.kept.positive > 10, JSON.stringify(r.counts));
    const trait = resolveTrait('extraversion-high');
    assert.equal(r.counts.answers, trait.pairs.length * trait.questions.length * 2 * 2);
    // The paper's opening line, on both sides of a pair.
    assert.match(instructionSystem(trait, 'Be lively.', 'pos', true), /^You are an? [a-z][^.]* assistant\. Be lively\.$/);
    assert.equal(instructionSystem(trait, 'Be quiet.', 'neg', true), 'You are a helpful assistant. Be quiet.');
    assert.equal(instructionSystem(trait, 'Be quiet.', 'neg', false), 'Be quiet.');
    assert.equal(r.chosenBy, 'steering');
    assert.equal(r.recommendedLayer, 1);
    const v = r.vectors.get(1)!;
    assert.ok(v.reduce((s, x, i) => s + x * planted[i]!, 0) / Math.hypot(...v) >= 0.9);
  } finally {
    await server.close();
  }
});
