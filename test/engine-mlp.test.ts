// The MLP's hidden activations as a hook, blocks.L.mlp.hook_post (TransformerLens's name): the
// input of the down projection, [tokens, intermediate_size]. Checked against a direct
// computation from the layer's own weights and its hook_resid_mid, and against hook_mlp_out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorF32 } from '../src/engine/formats/safetensors.js';
import { addIntervention, neuronIntervention } from '../src/engine/interventions.js';
import { UserError } from '../src/util/errors.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';
import { referenceForward } from './reference-forward.js';
import { writeRandomModelFolder } from '../src/engine/random-model.js';
import { Engine } from '../src/engine/engine.js';

test('blocks.L.mlp.hook_post is silu(gate) * up of the normed hook_resid_mid, and the down projection of it is hook_mlp_out; add and cap are refused on it in one line', async () => {
  const config = familyConfig('llama', { layers: 2 });
  const { dir } = makeModel(config);
  const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
  const w = (name: string) => readTensorF32(header, `model.layers.1.${name}`).data;
  const [norm, gateW, upW, downW] = [w('post_attention_layernorm.weight'), w('mlp.gate_proj.weight'), w('mlp.up_proj.weight'), w('mlp.down_proj.weight')];
  const d = config.hidden_size;
  const ffn = config.intermediate_size as number;
  await withEngine(dir, async (engine) => {
    const ids = engine.tokenizer.encode('The keeper logs every ship that passes the rock.');
    const hooks = ['blocks.1.hook_resid_mid', 'blocks.1.mlp.hook_post', 'blocks.1.hook_mlp_out'];
    const r = await engine.forward(ids, { hooks });
    const mid = r.hooks.get(hooks[0]!)!;
    const post = r.hooks.get(hooks[1]!)!;
    const out = r.hooks.get(hooks[2]!)!;
    assert.equal(post.length, ids.length * ffn, '[tokens, intermediate_size]');
    let worstPost = 0;
    let worstOut = 0;
    for (let t = 0; t < ids.length; t++) {
      const x = mid.subarray(t * d, (t + 1) * d);
      const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / d + (config.rms_norm_eps as number));
      const xn = Array.from(x, (v, i) => (v / rms) * norm[i]!);
      const act = new Float64Array(ffn);
      for (let j = 0; j < ffn; j++) {
        let g = 0;
        let u = 0;
        for (let i = 0; i < d; i++) {
          g += xn[i]! * gateW[j * d + i]!;
          u += xn[i]! * upW[j * d + i]!;
        }
        act[j] = (g / (1 + Math.exp(-g))) * u;
        worstPost = Math.max(worstPost, Math.abs(act[j]! - post[t * ffn + j]!) / (1 + Math.abs(act[j]!)));
      }
      for (let i = 0; i < d; i++) {
        let o = 0;
        for (let j = 0; j < ffn; j++) o += post[t * ffn + j]! * downW[i * ffn + j]!;
        worstOut = Math.max(worstOut, Math.abs(o - out[t * d + i]!) / (1 + Math.abs(o)));
      }
    }
    assert.ok(worstPost < 1e-4, `mlp.hook_post vs direct: ${worstPost}`);
    assert.ok(worstOut < 1e-4, `down projection of mlp.hook_post vs hook_mlp_out: ${worstOut}`);
    assert.throws(() => engine.checkInterventions([addIntervention('blocks.1.mlp.hook_post', new Float32Array(d), 1)]), (err: unknown) => err instanceof UserError && /takes neuron interventions \(zero, set or mean listed neurons\), not add/.test(err.message));
  });
});

test('neuron interventions change only the named neurons: zeroed or set at mlp.hook_post, the rest bit for bit, and hook_mlp_out moves by exactly their down-projection columns', async () => {
  const config = familyConfig('llama', { layers: 2 });
  const { dir } = makeModel(config);
  const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
  const downW = readTensorF32(header, 'model.layers.1.mlp.down_proj.weight').data;
  const d = config.hidden_size;
  const ffn = config.intermediate_size as number;
  const hooks = ['blocks.1.hook_resid_mid', 'blocks.1.mlp.hook_post', 'blocks.1.hook_mlp_out'];
  await withEngine(dir, async (engine) => {
    const ids = engine.tokenizer.encode('Ablate two neurons and watch the rest stay put.');
    const base = await engine.forward(ids, { hooks });
    const zeroed = await engine.forward(ids, { hooks, interventions: [neuronIntervention('blocks.1.mlp.hook_post', ffn, [3, 40])] });
    const set = await engine.forward(ids, { hooks, interventions: [neuronIntervention('blocks.1.mlp.hook_post', ffn, [5], [2.5])] });
    const [p0, pz, ps] = [base, zeroed, set].map((r) => r.hooks.get('blocks.1.mlp.hook_post')!);
    assert.deepEqual(zeroed.hooks.get('blocks.1.hook_resid_mid'), base.hooks.get('blocks.1.hook_resid_mid'), 'upstream untouched');
    for (let t = 0; t < ids.length; t++) {
      for (let j = 0; j < ffn; j++) {
        const i = t * ffn + j;
        assert.equal(pz![i], j === 3 || j === 40 ? 0 : p0![i], `zeroed t${t} n${j}`);
        assert.equal(ps![i], j === 5 ? 2.5 : p0![i], `set t${t} n${j}`);
      }
      // hook_mlp_out moves by -act_j * down[:, j] for each zeroed neuron.
      for (let k = 0; k < d; k++) {
        const expected = base.hooks.get('blocks.1.hook_mlp_out')![t * d + k]! - p0![t * ffn + 3]! * downW[k * ffn + 3]! - p0![t * ffn + 40]! * downW[k * ffn + 40]!;
        const got = zeroed.hooks.get('blocks.1.hook_mlp_out')![t * d + k]!;
        assert.ok(Math.abs(got - expected) < 1e-4 * (1 + Math.abs(expected)), `mlp_out t${t} [${k}]: ${got} vs ${expected}`);
      }
    }
    assert.throws(() => neuronIntervention('blocks.1.mlp.hook_post', ffn, [ffn]), (err: unknown) => err instanceof UserError && new RegExp(`neuron ${ffn} is out of range \\(0-${ffn - 1}\\)`).test(err.message));
    assert.throws(() => engine.checkInterventions([neuronIntervention('blocks.1.hook_resid_post', ffn, [1])]), /a neuron intervention goes on blocks\.L\.mlp\.hook_post/);
  });
});

test('blocks.L.mlp.hook_post equals the MLP intermediate activation (act(gate_proj(x)) * up_proj(x), as transformers computes it) of the float64 reference, on every architecture the engine reads, at every layer and position', async () => {
  const families = ['llama', 'qwen2', 'qwen3', 'olmo2', 'phi3', 'gemma2', 'gemma3', 'llama-bias'] as const;
  for (const family of families) {
    const config = familyConfig(family, { layers: 2 });
    const dir = join(tempDir('pp-model-'), 'model');
    const weights = writeRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 7, sharpness: 0.5 });
    const engine = await Engine.load(dir, { weights: 'inline' });
    try {
      const ids = engine.tokenizer.encode('The keeper logs every ship that passes the rock.');
      const hooks = Array.from({ length: engine.spec.layers }, (_, l) => `blocks.${l}.mlp.hook_post`);
      const r = await engine.forward(ids, { hooks });
      const mlpPost: Float64Array[][] = [];
      referenceForward(engine.spec, weights, ids, { mlpPost });
      const ffn = engine.spec.ffn;
      let worst = 0;
      let scale = 0;
      for (let l = 0; l < engine.spec.layers; l++) {
        const mine = r.hooks.get(hooks[l]!)!;
        assert.equal(mine.length, ids.length * ffn);
        for (let t = 0; t < ids.length; t++) {
          for (let j = 0; j < ffn; j++) {
            const ref = mlpPost[l]![t]![j]!;
            scale = Math.max(scale, Math.abs(ref));
            worst = Math.max(worst, Math.abs(mine[t * ffn + j]! - ref));
          }
        }
      }
      console.log(`# ${family}: mlp.hook_post vs float64 reference, max abs error ${worst.toExponential(2)} (largest activation ${scale.toFixed(3)}), ${engine.spec.layers} layers x ${ids.length} positions x ${ffn} neurons`);
      assert.ok(scale > 0.01, `${family}: activations are not trivially zero`);
      assert.ok(worst < 1e-4 * Math.max(1, scale), `${family}: ${worst}`);
    } finally {
      await engine.dispose();
    }
  }
});
