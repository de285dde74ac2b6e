// Seeded random-weight models in the shape of any Llama-family config.json, for
// tests and benchmarks (no real weights reach this workplace). Speed does not
// depend on weight values, and numerics can be checked exactly against another
// implementation on the same weights.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '../util/rng.js';
import { GgmlType, gguf, writeGguf, type GgufTensor, type GgufValue } from './formats/gguf.js';

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

export function headDim(c: LlamaLikeConfig): number {
  return c.head_dim ?? c.hidden_size / c.num_attention_heads;
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

/** Hugging Face tensor names -> seeded weights. */
export function randomWeights(c: LlamaLikeConfig, options: RandomWeightOptions = {}): Map<string, Weight> {
  const rng = createRng(options.seed ?? 1);
  const sharp = options.sharpness ?? 1;
  const hd = headDim(c);
  const D = c.hidden_size;
  const out = new Map<string, Weight>();
  const mat = (name: string, rows: number, cols: number, std: number) => {
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
    out.set(name, { shape: [rows, cols], data });
  };
  const norm = (name: string, n: number) => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * rng.normal();
    out.set(name, { shape: [n], data });
  };
  mat('model.embed_tokens.weight', c.vocab_size, D, 1.0 * sharp);
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, D);
    mat(`${p}.self_attn.q_proj.weight`, c.num_attention_heads * hd, D, 1 / Math.sqrt(D));
    mat(`${p}.self_attn.k_proj.weight`, c.num_key_value_heads * hd, D, 1 / Math.sqrt(D));
    mat(`${p}.self_attn.v_proj.weight`, c.num_key_value_heads * hd, D, 1 / Math.sqrt(D));
    mat(`${p}.self_attn.o_proj.weight`, D, c.num_attention_heads * hd, 1 / Math.sqrt(c.num_attention_heads * hd));
    norm(`${p}.post_attention_layernorm.weight`, D);
    mat(`${p}.mlp.gate_proj.weight`, c.intermediate_size, D, 1 / Math.sqrt(D));
    mat(`${p}.mlp.up_proj.weight`, c.intermediate_size, D, 1 / Math.sqrt(D));
    mat(`${p}.mlp.down_proj.weight`, D, c.intermediate_size, 1 / Math.sqrt(c.intermediate_size));
  }
  norm('model.norm.weight', D);
  if (!c.tie_word_embeddings) mat('lm_head.weight', c.vocab_size, D, 1 / Math.sqrt(D));
  return out;
}

/**
 * llama.cpp's Llama graph rotates interleaved pairs, Hugging Face rotates halves;
 * its converter therefore reorders the rows of q_proj and k_proj within each head
 * (half i -> rows 2i, 2i+1). We do the same so both runtimes compute the same function.
 */
export function permuteForGguf(w: Weight, heads: number): Float32Array {
  const [rows, cols] = w.shape as [number, number];
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

/** Write Llama-architecture weights as an F32 GGUF that llama.cpp / node-llama-cpp load. */
export function writeLlamaGguf(path: string, config: LlamaLikeConfig, weights: Map<string, Weight>, tokenizerDir: string, name = 'persona-probe random model'): void {
  const hd = headDim(config);
  const get = (n: string): Weight => {
    const w = weights.get(n);
    if (!w) throw new Error(`missing weight ${n}`);
    return w;
  };
  const t = (name: string, w: Weight, data = w.data): GgufTensor => ({ name, dims: [...w.shape].reverse(), type: GgmlType.F32, data });
  const tensors: GgufTensor[] = [t('token_embd.weight', get('model.embed_tokens.weight'))];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const q = get(`${p}.self_attn.q_proj.weight`);
    const k = get(`${p}.self_attn.k_proj.weight`);
    tensors.push(
      t(`blk.${l}.attn_norm.weight`, get(`${p}.input_layernorm.weight`)),
      t(`blk.${l}.attn_q.weight`, q, permuteForGguf(q, config.num_attention_heads)),
      t(`blk.${l}.attn_k.weight`, k, permuteForGguf(k, config.num_key_value_heads)),
      t(`blk.${l}.attn_v.weight`, get(`${p}.self_attn.v_proj.weight`)),
      t(`blk.${l}.attn_output.weight`, get(`${p}.self_attn.o_proj.weight`)),
      t(`blk.${l}.ffn_norm.weight`, get(`${p}.post_attention_layernorm.weight`)),
      t(`blk.${l}.ffn_gate.weight`, get(`${p}.mlp.gate_proj.weight`)),
      t(`blk.${l}.ffn_up.weight`, get(`${p}.mlp.up_proj.weight`)),
      t(`blk.${l}.ffn_down.weight`, get(`${p}.mlp.down_proj.weight`)),
    );
  }
  tensors.push(t('output_norm.weight', get('model.norm.weight')));
  if (!config.tie_word_embeddings) tensors.push(t('output.weight', get('lm_head.weight')));
  const meta: Record<string, GgufValue> = {
    'general.architecture': gguf.str('llama'),
    'general.name': gguf.str(name),
    'general.file_type': gguf.u32(0),
    'llama.vocab_size': gguf.u32(config.vocab_size),
    'llama.context_length': gguf.u32(config.max_position_embeddings),
    'llama.embedding_length': gguf.u32(config.hidden_size),
    'llama.block_count': gguf.u32(config.num_hidden_layers),
    'llama.feed_forward_length': gguf.u32(config.intermediate_size),
    'llama.rope.dimension_count': gguf.u32(hd),
    'llama.attention.head_count': gguf.u32(config.num_attention_heads),
    'llama.attention.head_count_kv': gguf.u32(config.num_key_value_heads),
    'llama.attention.key_length': gguf.u32(hd),
    'llama.attention.value_length': gguf.u32(hd),
    'llama.attention.layer_norm_rms_epsilon': gguf.f32(config.rms_norm_eps),
    'llama.rope.freq_base': gguf.f32(config.rope_theta),
    ...ggufTokenizerMetadata(tokenizerDir, config),
  };
  writeGguf(path, meta, tensors);
}
