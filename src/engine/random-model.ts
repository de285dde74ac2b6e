// Seeded random-weight models in the shape of any Llama-family config.json, for
// tests and benchmarks (no real weights reach this workplace). Speed does not
// depend on weight values, and numerics can be checked exactly against another
// implementation on the same weights.

import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import { writeAll } from '../util/files.js';
import type { WeightQuant } from './quantize.js';
import { join } from 'node:path';
import { createRng } from '../util/rng.js';
import { toBf16Bits } from './formats/half.js';
import { GgmlType, fromHalf, gguf, toHalf, writeGguf, type GgufTensor, type GgufValue } from './formats/gguf.js';
import { safetensorsHeader, safetensorsPreamble, writeSafetensors, type TensorToWrite } from './formats/safetensors.js';
import { archSpecOf, ropeInvFreq } from './arch.js';
import { expectedWeights } from './model-folder.js';

export interface LlamaLikeConfig {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim?: number;
  rms_norm_eps: number;
  rope_theta: number;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  bos_token_id?: number;
  eos_token_id?: number | number[];
  pad_token_id?: number;
  [key: string]: unknown;
}

export function readConfig(dir: string): LlamaLikeConfig {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as LlamaLikeConfig;
}

export function shrinkConfig(config: LlamaLikeConfig, shape: { layers?: number; hidden?: number; intermediate?: number; heads?: number; kvHeads?: number } = {}): LlamaLikeConfig {
  const heads = shape.heads ?? 4;
  const hidden = shape.hidden ?? 64;
  return {
    ...config,
    num_hidden_layers: shape.layers ?? 2,
    hidden_size: hidden,
    intermediate_size: shape.intermediate ?? hidden * 2,
    num_attention_heads: heads,
    num_key_value_heads: shape.kvHeads ?? Math.max(1, heads / 2),
    head_dim: hidden / heads,
  };
}

export interface Weight {
  /** Row-major shape, as in PyTorch / safetensors. */
  shape: number[];
  data: Float32Array;
}

export interface RandomWeightOptions {
  seed?: number;
  /** Multiplies the embedding scale: larger makes next-token distributions peakier. */
  sharpness?: number;
}

/**
 * Hugging Face tensor names -> seeded weights, for every tensor the architecture
 * reads (q/k/v biases for Qwen2, q/k norms for Qwen3, lm_head when untied).
 */
export function randomWeights(c: LlamaLikeConfig, options: RandomWeightOptions = {}): Map<string, Weight> {
  const out = new Map<string, Weight>();
  const stream = randomWeightStream(c, options);
  for (const { name, shape, count } of stream.tensors) {
    const data = new Float32Array(count);
    stream.fill(name, shape, data);
    out.set(name, { shape, data });
  }
  return out;
}

/**
 * The same seeded weights as randomWeights, drawn tensor by tensor and chunk by chunk
 * into buffers the caller gives: the draws come in the same order, so the values are
 * identical, and no more than one chunk need be held.
 */
export function randomWeightStream(c: LlamaLikeConfig, options: RandomWeightOptions = {}): { tensors: { name: string; shape: number[]; count: number }[]; fill(name: string, shape: number[], into: Float32Array): void } {
  const rng = createRng(options.seed ?? 1);
  const sharp = options.sharpness ?? 1;
  const tensors = [...expectedWeights(archSpecOf(c as Record<string, unknown>))].map(([name, shape]) => ({ name, shape, count: shape.reduce((a, b) => a * b, 1) }));
  return {
    tensors,
    fill(name, shape, data) {
      const n = data.length;
      if (name.endsWith('norm.weight')) for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * rng.normal();
      else if (name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = 0.1 * rng.normal();
      else {
        // Embeddings at unit scale (times sharpness) make next-token distributions peaky;
        // other matrices keep activations at unit scale (std 1/sqrt(fan_in)).
        const std = name === 'model.embed_tokens.weight' || name === 'lm_head.weight' ? sharp : 1 / Math.sqrt(shape[1]!);
        for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
      }
    },
  };
}

/**
 * llama.cpp's Llama graph rotates interleaved pairs, Hugging Face rotates halves;
 * its converter therefore reorders the rows of q_proj and k_proj within each head
 * (half i -> rows 2i, 2i+1). We do the same so both runtimes compute the same function.
 */
export function permuteForGguf(w: Weight, heads: number): Float32Array {
  // A bias [rows] permutes like a weight [rows, 1].
  const [rows, cols = 1] = w.shape as [number, number?];
  const hd = rows / heads;
  const half = hd / 2;
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [src, dst] of [[h * hd + i, h * hd + 2 * i], [h * hd + half + i, h * hd + 2 * i + 1]] as const) {
        out.set(w.data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number; content: string; special: boolean }[];
}

/** GGUF tokenizer metadata from a Hugging Face byte-level BPE tokenizer.json. */
export function ggufTokenizerMetadata(modelDir: string, config: LlamaLikeConfig): Record<string, GgufValue> {
  const tok = JSON.parse(readFileSync(join(modelDir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
  let chatTemplate: string | undefined;
  try {
    chatTemplate = (JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')) as { chat_template?: string }).chat_template;
  } catch {
    chatTemplate = undefined;
  }
  const tokens: string[] = new Array(config.vocab_size).fill('');
  const types: number[] = new Array(config.vocab_size).fill(1);
  for (const [text, id] of Object.entries(tok.model.vocab)) if (id < config.vocab_size) tokens[id] = text;
  for (const a of tok.added_tokens) {
    if (a.id >= config.vocab_size) continue;
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4; // CONTROL or USER_DEFINED
  }
  tokens.forEach((t, i) => {
    if (t === '') {
      tokens[i] = `[PAD${i}]`;
      types[i] = 5; // UNUSED
    }
  });
  const eos = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const meta: Record<string, GgufValue> = {
    'tokenizer.ggml.model': gguf.str('gpt2'),
    'tokenizer.ggml.pre': gguf.str('smollm'),
    'tokenizer.ggml.tokens': gguf.strings(tokens),
    'tokenizer.ggml.token_type': gguf.i32s(types),
    'tokenizer.ggml.merges': gguf.strings(tok.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m))),
    'tokenizer.ggml.add_bos_token': gguf.bool(false),
  };
  if (config.bos_token_id !== undefined) meta['tokenizer.ggml.bos_token_id'] = gguf.u32(config.bos_token_id);
  if (eos !== undefined) meta['tokenizer.ggml.eos_token_id'] = gguf.u32(eos);
  if (config.pad_token_id !== undefined) meta['tokenizer.ggml.padding_token_id'] = gguf.u32(config.pad_token_id);
  if (chatTemplate) meta['tokenizer.chat_template'] = gguf.str(chatTemplate);
  return meta;
}

const GGUF_ARCH = { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', olmo2: 'olmo2', phi3: 'phi3', gemma2: 'gemma2', gemma3: 'gemma3' } as const;

/**
 * Write Hugging Face-named weights as an F32 GGUF that llama.cpp / node-llama-cpp
 * load: llama (also Mistral and SmolLM2), qwen2 and qwen3. llama.cpp's Llama graph
 * rotates interleaved pairs, so q/k rows are permuted for it; Qwen uses NeoX-style
 * rotation and needs none. Llama 3 rope scaling becomes a rope_freqs tensor.
 */
/**
 * The weights as a GGUF for llama.cpp: every tensor F32, or the matrices as Q8_0/Q4_0 (`int8`,
 * `int4`: every matrix but the token embeddings, on the engine's grids) or as BF16 (`bf16`: every
 * matrix; the same weights when they are bfloat16 already, as a BF16 folder's are; others are rounded).
 */
export function writeGgufModel(path: string, config: LlamaLikeConfig, weights: Map<string, Weight>, tokenizerDir: string, name = 'persona-probe random model', storage?: WeightQuant | 'bf16'): void {
  const spec = archSpecOf(config as Record<string, unknown>);
  const arch = GGUF_ARCH[spec.family];
  const permute = arch === 'llama';
  const get = (n: string): Weight => {
    const w = weights.get(n);
    if (!w) throw new Error(`missing weight ${n}`);
    return w;
  };
  const t = (name: string, w: Weight, data = w.data): GgufTensor => ({ name, dims: [...w.shape].reverse(), type: GgmlType.F32, data });
  // llama.cpp multiplies by a norm's weight as stored; Gemma's (1 + w) is stored with the 1 added, as its converter does.
  const norm = (name: string, hf: string): GgufTensor => {
    const w = get(hf);
    return t(name, w, spec.normPlusOne ? w.data.map((x) => x + 1) : w.data);
  };
  const tensors: GgufTensor[] = [t('token_embd.weight', get('model.embed_tokens.weight'))];
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    if (spec.norms === 'pre') tensors.push(norm(`blk.${l}.attn_norm.weight`, `${p}.input_layernorm.weight`), norm(`blk.${l}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`));
    else {
      if (spec.norms === 'sandwich') tensors.push(norm(`blk.${l}.attn_norm.weight`, `${p}.input_layernorm.weight`), norm(`blk.${l}.ffn_norm.weight`, `${p}.pre_feedforward_layernorm.weight`));
      tensors.push(norm(`blk.${l}.post_attention_norm.weight`, `${p}.post_attention_layernorm.weight`), norm(`blk.${l}.post_ffw_norm.weight`, `${p}.post_feedforward_layernorm.weight`));
    }
    if (spec.fused) {
      // Phi-3: llama.cpp reads the stacked qkv and gate|up as they are (NeoX rotation, no permutation).
      tensors.push(t(`blk.${l}.attn_qkv.weight`, get(`${p}.self_attn.qkv_proj.weight`)), t(`blk.${l}.ffn_up.weight`, get(`${p}.mlp.gate_up_proj.weight`)));
    } else {
      const q = get(`${p}.self_attn.q_proj.weight`);
      const k = get(`${p}.self_attn.k_proj.weight`);
      tensors.push(
        t(`blk.${l}.attn_q.weight`, q, permute ? permuteForGguf(q, spec.heads) : q.data),
        t(`blk.${l}.attn_k.weight`, k, permute ? permuteForGguf(k, spec.kvHeads) : k.data),
        t(`blk.${l}.attn_v.weight`, get(`${p}.self_attn.v_proj.weight`)),
        t(`blk.${l}.ffn_gate.weight`, get(`${p}.mlp.gate_proj.weight`)),
        t(`blk.${l}.ffn_up.weight`, get(`${p}.mlp.up_proj.weight`)),
      );
    }
    tensors.push(t(`blk.${l}.attn_output.weight`, get(`${p}.self_attn.o_proj.weight`)), t(`blk.${l}.ffn_down.weight`, get(`${p}.mlp.down_proj.weight`)));
    if (spec.qkvBias) {
      for (const [x, heads] of [['q', spec.heads], ['k', spec.kvHeads], ['v', 0]] as const) {
        const b = get(`${p}.self_attn.${x}_proj.bias`);
        tensors.push(t(`blk.${l}.attn_${x}.bias`, b, permute && heads > 0 ? permuteForGguf(b, heads) : b.data));
      }
    }
    if (spec.oBias) tensors.push(t(`blk.${l}.attn_output.bias`, get(`${p}.self_attn.o_proj.bias`)));
    if (spec.qkNorm !== 'none') for (const x of ['q', 'k']) tensors.push(norm(`blk.${l}.attn_${x}_norm.weight`, `${p}.self_attn.${x}_norm.weight`));
  }
  tensors.push(norm('output_norm.weight', 'model.norm.weight'));
  if (!spec.tiedEmbeddings) tensors.push(t('output.weight', get('lm_head.weight')));
  if (spec.ropeScaling.kind === 'longrope') throw new UserError('GGUF: LongRoPE (rope_factors_long/short) is not written; compare such a model against the float64 reference instead');
  if (spec.ropeScaling.kind === 'llama3') {
    // llama.cpp divides each base frequency by its factor.
    const scaled = ropeInvFreq(spec);
    const base = ropeInvFreq({ ...spec, ropeScaling: { kind: 'none' } });
    const factors = Float32Array.from(base, (b, i) => b / scaled[i]!);
    tensors.push({ name: 'rope_freqs.weight', dims: [factors.length], type: GgmlType.F32, data: factors });
  }
  const meta: Record<string, GgufValue> = {
    'general.architecture': gguf.str(arch),
    'general.name': gguf.str(name),
    // llama.cpp's file types: all F32 (0), mostly Q4_0 (2), mostly Q8_0 (7), mostly BF16 (32).
    'general.file_type': gguf.u32(storage === 'int8' ? 7 : storage === 'int4' ? 2 : storage === 'bf16' ? 32 : 0),
    [`${arch}.vocab_size`]: gguf.u32(spec.vocab),
    [`${arch}.context_length`]: gguf.u32(spec.maxPositions),
    [`${arch}.embedding_length`]: gguf.u32(spec.dModel),
    [`${arch}.block_count`]: gguf.u32(spec.layers),
    [`${arch}.feed_forward_length`]: gguf.u32(spec.ffn),
    [`${arch}.rope.dimension_count`]: gguf.u32(spec.headDim),
    [`${arch}.attention.head_count`]: gguf.u32(spec.heads),
    [`${arch}.attention.head_count_kv`]: gguf.u32(spec.kvHeads),
    [`${arch}.attention.key_length`]: gguf.u32(spec.headDim),
    [`${arch}.attention.value_length`]: gguf.u32(spec.headDim),
    [`${arch}.attention.layer_norm_rms_epsilon`]: gguf.f32(spec.rmsEps),
    [`${arch}.rope.freq_base`]: gguf.f32(spec.ropeTheta),
    ...ggufTokenizerMetadata(tokenizerDir, config),
  };
  if (spec.slidingWindow !== undefined && (arch === 'phi3' || arch === 'gemma2' || arch === 'gemma3')) meta[`${arch}.attention.sliding_window`] = gguf.u32(spec.slidingWindow);
  if (spec.attnSoftcap !== undefined) meta[`${arch}.attn_logit_softcapping`] = gguf.f32(spec.attnSoftcap);
  if (spec.finalSoftcap !== undefined) meta[`${arch}.final_logit_softcapping`] = gguf.f32(spec.finalSoftcap);
  if (spec.ropeScaling.kind === 'linear') {
    meta[`${arch}.rope.scaling.type`] = gguf.str('linear');
    meta[`${arch}.rope.scaling.factor`] = gguf.f32(spec.ropeScaling.factor);
  }
  // Quantized: every matrix but the token embeddings (as the engine's int8/int4 weights), on the same grid.
  const quantType = storage === 'int8' ? GgmlType.Q8_0 : storage === 'int4' ? GgmlType.Q4_0 : undefined;
  const stored =
    storage === 'bf16'
      ? tensors.map((x) => (x.dims.length === 2 ? { ...x, type: GgmlType.BF16 } : x))
      : quantType === undefined
        ? tensors
        : tensors.map((x) => (x.dims.length === 2 && x.name !== 'token_embd.weight' ? { ...x, type: quantType } : x));
  writeGguf(path, meta, stored);
}

export type WeightDtype = 'F32' | 'F16' | 'BF16';

export interface RandomFolderOptions extends RandomWeightOptions {
  dtype?: WeightDtype;
  /** Split the weights over this many safetensors shards with an index (default 1: model.safetensors). */
  shards?: number;
}

/** Round float32 weights to the stored dtype, so every runtime sees the same values. */
function encodeAs(data: Float32Array, dtype: WeightDtype): { stored: Float32Array | Uint16Array; rounded: Float32Array } {
  if (dtype === 'F32') return { stored: data, rounded: data };
  const stored = new Uint16Array(data.length);
  const rounded = new Float32Array(data.length);
  const u32 = new Uint32Array(data.buffer, data.byteOffset, data.length);
  const r32 = new Uint32Array(rounded.buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'F16') {
      stored[i] = toHalf(data[i]!);
      rounded[i] = fromHalf(stored[i]!);
    } else {
      stored[i] = toBf16Bits(u32[i]!);
      r32[i] = stored[i]! << 16;
    }
  }
  return { stored, rounded };
}

/**
 * A Hugging Face model folder with seeded random weights: config.json, the
 * tokenizer files of `tokenizerDir`, and safetensors weights (sharded with an
 * index when asked). Returns the weights as the runtimes will see them (rounded to
 * the stored dtype), for writing the same model as GGUF.
 */
export function writeRandomModelFolder(dir: string, config: LlamaLikeConfig, tokenizerDir: string, options: RandomFolderOptions = {}): Map<string, Weight> {
  return writeModelFolder(dir, config, tokenizerDir, randomWeights(config, options), options);
}

/** config.json (with the stored dtype) and the tokenizer files of `tokenizerDir`. */
function writeFolderFiles(dir: string, config: LlamaLikeConfig, tokenizerDir: string, dtype: WeightDtype): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype] }, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json']) {
    if (existsSync(join(tokenizerDir, f))) copyFileSync(join(tokenizerDir, f), join(dir, f));
  }
}

/** Tensor names split over `shards` files as the writers do: the file of each shard and its names. */
function shardPlan(names: readonly string[], shards: number): { file: string; names: string[] }[] {
  const per = Math.ceil(names.length / shards);
  return Array.from({ length: shards }, (_, s) => ({
    file: shards === 1 ? 'model.safetensors' : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`,
    names: names.slice(s * per, (s + 1) * per),
  }));
}

function writeIndex(dir: string, plan: { file: string; names: string[] }[]): void {
  if (plan.length < 2) return;
  const weightMap = Object.fromEntries(plan.flatMap((p) => p.names.map((n) => [n, p.file])));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
}

/** Values drawn and written at a time by the streaming writer (16 MB of float32). */
const STREAM_CHUNK = 1 << 22;

/**
 * The folder writeRandomModelFolder writes, byte for byte, without holding the model:
 * each safetensors header is computed from the shapes, then every tensor is drawn,
 * rounded to the stored dtype and written a chunk at a time. For shapes too large for
 * memory (a 7B shape is 30 GB in float32); it returns nothing, as the weights are not kept.
 */
export function streamRandomModelFolder(dir: string, config: LlamaLikeConfig, tokenizerDir: string, options: RandomFolderOptions & { chunkValues?: number } = {}): { bytes: number } {
  const dtype = options.dtype ?? 'F32';
  writeFolderFiles(dir, config, tokenizerDir, dtype);
  const stream = randomWeightStream(config, options);
  const byName = new Map(stream.tensors.map((t) => [t.name, t]));
  const plan = shardPlan(stream.tensors.map((t) => t.name), Math.max(1, options.shards ?? 1));
  const width = dtype === 'F32' ? 4 : 2;
  let bytes = 0;
  for (const shard of plan) {
    const header = safetensorsHeader(shard.names.map((name) => ({ name, dtype, shape: byName.get(name)!.shape, byteLength: byName.get(name)!.count * width })), { format: 'pt' });
    const fd = openSync(join(dir, shard.file), 'w');
    try {
      const write = (b: Uint8Array) => {
        writeAll(fd, b);
        bytes += b.byteLength;
      };
      for (const part of safetensorsPreamble(header)) write(part);
      for (const name of shard.names) {
        const t = byName.get(name)!;
        // One tensor's draws, chunk by chunk: a scratch buffer is filled in the draw order.
        let left = t.count;
        while (left > 0) {
          const chunk = new Float32Array(Math.min(options.chunkValues ?? STREAM_CHUNK, left));
          stream.fill(name, t.shape, chunk);
          const { stored } = encodeAs(chunk, dtype);
          write(new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength));
          left -= chunk.length;
        }
      }
    } finally {
      closeSync(fd);
    }
  }
  writeIndex(dir, plan);
  return { bytes };
}

/** A Hugging Face model folder holding the given weights (see writeRandomModelFolder). */
export function writeModelFolder(dir: string, config: LlamaLikeConfig, tokenizerDir: string, weights: Map<string, Weight>, options: Pick<RandomFolderOptions, 'dtype' | 'shards'> = {}): Map<string, Weight> {
  const dtype = options.dtype ?? 'F32';
  writeFolderFiles(dir, config, tokenizerDir, dtype);
  const plan = shardPlan([...weights.keys()], Math.max(1, options.shards ?? 1));
  const rounded = new Map<string, Weight>();
  for (const { file, names } of plan) {
    const part = new Map<string, TensorToWrite>();
    for (const name of names) {
      const w = weights.get(name)!;
      const enc = encodeAs(w.data, dtype);
      part.set(name, { shape: w.shape, data: enc.stored, dtype });
      rounded.set(name, { shape: w.shape, data: enc.rounded });
    }
    writeSafetensors(join(dir, file), part, { format: 'pt' });
  }
  writeIndex(dir, plan);
  return rounded;
}
