// The MLP's hidden activations as a hook, blocks.L.mlp.hook_post (TransformerLens's name): the
// input of the down projection, [tokens, intermediate_size]. Checked against a direct
// computation from the layer's own weights and its hook_resid_mid, and against hook_mlp_out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensorsHeader, readTensorF32 } from '../src/engine/formats/safetensors.js';
import { addIntervention } from '../src/engine/interventions.js';
import { UserError } from '../src/util/errors.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';

test('blocks.L.mlp.hook_post is silu(gate) * up of the normed hook_resid_mid, and the down projection of it is hook_mlp_out; interventions on it are refused in one line', async () => {
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
    assert.throws(() => engine.checkInterventions([addIntervention('blocks.1.mlp.hook_post', new Float32Array(d), 1)]), (err: unknown) => err instanceof UserError && /can be read but not yet intervened on/.test(err.message));
  });
});
