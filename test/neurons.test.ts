// Trait neurons against truth planted in the weights: a glass-box base and a "tuned" checkpoint
// made by a known edit (the down projections of the last block's two E neurons, 4 and 5, doubled).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { makeGlassBoxModel } from '../src/cli/glass-box.js';
import { ablateNeurons, findNeurons } from '../src/commands/neurons.js';
import { compareCheckpoints } from '../src/commands/checkpoints.js';
import { writeVectorFile } from '../src/engine/formats/vector-files.js';
import { GLASS_BOX_DIMS, glassBoxAnswer } from '../src/engine/glass-box.js';
import { ModelTokenizer } from '../src/engine/tokenizer.js';
import { getInstrument, keyedScore } from '../src/instruments/index.js';
import { shortInventory } from '../src/probes/dialogue.js';
import { DEFAULT_VARIANTS, itemPrompt } from '../src/probes/fidelity.js';
import { resolveTrait } from '../src/probes/traits.js';
import { rankBySensitivity } from '../src/metrics/neurons.js';
import { SMOLLM_DIR, cli, tempDir } from './helpers.js';
import { familyConfig, makeModel } from './engine-helpers.js';

const E_NEURONS = [4, 5];

test('neurons on a planted edit: the shift is the one the edit implies, find returns the edited neurons, ablating them removes the shift and random neurons do not', async (t) => {
  const root = tempDir('pp-neurons-');
  const base = join(root, 'base');
  const tuned = join(root, 'tuned');
  const baseSpec = await makeGlassBoxModel(base, SMOLLM_DIR, { arch: 'llama' });
  const tunedSpec = await makeGlassBoxModel(tuned, SMOLLM_DIR, { arch: 'llama', domainGain: { E: 2 } });

  // The planted shift of the E score on the same items, from the two specs alone.
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, 8).filter((i) => i.domain === 'E');
  const tok = await ModelTokenizer.load(base, []);
  const plantedScore = (spec: typeof baseSpec) => {
    let sum = 0;
    for (const item of items) {
      const { probs } = glassBoxAnswer(spec, tok.chatIds([{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]));
      sum += keyedScore(item, probs.reduce((s, p, k) => s + p * (k + 1), 0), 5);
    }
    return sum / items.length;
  };
  const plantedShift = plantedScore(tunedSpec) - plantedScore(baseSpec);

  const found = await findNeurons({ model: tuned, base, layer: 1, trait: resolveTrait('extraversion-high'), top: 10, direction: Float32Array.from({ length: tunedSpec.hidden }, (_, i) => (i === GLASS_BOX_DIMS.score ? 1 : 0)) });
  const progress: [number, number][] = [];
  const ablated = await ablateNeurons({ model: tuned, base, layer: 1, neurons: E_NEURONS, domain: 'E', random: 5, onProgress: (done, total) => progress.push([done, total]) });
  assert.deepEqual(progress.at(-1), [(2 + 5) * 8 * 2, (2 + 5) * 8 * 2], 'one step per item, model and condition, ending at the total');
  assert.ok(found.parts.length === 2 && found.parts.every((p) => p.constructed) && ablated.parts.every((p) => p.constructed), "the glass-box checkpoints are said to be constructed models");
  t.diagnostic(`E shift: planted ${plantedShift.toFixed(4)}, measured ${ablated.none.shift!.toFixed(4)}; with 4,5 off ${ablated.top.shift!.toFixed(4)}; with random pairs off ${ablated.random.map((r) => r.shift!.toFixed(4)).join(', ')}`);
  assert.ok(plantedShift > 0.2, `the edit moves E (${plantedShift})`);
  assert.ok(Math.abs(ablated.none.shift! - plantedShift) < 1e-4, `measured shift ${ablated.none.shift} vs planted ${plantedShift}`);

  // find: what changed is exactly the two edited neurons; they also respond most to the trait's instructions and write most onto S.
  assert.deepEqual(found.change!.slice(0, 2).map((x) => x.neuron).sort(), E_NEURONS);
  assert.ok(found.change!.slice(2).every((x) => x.score < 1e-6), 'no other neuron changed');
  assert.deepEqual(found.sensitivity.slice(0, 2).map((x) => x.neuron).sort(), E_NEURONS);
  assert.deepEqual(found.write!.slice(0, 2).map((x) => x.neuron).sort(), E_NEURONS);

  // ablate: switching the edited neurons off removes the shift; random pairs of the same layer leave it.
  assert.ok(Math.abs(ablated.top.shift!) < 1e-6, `shift with the edited neurons off: ${ablated.top.shift}`);
  assert.equal(ablated.random.length, 5);
  for (const r of ablated.random) {
    assert.equal(r.neurons.length, 2);
    assert.ok(!r.neurons.some((n) => E_NEURONS.includes(n)));
    assert.ok(Math.abs(r.shift! - ablated.none.shift!) < 1e-6, `random ${r.neurons}: shift ${r.shift}`);
  }
});

test('neuron rankings: sensitivity keeps a neuron whose response flips sign with the item; bad input is one line', async () => {
  // Neuron 0 answers +1 / -1 by item under the eliciting instruction and the reverse under the suppressing one; neuron 1 is constant.
  const e = [Float32Array.of(1, 0.5), Float32Array.of(-1, 0.5)];
  const s = [Float32Array.of(-1, 0.5), Float32Array.of(1, 0.5)];
  assert.deepEqual(rankBySensitivity(e, s).map((x) => [x.neuron, x.score]), [[0, 2], [1, 0]]);

  const a = makeModel(familyConfig('llama', { layers: 2, hidden: 64 }));
  const b = makeModel(familyConfig('llama', { layers: 2, hidden: 32, heads: 2, kvHeads: 1 }));
  const mismatch = cli(['neurons', 'find', '--model', `engine:${a.dir}`, '--base', `engine:${b.dir}`, '--layer', '0', '--trait', 'extraversion-high']);
  assert.equal(mismatch.code, 2);
  assert.match(mismatch.stderr.trim(), /^persona-probe: mismatched checkpoints: the base has dModel = 32, the tuned model 64/);
  const range = cli(['neurons', 'ablate', '--model', a.dir, '--layer', '0', '--neurons', '3,9999', '--domain', 'E']);
  assert.equal(range.code, 2);
  assert.match(range.stderr.trim(), /neuron 9999 is out of range \(0-127\)$/);
  const twice = cli(['neurons', 'ablate', '--model', a.dir, '--layer', '0', '--neurons', '3,3', '--domain', 'E']);
  assert.match(twice.stderr.trim(), /a neuron is named twice$/);
  const layer = cli(['neurons', 'find', '--model', a.dir, '--layer', '2', '--trait', 'extraversion-high']);
  assert.match(layer.stderr.trim(), /layer 2 is out of range \(0-1\)$/);
  const domain = cli(['neurons', 'ablate', '--model', a.dir, '--layer', '0', '--neurons', '3', '--domain', 'X']);
  assert.match(domain.stderr.trim(), /--domain must be one of O, C, E, A, N, got "X"$/);
});

test('checkpoints compare on a planted edit: E shifts by what the edit implies and nothing else does; the persona direction does not move, the score direction does', async () => {
  const root = tempDir('pp-ckpt-');
  const base = join(root, 'base');
  const tuned = join(root, 'tuned');
  const baseSpec = await makeGlassBoxModel(base, SMOLLM_DIR, { arch: 'qwen2' });
  const tunedSpec = await makeGlassBoxModel(tuned, SMOLLM_DIR, { arch: 'qwen2', domainGain: { E: 2 } });
  const unit = (dim: number) => Float32Array.from({ length: baseSpec.hidden }, (_, i) => (i === dim ? 1 : 0));
  const personaFile = join(root, 'persona-e.safetensors');
  const scoreFile = join(root, 'score.safetensors');
  writeVectorFile(personaFile, { layers: new Map([[0, unit(GLASS_BOX_DIMS.persona + 2)]]), metadata: { trait: 'planted E level' } });
  writeVectorFile(scoreFile, { layers: new Map([[1, unit(GLASS_BOX_DIMS.score)]]), metadata: { trait: 'planted score' } });
  const r = await compareCheckpoints({ base: `engine:${base}`, tuned: `engine:${tuned}`, vectors: [personaFile, scoreFile], itemsPerDomain: 8 });
  assert.deepEqual(r.parts.map((p) => [p.role, Boolean(p.constructed)]), [['base', true], ['tuned', true]], 'both checkpoints are said to be constructed models');

  const instrument = getInstrument('ipip-neo-120');
  const tok = await ModelTokenizer.load(base, []);
  for (const d of r.domains) {
    const items = shortInventory(instrument, 8).filter((i) => i.domain === d.domain);
    const planted = (spec: typeof baseSpec) => items.reduce((s, item) => {
      const { probs } = glassBoxAnswer(spec, tok.chatIds([{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]));
      return s + keyedScore(item, probs.reduce((a, p, k) => a + p * (k + 1), 0), 5);
    }, 0) / items.length;
    const want = planted(tunedSpec) - planted(baseSpec);
    assert.ok(Math.abs(d.shift.value - want) < 1e-4, `${d.domain}: shift ${d.shift.value} vs planted ${want}`);
    if (d.domain === 'E') assert.ok(d.shift.lo > 0, 'the E shift is clear of 0');
    else assert.ok(Math.abs(d.shift.value) < 1e-6, `${d.domain} does not move`);
  }
  const [persona, score] = r.projections;
  assert.equal(persona!.layer, 0);
  assert.ok(Math.abs(persona!.shift.value) < 1e-6, 'the edit is after the persona level: its projection does not move');
  assert.ok(Math.abs(score!.shift.value) > 0.01, `the score direction moves (${score!.shift.value})`);

  const other = join(root, 'other');
  await makeGlassBoxModel(other, SMOLLM_DIR, { arch: 'llama', shape: { layers: 3 } });
  const bad = cli(['checkpoints', 'compare', '--base', base, '--tuned', other]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr.trim(), /^persona-probe: mismatched checkpoints: the base has family = qwen2, the tuned model llama/);
});

test('neuron interventions in an interventions YAML: the listed neurons are switched off (or set) on every call, others untouched; bad entries name file and line', async () => {
  const { EngineBackend } = await import('../src/backends/engine.js');
  const { OPTION_DIGITS } = await import('../src/probes/fidelity.js');
  const root = tempDir('pp-neuron-yaml-');
  const model = join(root, 'model');
  await makeGlassBoxModel(model, SMOLLM_DIR, { arch: 'llama' });
  const yaml = join(root, 'off.yaml');
  writeFileSync(yaml, '# the E neurons of the last block, switched off\n- hook: blocks.1.mlp.hook_post\n  op: neurons\n  neurons: [4, 5]\n');
  const instrument = getInstrument('ipip-neo-120');
  const score = async (backend: { optionProbs(r: { messages: { role: 'user'; content: string }[]; options: string[] }): Promise<{ probs: number[] }> }, domain: string) => {
    const items = shortInventory(instrument, 4).filter((i) => i.domain === domain);
    let sum = 0;
    for (const item of items) {
      const p = await backend.optionProbs({ messages: [{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }], options: OPTION_DIGITS });
      sum += keyedScore(item, p.probs.reduce((s, x, k) => s + x * (k + 1), 0), 5);
    }
    return sum / items.length;
  };
  const plain = await EngineBackend.create({ model });
  const off = await EngineBackend.create({ model, interventionsFile: yaml });
  assert.notEqual(off.id, plain.id, 'an intervened model is another backend (its calls are cached apart)');
  assert.ok(Math.abs((await score(off, 'E')) - 3) < 1e-6, 'E neurons off: E answers sit at the neutral middle');
  assert.ok(Math.abs((await score(plain, 'E')) - 3) > 0.5);
  assert.ok(Math.abs((await score(off, 'O')) - (await score(plain, 'O'))) < 1e-9, 'other domains untouched');
  const bad = (text: string) => {
    writeFileSync(yaml, text);
    return cli(['trace', '--model', model, '--text', 'hello', '--hooks', 'blocks.0.hook_resid_post', '--interventions', yaml, '--out', join(root, 't.safetensors')]).stderr.trim();
  };
  assert.match(bad('- hook: blocks.1.mlp.hook_post\n  op: neurons\n  neurons: [4, 500]\n'), /off\.yaml:1.*neuron 500 is out of range \(0-127\)/);
  assert.match(bad('- hook: blocks.1.mlp.hook_post\n  op: neurons\n  neurons: [4, 5]\n  values: [1]\n'), /off\.yaml:1.*values has 1 entries for 2 neurons/);
  assert.match(bad('- hook: blocks.1.hook_resid_post\n  op: neurons\n  neurons: [4]\n'), /off\.yaml:1.*a neuron intervention goes on blocks\.L\.mlp\.hook_post/);
});

test('checkpoints compare --trait --judge: each model answers the trait questions and a judge scores them; the judged shift is paired by question (exactly 0 for one checkpoint against itself), and a judge without a trait is one line', async () => {
  const { startFakeOpenAI } = await import('./fake-openai-server.js');
  const server = await startFakeOpenAI();
  try {
    // Untied embeddings: a tied random model only repeats its last token (newlines), whatever its weights.
    const config = { ...familyConfig('llama', { layers: 1 }), tie_word_embeddings: false };
    const a = makeModel(config, { seed: 1 }).dir;
    const b = makeModel(config, { seed: 2 }).dir;
    const trait = resolveTrait('extraversion-high');
    const common = { trait, judge: 'openai:judge-by-text', questions: 4, maxTokens: 6, itemsPerDomain: 1, env: { OPENAI_BASE_URL: server.url } };
    const steps: number[] = [];
    const same = await compareCheckpoints({ base: `engine:${a}`, tuned: `engine:${a}`, ...common, onProgress: (done, total) => steps.push(done / total) });
    assert.equal(steps.at(-1), 1, 'progress reaches the end');
    assert.equal(steps.length, 2 * (5 + 2 * 4), 'one step per item and per answer and judgment, on each model');
    assert.deepEqual({ n: same.judged!.n, failures: same.judged!.failures, shift: same.judged!.shift.value, lo: same.judged!.shift.lo, hi: same.judged!.shift.hi }, { n: 4, failures: 0, shift: 0, lo: 0, hi: 0 });
    const other = await compareCheckpoints({ base: `engine:${a}`, tuned: `engine:${b}`, ...common });
    // The judge reads each answer (its score is a hash of the prompt): other weights, other answers, other scores.
    assert.equal(other.judged!.n, 4);
    assert.ok(Math.abs(other.judged!.shift.value - (other.judged!.tuned - other.judged!.base)) < 1e-9, 'the mean of paired differences');
    assert.notEqual(other.judged!.shift.value, 0);
    assert.equal(other.judged!.base, same.judged!.base, 'the base answers and their judgments are the same in both runs');
    const bad = cli(['checkpoints', 'compare', '--base', a, '--tuned', b, '--judge', 'sim:']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr.trim(), /^persona-probe: checkpoints compare: a judge needs --trait/);
  } finally {
    await server.close();
  }
});
