// Config reading that cannot be silently wrong: the transformers 4 layout (top-level
// rope_theta / rope_scaling) and the transformers 5 layout (rope_parameters, per layer
// type where the config lists layer types) give the same model; a field the engine does
// not read is refused with one line naming it and its value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { archSpecOf, asFamily } from '../src/engine/arch.js';
import { Engine } from '../src/engine/engine.js';
import { openModelFolder } from '../src/engine/model-folder.js';
import { writeSafetensors } from '../src/engine/formats/safetensors.js';
import { readConfig, shrinkConfig } from '../src/engine/random-model.js';
import { UserError } from '../src/util/errors.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';

type Json = Record<string, unknown>;

/** The transformers 5 spelling of a transformers 4 config: rope settings moved into rope_parameters. */
function toTransformers5(config: Json): Json {
  const { rope_theta, rope_scaling, ...rest } = config;
  const scaling = (rope_scaling ?? { rope_type: 'default' }) as Json;
  return { ...rest, transformers_version: '5.18.0', rope_parameters: { ...scaling, rope_theta } };
}

/** A copy of a model folder with another config.json. */
function withConfig(dir: string, config: Json): string {
  const copy = join(tempDir('pp-config-'), 'model');
  cpSync(dir, copy, { recursive: true });
  writeFileSync(join(copy, 'config.json'), JSON.stringify(config, null, 2));
  return copy;
}

async function allLogits(dir: string, ids?: number[]): Promise<{ ids: number[]; logits: Float32Array }> {
  const engine = await Engine.load(dir, { weights: 'inline' });
  try {
    const prompt = ids ?? engine.tokenizer.encode('Is this persona realized by the model, or merely performed? We ask at every position.');
    const { logits } = await engine.forward(prompt, { logits: 'all' });
    return { ids: prompt, logits: logits! };
  } finally {
    await engine.dispose();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function refused(config: Json, pattern: RegExp): void {
  assert.throws(() => archSpecOf(config, 'model/config.json'), (err: unknown) => {
    assert.ok(err instanceof UserError, `a UserError, got ${String(err)}`);
    assert.match(err.message, /^model\/config\.json: /);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    assert.match(err.message, pattern);
    return true;
  });
}

test('config: the real SmolLM2 config.json is read whole (every field read or known inert), rope base 100000', () => {
  const spec = archSpecOf(readConfig(SMOLLM_DIR) as Json);
  assert.equal(spec.ropeTheta, 100000);
  assert.deepEqual(spec.ropeScaling, { kind: 'none' });
  assert.equal(spec.oBias, false);
});

test('config: a transformers 5 folder (rope_parameters) computes what the transformers 4 folder computes; the rope base is not defaulted', async () => {
  const v4 = familyConfig('llama', { layers: 2 }) as Json;
  assert.equal(v4.rope_theta, 100000, 'the SmolLM2 base, not the default 10000');
  const { dir } = makeModel(v4 as never);
  const v5 = toTransformers5(v4);
  assert.equal('rope_theta' in v5, false);
  assert.equal(archSpecOf(v5).ropeTheta, 100000);
  const reference = await allLogits(dir);
  const fromV5 = await allLogits(withConfig(dir, v5), reference.ids);
  assert.equal(maxAbsDiff(reference.logits, fromV5.logits), 0, 'same graph, same numbers');
  // The base matters: the default base a reader might fall back on gives other numbers.
  const defaulted = await allLogits(withConfig(dir, { ...v5, rope_parameters: { rope_type: 'default', rope_theta: 10000 } }), reference.ids);
  assert.ok(maxAbsDiff(reference.logits, defaulted.logits) > 1e-2, 'a rope base of 10000 changes the logits');
});

test('config: llama3 rope scaling reads the same from rope_scaling, rope_parameters and per-layer-type rope_parameters', async () => {
  const v4 = familyConfig('llama3-rope', { layers: 2 }) as Json;
  const v5 = toTransformers5(v4);
  const { rope_parameters, ...rest } = v5;
  const perType = { ...rest, layer_types: ['full_attention', 'full_attention'], rope_parameters: { full_attention: rope_parameters } };
  const spec4 = archSpecOf(v4);
  assert.equal(spec4.ropeScaling.kind, 'llama3');
  assert.equal(spec4.ropeTheta, 500000);
  assert.deepEqual(archSpecOf(v5), spec4);
  assert.deepEqual(archSpecOf(perType), spec4);
  const { dir } = makeModel(v4 as never);
  const reference = await allLogits(dir);
  const fromPerType = await allLogits(withConfig(dir, perType), reference.ids);
  assert.equal(maxAbsDiff(reference.logits, fromPerType.logits), 0);
});

test('config: a field the engine does not read is refused with one line naming it and its value', () => {
  const base = familyConfig('llama') as Json;
  const v5 = toTransformers5(base);
  refused({ ...base, attn_logit_softcapping: 30 }, /field attn_logit_softcapping = 30 is not supported \(llama has no attn_logit_softcapping\)/);
  refused({ ...v5, final_logit_softcapping: 50.5 }, /field final_logit_softcapping = 50\.5 is not supported/);
  refused({ ...base, hidden_activation: 'gelu_pytorch_tanh' }, /field hidden_activation = "gelu_pytorch_tanh"/);
  refused({ ...base, quantization_config: { quant_method: 'awq', bits: 4 } }, /quantization_config = \{"quant_method":"awq","bits":4\}.*pre-quantized/);
  refused({ ...base, mlp_bias: true }, /mlp_bias = true is not supported/);
  refused({ ...base, partial_rotary_factor: 0.5 }, /partial_rotary_factor = 0\.5/);
  refused({ ...base, rope_interleaved: true }, /rope_interleaved = true/);
  // Rope settings: unknown types, keys a type does not read, and two values for one thing.
  refused({ ...v5, rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4, original_max_position_embeddings: 32768 } }, /rope_parameters rope_type "yarn" is not supported/);
  refused({ ...v5, rope_parameters: { rope_type: 'linear', rope_theta: 1e4, factor: 2, attention_factor: 1.2 } }, /rope_parameters\.attention_factor = 1\.2 is not read for rope type "linear"/);
  refused({ ...v5, rope_theta: 20000 }, /rope_theta 20000 and rope_parameters\.rope_theta 100000 disagree/);
  refused({ ...v5, rope_scaling: { rope_type: 'linear', factor: 2 } }, /rope_parameters .* and rope_scaling .* disagree/);
  refused({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope_scaling\.low_freq_factor is missing/);
  refused({ ...base, rope_theta: '1e4' }, /field rope_theta is not a number \("1e4"\)/);
  // Per-layer-type rope settings that differ, on an architecture with one rope for all layers.
  refused(
    { ...v5, num_hidden_layers: 2, sliding_window: 64, layer_types: ['sliding_attention', 'full_attention'], rope_parameters: { sliding_attention: { rope_type: 'default', rope_theta: 10000 }, full_attention: { rope_type: 'default', rope_theta: 1e6 } } },
    /layer 1 has other rotary settings than layer 0/,
  );
  refused({ ...v5, layer_types: ['full_attention', 'chunked_attention'] }, /layer_types holds "chunked_attention"/);
  refused({ ...v5, layer_types: ['sliding_attention', 'full_attention'] }, /layers slide but sliding_window is not set/);
  // Null means absent, and inert fields pass.
  assert.equal(archSpecOf({ ...base, attn_logit_softcapping: null, initializer_range: 0.02, use_cache: false, head_dim: null, sliding_window: null }).headDim, 16);
});

test('config: sliding windows are taken from every layout, per layer', () => {
  const base = familyConfig('llama') as Json;
  assert.equal(archSpecOf({ ...base, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: 4096 }).slidingWindow, 4096);
  assert.equal(archSpecOf({ ...base, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: null }).slidingWindow, undefined);
  const qwen = { ...base, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], sliding_window: 32768, max_window_layers: 28 };
  assert.equal(archSpecOf({ ...qwen, use_sliding_window: false }).slidingWindow, undefined);
  // Qwen2 slides from layer max_window_layers on: none of 2 layers at 28, the second at 1.
  assert.equal(archSpecOf({ ...qwen, use_sliding_window: true }).slidingWindow, undefined);
  assert.deepEqual(archSpecOf({ ...qwen, use_sliding_window: true, max_window_layers: 1 }).slidingLayers, [false, true]);
  assert.equal(archSpecOf({ ...qwen, use_sliding_window: true, max_window_layers: 1 }).slidingWindow, 32768);
  const typed = archSpecOf({ ...base, sliding_window: 128, layer_types: ['sliding_attention', 'full_attention'] });
  assert.equal(typed.slidingWindow, 128);
  assert.deepEqual(typed.slidingLayers, [true, false]);
});

test('config: attention_bias puts a bias on o_proj for Llama (read, not ignored), and a tensor the graph does not read is refused', async () => {
  const config = { ...(familyConfig('llama', { layers: 1 }) as Json), attention_bias: true };
  const spec = archSpecOf(config);
  assert.equal(spec.qkvBias, true);
  assert.equal(spec.oBias, true);
  const { dir } = makeModel(config as never);
  const folder = openModelFolder(dir);
  assert.ok(folder.tensors.has('model.layers.0.self_attn.o_proj.bias'));
  // The o_proj bias is added: zeroing it changes the logits.
  const withBias = await allLogits(dir);
  const zeroed = withConfig(dir, config);
  const tensors = new Map([...folder.tensors.values()].map(({ info, file }) => {
    const bytes = readFileSync(file).subarray(info.fileOffset, info.fileOffset + info.byteLength);
    const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    return [info.name, { shape: info.shape, data: info.name.endsWith('o_proj.bias') ? new Float32Array(data.length) : data }] as const;
  }));
  writeSafetensors(join(zeroed, 'model.safetensors'), tensors);
  const withoutBias = await allLogits(zeroed, withBias.ids);
  assert.ok(maxAbsDiff(withBias.logits, withoutBias.logits) > 1e-4);
  // The same weights under a config without attention_bias: the bias tensors are unread, so the folder is refused.
  const mislabelled = withConfig(dir, { ...config, attention_bias: false });
  assert.throws(() => openModelFolder(mislabelled), /weight model\.layers\.0\.self_attn\.q_proj\.bias is not read by the engine's llama graph/);
});

test('config: an unread field is refused when the folder is loaded, naming the file', async () => {
  const { dir } = makeModel(familyConfig('qwen3', { layers: 1 }) as never);
  const bad = withConfig(dir, { ...readConfig(dir), rope_parameters: { rope_type: 'default', rope_theta: 1e6 }, rope_theta: undefined, sliding_window: 4096, use_sliding_window: false, max_window_layers: 1, qk_layernorm_eps: 1e-5 });
  await assert.rejects(Engine.load(bad), (err: Error) => err instanceof UserError && /config\.json: field qk_layernorm_eps = 0\.00001 is not read/.test(err.message));
});

test('sliding window: past the window a sliding layer sees exactly the last W tokens (against the same weights given only those tokens), with and without the KV cache', async () => {
  const W = 16;
  const plain = { ...(familyConfig('llama', { layers: 1 }) as Json), tie_word_embeddings: false };
  const windowed = { ...plain, model_type: 'mistral', architectures: ['MistralForCausalLM'], sliding_window: W };
  const { dir } = makeModel(plain as never);
  const mistral = withConfig(dir, windowed);
  const prompt = 'Persona probes ask whether a character is realized by the model or merely performed, turn by turn, under pressure. ';
  const tokenizer = await Engine.load(mistral, { weights: 'inline' });
  const ids = tokenizer.tokenizer.encode(prompt.repeat(3));
  await tokenizer.dispose();
  const full = await allLogits(mistral, ids);
  assert.ok(ids.length > 2 * W, `${ids.length} tokens`);
  const V = (config: Json) => (config.vocab_size as number);
  const last = (l: Float32Array) => l.subarray(l.length - V(plain), l.length);
  // One layer: the last position's output depends on the last W tokens only, and rotary attention
  // depends on relative positions only, so the full model given just those tokens must agree.
  const tail = await allLogits(dir, ids.slice(-W));
  const d = maxAbsDiff(last(full.logits), last(tail.logits));
  assert.ok(d < 1e-3, `windowed vs last-${W}-tokens logits differ by ${d}`);
  // And the window matters: the same weights without it give other logits there.
  const unwindowed = await allLogits(dir, ids);
  assert.ok(maxAbsDiff(last(full.logits), last(unwindowed.logits)) > 1e-2);
  // Decoding with the KV cache past the window agrees with recomputing from scratch.
  const engine = await Engine.load(mistral, { weights: 'inline' });
  try {
    const greedy = await engine.generate(ids.slice(0, W + 3), { maxTokens: W });
    assert.ok(greedy.tokens.length >= 4, `${greedy.tokens.length} tokens decoded`);
    console.log(`# window ${W}: max |dlogit| vs the last ${W} tokens alone ${d.toExponential(2)}; ${greedy.tokens.length} tokens decoded past the window, cached = uncached`);
    let seq = ids.slice(0, W + 3);
    for (const t of greedy.tokens) {
      const { logits } = await engine.forward(seq, { logits: 'last' });
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
      if (engine.tokenizer.stopIds.has(best)) break;
      assert.equal(best, t, 'cached and uncached decoding agree past the window');
      seq = [...seq, t];
    }
  } finally {
    await engine.dispose();
  }
});

test('sliding window per layer (Qwen2 from max_window_layers on): sliding one layer of two differs from sliding none and from sliding both', async () => {
  const base: Json = { ...(familyConfig('qwen2', { layers: 2 }) as Json), sliding_window: 8, use_sliding_window: false, max_window_layers: 2 };
  const { dir } = makeModel(base as never);
  const tokenizer = await Engine.load(dir, { weights: 'inline' });
  const ids = tokenizer.tokenizer.encode('One persona, many turns, and a window that slides over them as the talk goes on and on. '.repeat(2));
  await tokenizer.dispose();
  const lastRow = async (config: Json) => {
    const { logits } = await allLogits(withConfig(dir, config), ids);
    return logits.subarray(logits.length - (base.vocab_size as number));
  };
  const none = await lastRow(base);
  const second = await lastRow({ ...base, use_sliding_window: true, max_window_layers: 1 });
  const both = await lastRow({ ...base, use_sliding_window: true, max_window_layers: 0 });
  assert.ok(maxAbsDiff(none, second) > 1e-3 && maxAbsDiff(second, both) > 1e-3 && maxAbsDiff(none, both) > 1e-3);
  // The transformers 5 spelling of the same layout gives the same numbers.
  const typed = await lastRow({ ...base, use_sliding_window: true, max_window_layers: 1, layer_types: ['full_attention', 'sliding_attention'] });
  assert.equal(maxAbsDiff(second, typed), 0);
});

test('config: OLMo-2 reads as post norms with whole-projection q/k norms (both config layouts); clip_qkv, attention_bias and a Llama folder relabelled OLMo-2 are refused with one line', async () => {
  const olmo = familyConfig('olmo2') as Json;
  for (const config of [olmo, toTransformers5(olmo)]) {
    const spec = archSpecOf(config);
    assert.deepEqual([spec.family, spec.norms, spec.qkNorm, spec.ropeTheta], ['olmo2', 'post', 'full', 500000]);
  }
  assert.throws(() => archSpecOf({ ...olmo, clip_qkv: 8 }), (err: Error) => err instanceof UserError && /field clip_qkv = 8 is not supported \(the engine does not clip q, k and v\)/.test(err.message));
  assert.throws(() => archSpecOf({ ...olmo, attention_bias: true }), /field attention_bias = true is not supported/);
  // The folder's tensors must be OLMo-2's: a Llama folder relabelled (an input norm OLMo-2 has not) is refused by name.
  const llama = makeModel(familyConfig('llama'));
  assert.throws(() => openModelFolder(withConfig(llama.dir, { ...(readConfig(llama.dir) as Json), model_type: 'olmo2', architectures: ['Olmo2ForCausalLM'] })), /input_layernorm\.weight is not read by the engine's olmo2 graph/);
  // The same weights run as OLMo-2 give other numbers than read as Llama would: the norms are where OLMo-2 puts them.
  const model = makeModel(familyConfig('olmo2'));
  const engine = await Engine.load(model.dir);
  try {
    const ids = engine.tokenizer.encode('The quick brown fox');
    const r = await engine.forward(ids, { hooks: ['blocks.0.hook_attn_out', 'blocks.0.hook_resid_pre', 'blocks.0.hook_resid_mid'] });
    // resid_mid = resid_pre + attn_out, where attn_out is the post-normed branch (what is added).
    const [pre, attn, mid] = ['blocks.0.hook_resid_pre', 'blocks.0.hook_attn_out', 'blocks.0.hook_resid_mid'].map((h) => r.hooks.get(h)!);
    let worst = 0;
    for (let i = 0; i < mid!.length; i++) worst = Math.max(worst, Math.abs(mid![i]! - (pre![i]! + attn![i]!)));
    assert.ok(worst < 1e-5, `resid_mid - (resid_pre + attn_out) = ${worst}`);
  } finally {
    await engine.dispose();
  }
});

test('config: Phi-3 reads its fused qkv_proj and gate_up_proj and slides every layer when sliding_window is set; its long-rope scaling and a partial rotary factor are refused with one line', () => {
  const phi = familyConfig('phi3') as Json;
  const spec = archSpecOf({ ...phi, sliding_window: 2047, auto_map: { AutoConfig: 'configuration_phi3.Phi3Config' } });
  assert.deepEqual([spec.family, spec.fused, spec.norms, spec.qkNorm, spec.slidingWindow, spec.slidingLayers.every(Boolean)], ['phi3', true, 'pre', 'none', 2047, true]);
  assert.throws(() => archSpecOf({ ...phi, rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }), (err: Error) => err instanceof UserError && /longrope/.test(err.message) && !err.message.includes('\n'));
  assert.throws(() => archSpecOf({ ...phi, partial_rotary_factor: 0.75 }), /partial_rotary_factor = 0.75 is not supported/);
  const model = makeModel(familyConfig('phi3'));
  assert.deepEqual([...openModelFolder(model.dir).spec.family], [...'phi3']);
});

test('config: Gemma 2 reads GeGLU, (1 + w) sandwich norms, sqrt(d) embeddings, query_pre_attn_scalar, both soft-caps and even sliding layers; another activation, a soft-cap on a Llama and a bias are refused with one line', () => {
  const gemma = familyConfig('gemma2') as Json;
  const spec = archSpecOf({ ...gemma, query_pre_attn_scalar: 224, cache_implementation: 'hybrid', num_hidden_layers: 4 });
  assert.deepEqual([spec.norms, spec.normPlusOne, spec.activation, spec.embedScale, spec.queryScalar, spec.attnSoftcap, spec.finalSoftcap, spec.slidingLayers], ['sandwich', true, 'gelu_tanh', true, 224, 50, 30, [true, false, true, false]]);
  assert.equal(archSpecOf(toTransformers5({ ...gemma, layer_types: ['full_attention', 'sliding_attention'] })).slidingLayers.join(), 'false,true');
  assert.throws(() => archSpecOf({ ...gemma, hidden_activation: 'gelu' }), /field hidden_activation = "gelu" is not supported \(gelu_pytorch_tanh is, for gemma2\)/);
  assert.throws(() => archSpecOf({ ...(familyConfig('llama') as Json), final_logit_softcapping: 30 }), /field final_logit_softcapping = 30 is not supported \(llama has no final_logit_softcapping\)/);
  assert.throws(() => archSpecOf({ ...gemma, attention_bias: true }), /attention_bias = true is not supported/);
  assert.throws(() => archSpecOf({ ...gemma, attn_logit_softcapping: -1 }), /attn_logit_softcapping -1 must be positive/);
});

test('config: Gemma 3 (gemma3_text) reads its per-head (1 + w) q/k norms, sliding_window_pattern and a local rope base, in both layouts; one that disagrees with its rope_parameters is refused; make-model relabels a Llama config into a loadable Gemma', async () => {
  const g3 = familyConfig('gemma3', { layers: 12 }) as Json;
  const spec = archSpecOf(g3);
  assert.deepEqual([spec.family, spec.qkNorm, spec.normPlusOne, spec.attnSoftcap, spec.ropeTheta, spec.ropeScaling, spec.localRope], ['gemma3', 'head', true, undefined, 1e6, { kind: 'linear', factor: 8 }, { theta: 10000, scaling: { kind: 'none' } }]);
  assert.equal(spec.slidingLayers.map((s) => (s ? 's' : 'G')).join(''), 'sssssGsssssG');
  // transformers 5: layer_types and per-type rope_parameters say the same.
  const { rope_theta: _t, rope_scaling: _s, rope_local_base_freq: _l, sliding_window_pattern: _p, ...rest } = g3;
  const types = spec.slidingLayers.map((s) => (s ? 'sliding_attention' : 'full_attention'));
  const v5 = { ...rest, layer_types: types, rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 10000 } } };
  const spec5 = archSpecOf(v5);
  assert.deepEqual([spec5.ropeTheta, spec5.ropeScaling, spec5.localRope, spec5.slidingLayers], [spec.ropeTheta, spec.ropeScaling, spec.localRope, spec.slidingLayers]);
  assert.throws(() => archSpecOf({ ...v5, rope_local_base_freq: 20000 }), /rope_local_base_freq 20000 and the sliding layers' rope_parameters .* disagree/);
  assert.throws(() => archSpecOf({ ...(familyConfig('llama') as Json), rope_local_base_freq: 10000 }), /field rope_local_base_freq = 10000 is not supported \(llama has one rope for every layer\)/);
  for (const family of ['gemma2', 'gemma3'] as const) {
    const model = makeModel(asFamily(shrinkConfig(readConfig(SMOLLM_DIR)), family));
    const engine = await Engine.load(model.dir);
    try {
      assert.equal(engine.spec.family, family);
    } finally {
      await engine.dispose();
    }
  }
});

test('make-model streams: the folder written a chunk at a time is byte for byte the one written from memory (F32, F16, BF16, sharded), and the engine loads it', async () => {
  const { streamRandomModelFolder, writeRandomModelFolder } = await import('../src/engine/random-model.js');
  const { readdirSync } = await import('node:fs');
  const config = familyConfig('qwen2', { layers: 2 });
  for (const [dtype, shards] of [['F32', 1], ['F16', 1], ['BF16', 3]] as const) {
    const root = tempDir('pp-stream-');
    const options = { seed: 11, sharpness: 0.7, dtype, shards };
    writeRandomModelFolder(join(root, 'memory'), config, SMOLLM_DIR, options);
    // Chunks of 1,000 values, which divide no tensor: the draws run on across chunk boundaries.
    const { bytes } = streamRandomModelFolder(join(root, 'stream'), config, SMOLLM_DIR, { ...options, chunkValues: 1000 });
    const files = readdirSync(join(root, 'memory')).sort();
    assert.deepEqual(readdirSync(join(root, 'stream')).sort(), files);
    assert.equal(files.filter((f) => f.endsWith('.safetensors')).length, shards);
    let weightBytes = 0;
    for (const f of files) {
      const a = readFileSync(join(root, 'memory', f));
      assert.ok(a.equals(readFileSync(join(root, 'stream', f))), `${dtype}: ${f} differs`);
      if (f.endsWith('.safetensors')) weightBytes += a.length;
    }
    assert.equal(bytes, weightBytes, 'the bytes it reports are the bytes written');
  }
  const dir = join(tempDir('pp-stream-'), 'model');
  streamRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 1 });
  const engine = await Engine.load(dir);
  try {
    assert.equal((await engine.forward(engine.tokenizer.encode('Hello there.'))).logits.length, engine.spec.vocab);
  } finally {
    await engine.dispose();
  }
});

test('memory: the engine states its peak estimate (float32 weights per session, the largest weight while it is cast; a 16-bit folder cast once into a float32 copy in the engine cache) and refuses, in one line, a model the machine cannot hold', async () => {
  const { writeRandomModelFolder } = await import('../src/engine/random-model.js');
  const config = { ...familyConfig('llama', { layers: 2 }), tie_word_embeddings: false };
  const dir = join(tempDir('pp-mem-'), 'model');
  const weights = writeRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 1, dtype: 'BF16' });
  // The session holds every weight but the embedding, whose rows the engine reads from the file (it is held only as a tied unembedding).
  const embedding = weights.get('model.embed_tokens.weight')!.data.length;
  const params = [...weights.values()].reduce((n, w) => n + w.data.length, 0) - embedding;
  const largest = Math.max(...[...weights].filter(([n]) => n !== 'model.embed_tokens.weight').map(([, w]) => w.data.length));
  const cacheRoot = tempDir('pp-mem-cache-');
  const previous = process.env.PERSONA_PROBE_CACHE;
  process.env.PERSONA_PROBE_CACHE = cacheRoot;
  try {
    const engine = await Engine.load(dir, { weights: 'external', sessionCacheSize: 2 });
    let first: number[];
    try {
      const m = engine.memory;
      assert.deepEqual({ float32: m.float32Bytes, stored: m.storedBytes, cast: m.castBytes, sessions: m.sessions, inline: m.inline }, { float32: 4 * params, stored: 2 * params, cast: 6 * largest, sessions: 2, inline: false });
      assert.ok(m.total >= 2 * 4 * params + 6 * largest, 'two sessions of float32 weights and the largest weight being cast');
      first = [...(await engine.forward([1, 2, 3], { logits: 'all' })).logits];
    } finally {
      await engine.dispose();
    }
    // The bfloat16 weights reach the graph through a float32 copy in the engine cache, made once:
    // the next engine reads it as it is (the file does not grow) and computes the same logits.
    const { readdirSync, statSync } = await import('node:fs');
    const cacheDir = join(cacheRoot, 'engine', readdirSync(join(cacheRoot, 'engine')).find((f) => !f.startsWith('.'))!);
    const copy = readdirSync(cacheDir).find((f) => /^float32-\d+\.bin$/.test(f))!;
    const size = statSync(join(cacheDir, copy)).size;
    assert.ok(size >= 4 * params, `float32 copy of ${size} bytes for ${params} weights`);
    const again = await Engine.load(dir, { weights: 'external' });
    try {
      assert.deepEqual([...(await again.forward([1, 2, 3], { logits: 'all' })).logits], first);
    } finally {
      await again.dispose();
    }
    assert.equal(statSync(join(cacheDir, copy)).size, size, 'reused, not written again');
  } finally {
    if (previous === undefined) delete process.env.PERSONA_PROBE_CACHE;
    else process.env.PERSONA_PROBE_CACHE = previous;
  }
  await assert.rejects(Engine.load(dir, { memoryLimitBytes: 2 ** 20 }), (err: unknown) => err instanceof UserError && !err.message.includes('\n') && /the engine would need about [\d.]+ GiB at peak: [\d.]+ GiB of float32 weights × 1 session, plus [\d.]+ GiB while the largest 16-bit weight is cast.*; this machine has 0\.0 GiB/.test(err.message));
  const { cli } = await import('./helpers.js');
  const out = join(tempDir('pp-mem-'), 'acts.safetensors');
  const r = cli(['trace', '--model', dir, '--text', 'Hello.', '--hooks', 'blocks.0.hook_resid_post', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^memory: about [\d.]+ GiB at peak: [\d.]+ GiB of float32 weights × 1 session/m);
});

test('the engine cache drops the folders of models that are gone (their hard links held deleted weights on disk), and keeps live ones and copies', async () => {
  const { pruneEngineCache } = await import('../src/engine/engine.js');
  const { existsSync, mkdirSync, readdirSync, rmSync } = await import('node:fs');
  const cache = tempDir('pp-cache-');
  const previous = process.env.PERSONA_PROBE_CACHE;
  process.env.PERSONA_PROBE_CACHE = cache;
  try {
    const load = async (dir: string) => {
      const e = await Engine.load(dir, { weights: 'external' });
      await e.forward([1, 2, 3]);
      await e.dispose();
    };
    const gone = makeModel(familyConfig('llama', { layers: 1 }), { seed: 1 }).dir;
    const kept = makeModel(familyConfig('llama', { layers: 1 }), { seed: 2 }).dir;
    await load(gone);
    await load(kept);
    const root = join(cache, 'engine');
    assert.equal(readdirSync(root).length, 2, 'one cache folder per model');
    const copied = join(root, 'copied');
    mkdirSync(copied);
    writeFileSync(join(copied, 'weights-0.safetensors'), 'x');
    writeFileSync(join(copied, 'COPIED'), 'elsewhere\n');
    rmSync(gone, { recursive: true, force: true });
    assert.equal(pruneEngineCache(root), 1);
    assert.equal(readdirSync(root).length, 2, "the live model's links and the copy stay");
    assert.ok(existsSync(join(copied, 'weights-0.safetensors')));
  } finally {
    if (previous === undefined) delete process.env.PERSONA_PROBE_CACHE;
    else process.env.PERSONA_PROBE_CACHE = previous;
  }
});
