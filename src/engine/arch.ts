// What the graph builder needs to know about a decoder, read from a Hugging Face
// config.json. One spec covers the Llama family (Llama 2/3.x, SmolLM2, TinyLlama,
// Mistral), Qwen2/2.5 (q/k/v biases) and Qwen3 (per-head q/k RMSNorm).

import { UserError } from '../util/errors.js';

export type ArchFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

export type RopeScaling =
  | { kind: 'none' }
  | { kind: 'linear'; factor: number }
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

export interface ArchSpec {
  family: ArchFamily;
  vocab: number;
  dModel: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositions: number;
  /** Unembedding reads the token embedding matrix (no lm_head.weight). */
  tiedEmbeddings: boolean;
  qkvBias: boolean;
  qkNorm: boolean;
  /** Mistral-style sliding window; sequences longer than this are refused rather than silently wrong. */
  slidingWindow?: number;
  bosTokenId?: number;
  eosTokenIds: number[];
}

export const SUPPORTED_ARCHITECTURES = ['llama', 'mistral', 'qwen2', 'qwen3'] as const;

/** The Hugging Face class name config.json's `architectures` lists for each family. */
export const ARCHITECTURE_CLASS: Record<ArchFamily, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' };

/** model_type or architecture class name -> family. */
const FAMILY_OF: Record<string, ArchFamily> = Object.fromEntries(SUPPORTED_ARCHITECTURES.flatMap((f) => [[f, f], [ARCHITECTURE_CLASS[f], f]]));

/** A config.json relabelled as another family (same shapes): for random test models. */
export function asFamily<C extends Record<string, unknown>>(config: C, family: ArchFamily): C {
  return { ...config, model_type: family, architectures: [ARCHITECTURE_CLASS[family]] };
}

type Json = Record<string, unknown>;

function num(config: Json, key: string, where: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (v === undefined && fallback !== undefined) return fallback;
  throw new UserError(`${where}: field ${key} is ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v)})`}`);
}

function ropeScalingOf(raw: unknown, where: string): RopeScaling {
  if (raw === null || raw === undefined) return { kind: 'none' };
  const r = raw as Json;
  const type = String(r.rope_type ?? r.type ?? '');
  const factor = Number(r.factor ?? 1);
  if (type === 'default') return { kind: 'none' };
  if (type === 'linear') return { kind: 'linear', factor };
  if (type === 'llama3') {
    return {
      kind: 'llama3',
      factor,
      lowFreqFactor: Number(r.low_freq_factor ?? 1),
      highFreqFactor: Number(r.high_freq_factor ?? 4),
      originalMaxPositions: Number(r.original_max_position_embeddings ?? 8192),
    };
  }
  throw new UserError(`${where}: rope_scaling type "${type}" is not supported (none, linear and llama3 are)`);
}

/** Parse and check a config.json object. `where` names the file in errors. */
export function archSpecOf(config: Json, where = 'config.json'): ArchSpec {
  const declared = [config.model_type, ...((config.architectures as string[] | undefined) ?? [])].filter((x): x is string => typeof x === 'string');
  const family = declared.map((d) => FAMILY_OF[d]).find((f) => f !== undefined);
  if (!family) {
    throw new UserError(`${where}: unsupported architecture ${JSON.stringify(declared[0] ?? 'unknown')} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UserError(`${where}: hidden_act "${String(act)}" is not supported (silu is)`);
  const partial = config.partial_rotary_factor;
  if (partial !== undefined && partial !== 1) throw new UserError(`${where}: partial_rotary_factor ${String(partial)} is not supported`);
  const dModel = num(config, 'hidden_size', where);
  const heads = num(config, 'num_attention_heads', where);
  const kvHeads = num(config, 'num_key_value_heads', where, heads);
  const headDim = typeof config.head_dim === 'number' ? config.head_dim : dModel / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new UserError(`${where}: head dimension ${headDim} must be an even integer`);
  if (heads % kvHeads !== 0) throw new UserError(`${where}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const eos = config.eos_token_id;
  const useSliding = family === 'mistral' || config.use_sliding_window === true;
  const window = typeof config.sliding_window === 'number' && useSliding ? config.sliding_window : undefined;
  return {
    family,
    vocab: num(config, 'vocab_size', where),
    dModel,
    layers: num(config, 'num_hidden_layers', where),
    heads,
    kvHeads,
    headDim,
    ffn: num(config, 'intermediate_size', where),
    rmsEps: num(config, 'rms_norm_eps', where, 1e-6),
    ropeTheta: num(config, 'rope_theta', where, 10000),
    ropeScaling: ropeScalingOf(config.rope_scaling, where),
    maxPositions: num(config, 'max_position_embeddings', where, 4096),
    tiedEmbeddings: config.tie_word_embeddings === true,
    qkvBias: family === 'qwen2' || config.attention_bias === true,
    qkNorm: family === 'qwen3',
    slidingWindow: window,
    bosTokenId: typeof config.bos_token_id === 'number' ? config.bos_token_id : undefined,
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
  };
}

/**
 * Rotary inverse frequencies, as Hugging Face computes them (float32), including
 * the llama3 and linear scalings. Index i rotates dimensions i and i + headDim/2.
 */
export function ropeInvFreq(spec: Pick<ArchSpec, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float64Array {
  const half = spec.headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * i) / spec.headDim)));
  const s = spec.ropeScaling;
  if (s.kind === 'linear') for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i]! / s.factor);
  if (s.kind === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen > lowWavelen) inv[i] = Math.fround(f / s.factor);
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = Math.fround((1 - smooth) * (f / s.factor) + smooth * f);
      }
    }
  }
  return inv;
}

/** cos and sin tables [count, headDim/2] for positions start .. start+count-1. */
export function ropeTables(invFreq: Float64Array, start: number, count: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(count * half);
  const sin = new Float32Array(count * half);
  for (let t = 0; t < count; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround((start + t) * invFreq[i]!);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}
