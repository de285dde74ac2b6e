import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { addIntervention, capIntervention, loadInterventionFile } from '../src/engine/interventions.js';
import { allHookNames } from '../src/engine/hooks.js';
import { collectActivations } from '../src/engine/activations.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from '../src/engine/formats/safetensors.js';
import { createRng } from '../src/util/rng.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { tempDir } from './helpers.js';

const config = familyConfig('llama', { layers: 3 });
const model = makeModel(config);
const TEXT = 'Stay in character: you are Morgan, a terse lighthouse keeper who distrusts cheerfulness.';

function randomVector(d: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: d }, () => rng.normal() * scale);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>, offA = 0, n = b.length) => {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[offA + i]! * b[i]!;
  return s;
};

test('add at blocks.1.hook_resid_post changes that tensor by coef * v at every position and leaves every earlier hook untouched', () =>
  withEngine(model.dir, async (engine) => {
    const hooks = allHookNames(engine.spec.layers);
    const ids = engine.tokenizer.encode(TEXT);
    const d = engine.spec.dModel;
    const v = randomVector(d, 11);
    const coef = 3.5;
    const plain = await engine.forward(ids, { hooks });
    const steered = await engine.forward(ids, { hooks, interventions: [addIntervention('blocks.1.hook_resid_post', v, coef)] });
    const at = hooks.indexOf('blocks.1.hook_resid_post');
    for (const h of hooks.slice(0, at)) assert.deepEqual(steered.hooks.get(h), plain.hooks.get(h), `${h} is upstream and must not change`);
    const a = plain.hooks.get('blocks.1.hook_resid_post')!;
    const b = steered.hooks.get('blocks.1.hook_resid_post')!;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(b[i]! - a[i]! - coef * v[i % d]!) / (1 + Math.abs(a[i]!)));
    assert.ok(worst < 1e-6, `delta differs from coef*v by ${worst} (float32 rounding only)`);
    // Downstream changes: the next block reads the steered stream.
    assert.notDeepEqual(steered.hooks.get('blocks.2.hook_attn_out'), plain.hooks.get('blocks.2.hook_attn_out'));
    assert.deepEqual(steered.hooks.get('blocks.2.hook_resid_pre'), b);
  }));

test('cap keeps every projection inside [min, max] and leaves rows already inside bit-for-bit unchanged', () =>
  withEngine(model.dir, async (engine) => {
    const ids = engine.tokenizer.encode(TEXT);
    const d = engine.spec.dModel;
    const hook = 'blocks.2.hook_resid_mid';
    const v = randomVector(d, 12, 7); // not unit length: the engine normalises
    const u = Float64Array.from(v, (x) => x / Math.hypot(...v));
    const plain = (await engine.forward(ids, { hooks: [hook] })).hooks.get(hook)!;
    const proj = Array.from({ length: ids.length }, (_, t) => dot(plain, u, t * d, d));
    const sorted = [...proj].sort((x, y) => x - y);
    // A band that some rows are already inside and others fall outside on both sides.
    // (Bounds midway between rows, so no row sits on a bound where float32 and float64 disagree.)
    const between = (q: number) => (sorted[Math.floor(sorted.length * q)]! + sorted[Math.floor(sorted.length * q) + 1]!) / 2;
    const min = between(0.25);
    const max = between(0.75);
    const capped = (await engine.forward(ids, { hooks: [hook], interventions: [capIntervention(hook, v, { min, max })] })).hooks.get(hook)!;
    let inside = 0;
    let outside = 0;
    for (let t = 0; t < ids.length; t++) {
      const p = dot(capped, u, t * d, d);
      assert.ok(p >= min - 1e-4 && p <= max + 1e-4, `row ${t}: projection ${p} outside [${min}, ${max}]`);
      const before = plain.subarray(t * d, (t + 1) * d);
      const after = capped.subarray(t * d, (t + 1) * d);
      if (proj[t]! >= min && proj[t]! <= max) {
        inside++;
        assert.deepEqual(after, before, `row ${t} was inside and must not change`);
      } else {
        outside++;
        // Only the component along u moved.
        const delta = Float64Array.from(after, (x, i) => x - before[i]!);
        const along = dot(delta, u);
        for (let i = 0; i < d; i++) assert.ok(Math.abs(delta[i]! - along * u[i]!) < 1e-4);
      }
    }
    assert.ok(inside > 0 && outside > 0, `inside ${inside}, outside ${outside}`);
  }));

test('steering along a token\'s unembedding raises its logit by the predicted amount (after the final norm, and through it from the last block)', () =>
  withEngine(model.dir, async (engine) => {
    const ids = engine.tokenizer.encode(TEXT);
    const { dModel: d, vocab: V, layers: L, rmsEps } = engine.spec;
    const header = readSafetensorsHeader(join(model.dir, 'model.safetensors'));
    const E = readTensorF32(header, 'model.embed_tokens.weight').data; // tied: the unembedding
    const gain = readTensorF32(header, 'model.norm.weight').data;
    const token = 4242;
    const w = E.subarray(token * d, (token + 1) * d);
    const last = ids.length - 1;
    const coef = 0.25;
    const lastBlock = `blocks.${L - 1}.hook_resid_post`;
    const plain = await engine.forward(ids, { hooks: [lastBlock], logits: 'all' });
    const base = plain.logits[last * V + token]!;

    // 1. After the final norm the unembedding is linear: the logit rises by coef * |w|^2.
    const after = await engine.forward(ids, { logits: 'all', interventions: [addIntervention('ln_final.hook_normalized', w, coef)] });
    const predicted = coef * dot(w, w);
    assert.ok(Math.abs(after.logits[last * V + token]! - base - predicted) < 1e-3 * Math.max(1, predicted), `rise ${after.logits[last * V + token]! - base} vs predicted ${predicted}`);

    // 2. At the last block's output the RMSNorm sits between: predict through it in float64.
    const h = plain.hooks.get(lastBlock)!.subarray(last * d, (last + 1) * d);
    const steeredH = Float64Array.from(h, (x, i) => x + coef * w[i]!);
    const rms = Math.sqrt(steeredH.reduce((s, x) => s + x * x, 0) / d + rmsEps);
    const predictedLogit = steeredH.reduce((s, x, i) => s + (x / rms) * gain[i]! * w[i]!, 0);
    const through = await engine.forward(ids, { logits: 'all', interventions: [addIntervention(lastBlock, w, coef)] });
    const got = through.logits[last * V + token]!;
    assert.ok(got > base, 'the logit rises');
    assert.ok(Math.abs(got - predictedLogit) < 1e-3 * Math.max(1, Math.abs(predictedLogit)), `logit ${got} vs predicted ${predictedLogit}`);
  }));

test('positions: prompt-only steering leaves generated-token activations alone and vice versa; YAML file loads vectors relative to itself', () =>
  withEngine(model.dir, async (engine) => {
    const d = engine.spec.dModel;
    const dir = tempDir();
    const v = randomVector(d, 13);
    writeSafetensors(join(dir, 'vec.safetensors'), { persona: { shape: [d], data: v } });
    const yaml = (positions: string) => `- hook: blocks.0.hook_resid_post\n  op: add\n  vector: { file: vec.safetensors, tensor: persona }\n  coef: 2\n  positions: ${positions}\n`;
    writeFileSync(join(dir, 'gen.yaml'), yaml('generated'));
    const ivs = loadInterventionFile(join(dir, 'gen.yaml'), engine.spec);
    assert.equal(ivs[0]!.coef, 2);
    assert.deepEqual(ivs[0]!.vector, v);
    const ids = engine.tokenizer.encode(TEXT);
    const collect = async (interventions = ivs) => {
      const rows: { scope: string; data: Float32Array }[] = [];
      await engine.generate(ids, { maxTokens: 4, hooks: ['blocks.0.hook_resid_post'], interventions, onHooks: (h, scope) => rows.push({ scope, data: h.get('blocks.0.hook_resid_post')!.slice() }) });
      return rows;
    };
    const plain = await collect([]);
    const gen = await collect();
    assert.deepEqual(gen[0]!.data, plain[0]!.data, 'prompt rows untouched by a generated-only intervention');
    assert.notDeepEqual(gen[1]!.data, plain[1]!.data, 'generated rows steered');
    writeFileSync(join(dir, 'prompt.yaml'), yaml('prompt'));
    const promptOnly = await collect(loadInterventionFile(join(dir, 'prompt.yaml'), engine.spec));
    assert.notDeepEqual(promptOnly[0]!.data, plain[0]!.data, 'prompt rows steered');
  }));

test('pooled activations equal the mean and last row of the traced hook; mean_generated covers generated tokens only', () =>
  withEngine(model.dir, async (engine) => {
    const d = engine.spec.dModel;
    const hook = 'blocks.1.hook_resid_post';
    const ids = engine.tokenizer.encode(TEXT);
    const traced = (await engine.forward(ids, { hooks: [hook] })).hooks.get(hook)!;
    const [pooled] = await collectActivations(engine, { prompts: [{ ids }], hooks: hook, pooling: ['mean', 'last'] });
    const r = pooled!.pooled.get(hook)!;
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let t = 0; t < ids.length; t++) s += traced[t * d + i]!;
      assert.ok(Math.abs(r.mean![i]! - s / ids.length) < 1e-5);
      assert.equal(r.last![i], traced[(ids.length - 1) * d + i]);
    }
    const [withGen] = await collectActivations(engine, { prompts: [{ messages: [{ role: 'user', content: 'Who are you?' }] }], hooks: [hook], pooling: ['mean', 'mean_generated'], generate: { maxTokens: 5 } });
    assert.ok(withGen!.generatedTokens > 0);
    assert.ok(withGen!.pooled.get(hook)!.mean_generated, 'mean over generated tokens present');
    assert.notDeepEqual(withGen!.pooled.get(hook)!.mean_generated, withGen!.pooled.get(hook)!.mean);
  }));

test('memory: a layout exposes only the hooks asked for, so tracing 2 hooks of a 30-layer model allocates no other hook tensor', async () => {
  const deep = makeModel(familyConfig('llama', { layers: 30, hidden: 32, heads: 2, kvHeads: 1 }));
  await withEngine(deep.dir, async (engine) => {
    const all = allHookNames(30);
    assert.equal(all.length, 2 + 30 * 6, 'hook_embed, 6 hook points per block (mlp.hook_post among them), ln_final');
    const two = ['blocks.3.hook_resid_post', 'ln_final.hook_normalized'];
    const session = await engine.session({ hooks: two, interventions: [], kvCache: true });
    const hookOutputs = session.outputNames.filter((n) => all.includes(n));
    assert.deepEqual(hookOutputs, two);
    const r = await engine.forward(engine.tokenizer.encode(TEXT), { hooks: two });
    assert.deepEqual([...r.hooks.keys()], two);
  });
});
