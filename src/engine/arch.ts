// What the graph builder needs to know about a decoder, read from a Hugging Face
// config.json. One spec covers the Llama family (Llama 2/3.x, SmolLM2, TinyLlama,
// Mistral), Qwen2/2.5 (q/k/v biases) and Qwen3 (per-head q/k RMSNorm).

import { UserError } from '../util/errors.js';

export type ArchFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'olmo2' | 'phi3' | 'gemma2' | 'gemma3';

export type RopeScaling =
  | { kind: 'none' }
  | { kind: 'linear'; factor: number }
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number }
  /**
   * Phi-3/3.5's LongRoPE: per-frequency factors (short ones up to originalMaxPositions, where
   * transformers switches the whole sequence to the long ones) and a scale on cos and sin.
   */
  | { kind: 'longrope'; shortFactor: number[]; longFactor: number[]; originalMaxPositions: number; attentionFactor: number };

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
  /** o_proj has a bias (Llama and Qwen3 with attention_bias). */
  oBias: boolean;
  /**
   * RMSNorm on queries and keys before rotation: per head (Qwen3: one weight of head_dim,
   * shared by the heads) or over the whole projection (OLMo-2: one weight of heads × head_dim).
   */
  qkNorm: 'none' | 'head' | 'full';
  /**
   * Where a block normalises: before attention and MLP (Llama, Qwen; input_layernorm and
   * post_attention_layernorm), after each, inside the residual branch (OLMo-2;
   * post_attention_layernorm and post_feedforward_layernorm, no input norm), or both (Gemma 2:
   * input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm).
   */
  norms: 'pre' | 'post' | 'sandwich';
  /** RMSNorm multiplies by (1 + weight) (Gemma), not by weight. */
  normPlusOne: boolean;
  /** The MLP's gate activation: SiLU (SwiGLU), or GELU with the tanh approximation (Gemma's GeGLU). */
  activation: 'silu' | 'gelu_tanh';
  /** Token embeddings are multiplied by sqrt(d_model) (Gemma). */
  embedScale: boolean;
  /** Queries are scaled by 1/sqrt(this) (head_dim, or Gemma 2's query_pre_attn_scalar). */
  queryScalar: number;
  /** Attention scores and final logits pass through cap * tanh(x / cap) (Gemma 2's soft-capping). */
  attnSoftcap?: number;
  finalSoftcap?: number;
  /** Sliding layers rotate with their own settings (Gemma 3: rope_local_base_freq); global layers with ropeTheta / ropeScaling. */
  localRope?: { theta: number; scaling: RopeScaling };
  /** q, k and v are stored as one qkv_proj, and gate and up as one gate_up_proj (Phi-3). */
  fused: boolean;
  /**
   * The sliding window, in tokens: a sliding layer's query attends to itself and the
   * window − 1 tokens before it (transformers: q − k < sliding_window).
   */
  slidingWindow?: number;
  /** Which layers slide (Mistral: all; Qwen2: from max_window_layers on; transformers 5: layer_types). */
  slidingLayers: boolean[];
  bosTokenId?: number;
  eosTokenIds: number[];
}

export const SUPPORTED_ARCHITECTURES = ['llama', 'mistral', 'qwen2', 'qwen3', 'olmo2', 'phi3', 'gemma2', 'gemma3'] as const;

/** The Hugging Face class name config.json's `architectures` lists for each family. */
export const ARCHITECTURE_CLASS: Record<ArchFamily, string> = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', olmo2: 'Olmo2ForCausalLM', phi3: 'Phi3ForCausalLM', gemma2: 'Gemma2ForCausalLM', gemma3: 'Gemma3ForCausalLM' };

/** The config.json model_type of each family, where it is not the family's name (Gemma 3's text model). */
export const MODEL_TYPE: Partial<Record<ArchFamily, string>> = { gemma3: 'gemma3_text' };

/** model_type or architecture class name -> family. */
const FAMILY_OF: Record<string, ArchFamily> = Object.fromEntries(SUPPORTED_ARCHITECTURES.flatMap((f) => [[MODEL_TYPE[f] ?? f, f], [ARCHITECTURE_CLASS[f], f]]));

/** A config.json relabelled as another family (same shapes): for random test models. */
export function asFamily<C extends Record<string, unknown>>(config: C, family: ArchFamily): C {
  // Gemma gates with the tanh GELU, and Gemma 3 slides five layers in six: a relabelled Llama config gets both.
  const gemma = family === 'gemma2' || family === 'gemma3' ? { hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh', sliding_window: config.sliding_window ?? 4096 } : {};
  return { ...config, ...gemma, model_type: MODEL_TYPE[family] ?? family, architectures: [ARCHITECTURE_CLASS[family]] };
}

type Json = Record<string, unknown>;

const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
};

function num(config: Json, key: string, where: string, fallback?: number): number {
  const v = config[key];
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw new UserError(`${where}: field ${key} is ${v === undefined ? 'missing' : `not a number (${show(v)})`}`);
}

/**
 * Config fields that never change a forward pass's numbers: bookkeeping, training-only
 * settings (dropout, initialisation), generation defaults the engine does not read, and
 * fields that are arithmetic no-ops at inference (pretraining_tp splits a matmul into
 * slices that sum to the same product). Every other field is either read by
 * `archSpecOf` or refused: a field that is present and unread is never replaced by a
 * default.
 */
const INERT_FIELDS = new Set([
  '_name_or_path', 'transformers_version', 'torch_dtype', 'dtype', 'use_bfloat16', 'use_cache', 'initializer_range',
  'attention_dropout', 'hidden_dropout', 'hidden_dropout_prob', 'attention_probs_dropout_prob', 'embd_pdrop', 'resid_pdrop',
  'pad_token_id', 'sep_token_id', 'decoder_start_token_id', 'is_llama_config', 'transformers.js_config', 'tokenizer_class',
  'output_attentions', 'output_hidden_states', 'return_dict', 'use_return_dict', 'torchscript', 'pretraining_tp',
  'id2label', 'label2id', 'problem_type', 'finetuning_task', 'task_specific_params', 'prefix', 'chunk_size_feed_forward',
  'is_decoder', 'is_encoder_decoder', 'add_cross_attention', 'tie_encoder_decoder', 'cross_attention_hidden_size',
  'max_length', 'min_length', 'do_sample', 'early_stopping', 'num_beams', 'num_beam_groups', 'diversity_penalty',
  'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty', 'length_penalty', 'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences', 'output_scores', 'return_dict_in_generate',
  'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values', 'exponential_decay_length_penalty',
  'suppress_tokens', 'begin_suppress_tokens', 'unsloth_version', 'unsloth_fixed',
  // Names the remote-code classes of a checkpoint (Phi-3's); the engine runs no remote code.
  'auto_map',
  // Gemma 2's choice of cache class in transformers (a sliding and a global cache): no effect on the numbers.
  'cache_implementation',
]);

/** Fields `archSpecOf` reads, or checks for a neutral value. */
const READ_FIELDS = new Set([
  'architectures', 'model_type', 'hidden_act', 'hidden_size', 'num_attention_heads', 'num_key_value_heads', 'head_dim',
  'vocab_size', 'num_hidden_layers', 'intermediate_size', 'rms_norm_eps', 'max_position_embeddings', 'tie_word_embeddings',
  'bos_token_id', 'eos_token_id', 'attention_bias', 'mlp_bias', 'rope_theta', 'rope_scaling', 'rope_parameters',
  'partial_rotary_factor', 'original_max_position_embeddings', 'rope_interleaved', 'sliding_window', 'use_sliding_window',
  'max_window_layers', 'layer_types', 'clip_qkv', 'hidden_activation', 'query_pre_attn_scalar', 'attn_logit_softcapping',
  'final_logit_softcapping', 'sliding_window_pattern', 'rope_local_base_freq',
]);

/** Refuse every field that is neither read nor inert (null counts as absent). */
function refuseUnreadFields(config: Json, where: string): void {
  for (const [key, value] of Object.entries(config)) {
    if (value === null || READ_FIELDS.has(key) || INERT_FIELDS.has(key)) continue;
    if (key === 'quantization_config') throw new UserError(`${where}: field quantization_config = ${show(value)} names a pre-quantized checkpoint, which the engine does not read (use the float16, bfloat16 or float32 weights)`);
    throw new UserError(`${where}: field ${key} = ${show(value)} is not read by the engine and may change the model's numbers; refusing rather than ignoring it`);
  }
}

/** A field that must hold a neutral value for the engine to compute what transformers computes. */
function requireNeutral(config: Json, key: string, neutral: unknown[], where: string, why: string): void {
  const v = config[key];
  if (v === undefined || v === null || neutral.includes(v)) return;
  throw new UserError(`${where}: field ${key} = ${show(v)} is not supported (${why})`);
}

/** The keys each rope type may carry besides rope_type/type and rope_theta, as transformers validates them. */
const ROPE_KEYS: Record<string, string[]> = {
  default: [],
  linear: ['factor'],
  llama3: ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings'],
  longrope: ['short_factor', 'long_factor', 'factor', 'attention_factor', 'original_max_position_embeddings'],
};

interface RopeSettings {
  theta: number;
  scaling: RopeScaling;
}

/**
 * One layer type's rotary settings, from a transformers 4 `rope_scaling` object or a
 * transformers 5 `rope_parameters` object (which also holds `rope_theta`).
 * `topTheta` is the top-level `rope_theta` (transformers 4), if any.
 */
function ropeSettingsOf(raw: Json, field: string, topTheta: number | undefined, config: Json, where: string): RopeSettings {
  const type = String(raw.rope_type ?? raw.type ?? 'default');
  const allowed = ROPE_KEYS[type];
  if (!allowed) throw new UserError(`${where}: ${field} rope_type "${type}" is not supported (${Object.keys(ROPE_KEYS).join(', ')} are)`);
  if (raw.rope_type !== undefined && raw.type !== undefined && raw.rope_type !== raw.type) {
    throw new UserError(`${where}: ${field} says rope_type "${String(raw.rope_type)}" and type "${String(raw.type)}"`);
  }
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'rope_type' || key === 'type' || key === 'rope_theta' || allowed.includes(key) || value === null) continue;
    if (key === 'partial_rotary_factor' && value === 1) continue;
    throw new UserError(`${where}: ${field}.${key} = ${show(value)} is not read for rope type "${type}"; refusing rather than ignoring it`);
  }
  let theta = topTheta;
  if (raw.rope_theta !== undefined && raw.rope_theta !== null) {
    const inner = num(raw, 'rope_theta', `${where}: ${field}`);
    if (topTheta !== undefined && inner !== topTheta) throw new UserError(`${where}: rope_theta ${topTheta} and ${field}.rope_theta ${inner} disagree`);
    theta = inner;
  }
  // transformers' default base for these families when no rope field is given at all.
  theta ??= 10000;
  if (!(theta > 0)) throw new UserError(`${where}: rope_theta ${theta} must be positive`);
  if (type === 'default') return { theta, scaling: { kind: 'none' } };
  if (type === 'longrope') return { theta, scaling: longropeOf(raw, field, config, where) };
  const need = (key: string): number => {
    const v = raw[key] ?? (key === 'original_max_position_embeddings' ? config.original_max_position_embeddings : undefined);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${where}: ${field}.${key} is ${v === undefined ? 'missing' : `not a number (${show(v)})`} (rope type "${type}" needs it)`);
    return v;
  };
  const factor = need('factor');
  if (!(factor > 0)) throw new UserError(`${where}: ${field}.factor ${factor} must be positive`);
  if (type === 'linear') return { theta, scaling: { kind: 'linear', factor } };
  // llama3. transformers 5 gives a top-level original_max_position_embeddings priority: refuse a disagreement.
  const top = config.original_max_position_embeddings;
  if (typeof top === 'number' && typeof raw.original_max_position_embeddings === 'number' && top !== raw.original_max_position_embeddings) {
    throw new UserError(`${where}: original_max_position_embeddings ${top} and ${field}.original_max_position_embeddings ${raw.original_max_position_embeddings} disagree`);
  }
  const scaling: RopeScaling = {
    kind: 'llama3',
    factor,
    lowFreqFactor: need('low_freq_factor'),
    highFreqFactor: need('high_freq_factor'),
    originalMaxPositions: need('original_max_position_embeddings'),
  };
  if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) throw new UserError(`${where}: ${field}.high_freq_factor must be greater than low_freq_factor`);
  return { theta, scaling };
}

/**
 * LongRoPE as transformers computes it: factor defaults to max_position_embeddings /
 * original_max_position_embeddings, and the scale on cos and sin to sqrt(1 + ln factor /
 * ln original) when factor > 1, else 1.
 */
function longropeOf(raw: Json, field: string, config: Json, where: string): RopeScaling {
  const half = (() => {
    const heads = config.num_attention_heads as number;
    const headDim = (config.head_dim as number | undefined) ?? (config.hidden_size as number) / heads;
    return headDim / 2;
  })();
  const factors = (key: string): number[] => {
    const v = raw[key];
    if (!Array.isArray(v) || v.length !== half || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      throw new UserError(`${where}: ${field}.${key} must list ${half} positive numbers (one per rotary frequency), got ${show(v)}`);
    }
    return v as number[];
  };
  const top = config.original_max_position_embeddings;
  const inner = raw.original_max_position_embeddings;
  if (typeof top === 'number' && typeof inner === 'number' && top !== inner) throw new UserError(`${where}: original_max_position_embeddings ${top} and ${field}.original_max_position_embeddings ${inner} disagree`);
  const original = inner ?? top;
  if (typeof original !== 'number' || !(original > 0)) throw new UserError(`${where}: rope type "longrope" needs original_max_position_embeddings (got ${show(original)})`);
  const maxPositions = config.max_position_embeddings;
  let factor = raw.factor;
  if (factor === undefined || factor === null) {
    if (typeof maxPositions !== 'number') throw new UserError(`${where}: rope type "longrope" needs max_position_embeddings or ${field}.factor`);
    factor = maxPositions / original;
  }
  if (typeof factor !== 'number' || !(factor > 0)) throw new UserError(`${where}: ${field}.factor must be a positive number, got ${show(factor)}`);
  let attentionFactor = raw.attention_factor;
  if (attentionFactor === undefined || attentionFactor === null) attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  if (typeof attentionFactor !== 'number' || !(attentionFactor > 0)) throw new UserError(`${where}: ${field}.attention_factor must be a positive number, got ${show(attentionFactor)}`);
  return { kind: 'longrope', shortFactor: factors('short_factor'), longFactor: factors('long_factor'), originalMaxPositions: original, attentionFactor };
}

const ATTENTION_TYPES = ['full_attention', 'sliding_attention'];

/** Each layer's attention type: from `layer_types` (transformers 5), else all full attention. */
function layerTypesOf(config: Json, layers: number, where: string): string[] {
  const raw = config.layer_types;
  if (raw === undefined || raw === null) return Array.from({ length: layers }, () => 'full_attention');
  if (!Array.isArray(raw) || raw.length !== layers) throw new UserError(`${where}: layer_types must list one type per layer (${layers}), got ${show(raw)}`);
  for (const t of raw) if (!ATTENTION_TYPES.includes(t as string)) throw new UserError(`${where}: layer_types holds "${String(t)}" (the engine implements ${ATTENTION_TYPES.join(' and ')})`);
  return raw as string[];
}

/**
 * Rotary settings for every layer, from either layout: transformers 4 keeps
 * `rope_theta` and `rope_scaling` at the top level; transformers 5 keeps one
 * `rope_parameters` object, or one per layer type when its keys are layer types.
 */
function ropeOf(config: Json, layerTypes: string[], where: string): RopeSettings[] {
  const topTheta = config.rope_theta === undefined || config.rope_theta === null ? undefined : num(config, 'rope_theta', where);
  const params = config.rope_parameters;
  const scaling = config.rope_scaling;
  for (const [name, v] of [['rope_parameters', params], ['rope_scaling', scaling]] as const) {
    if (v !== undefined && v !== null && (typeof v !== 'object' || Array.isArray(v))) throw new UserError(`${where}: ${name} is not an object (${show(v)})`);
  }
  if (params && scaling && JSON.stringify(params) !== JSON.stringify(scaling)) {
    // transformers 5 keeps rope_scaling as an alias of rope_parameters: two different values are ambiguous.
    throw new UserError(`${where}: rope_parameters ${show(params)} and rope_scaling ${show(scaling)} disagree`);
  }
  const raw = (params ?? scaling ?? {}) as Json;
  const field = params ? 'rope_parameters' : 'rope_scaling';
  const keys = Object.keys(raw);
  const perType = keys.length > 0 && keys.every((k) => ATTENTION_TYPES.includes(k));
  if (!perType) {
    const one = ropeSettingsOf(raw, field, topTheta, config, where);
    return layerTypes.map(() => one);
  }
  const byType = new Map<string, RopeSettings>();
  for (const type of new Set(layerTypes)) {
    const entry = raw[type];
    if (!entry || typeof entry !== 'object') throw new UserError(`${where}: ${field} has no entry for layer type "${type}"`);
    byType.set(type, ropeSettingsOf(entry as Json, `${field}.${type}`, topTheta, config, where));
  }
  return layerTypes.map((t) => byType.get(t)!);
}

/**
 * Parse and check a config.json object. `where` names the file in errors. Reads the
 * transformers 4 layout and the transformers 5 layout; every field is read, known to
 * be inert, or refused with one line naming it and its value.
 */
export function archSpecOf(config: Json, where = 'config.json'): ArchSpec {
  const declared = [config.model_type, ...((config.architectures as string[] | undefined) ?? [])].filter((x): x is string => typeof x === 'string');
  const family = declared.map((d) => FAMILY_OF[d]).find((f) => f !== undefined);
  if (!family) {
    throw new UserError(`${where}: unsupported architecture ${JSON.stringify(declared[0] ?? 'unknown')} (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  refuseUnreadFields(config, where);
  // Gemma 2 reads hidden_activation (GELU, tanh approximation); the others hidden_act (SiLU).
  const gemma = family === 'gemma2' || family === 'gemma3';
  for (const key of ['hidden_act', 'hidden_activation']) {
    const act = config[key];
    if (act === undefined || act === null) continue;
    const ok = gemma ? act === 'gelu_pytorch_tanh' || act === 'gelu_tanh' : act === 'silu' || act === 'swish';
    if (!ok) throw new UserError(`${where}: field ${key} = ${show(act)} is not supported (${gemma ? 'gelu_pytorch_tanh' : 'silu'} is, for ${family})`);
  }
  if (!gemma) for (const key of ['query_pre_attn_scalar', 'attn_logit_softcapping', 'final_logit_softcapping']) requireNeutral(config, key, [], where, `${family} has no ${key}`);
  requireNeutral(config, 'partial_rotary_factor', [1], where, 'the engine rotates whole heads');
  requireNeutral(config, 'mlp_bias', [false], where, 'the engine reads MLPs without biases');
  requireNeutral(config, 'rope_interleaved', [false], where, 'the engine rotates halves, as transformers does');
  requireNeutral(config, 'attention_bias', ['mistral', 'olmo2', 'phi3', 'gemma2', 'gemma3'].includes(family) ? [false] : [false, true], where, `${family}'s projections have no biases here`);
  // OLMo (1) clips q, k and v; OLMo-2 has no clipping, and a config that sets it is another model.
  requireNeutral(config, 'clip_qkv', [], where, 'the engine does not clip q, k and v');
  const dModel = num(config, 'hidden_size', where);
  const heads = num(config, 'num_attention_heads', where);
  const kvHeads = num(config, 'num_key_value_heads', where, heads);
  const headDim = num(config, 'head_dim', where, dModel / heads);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new UserError(`${where}: head dimension ${headDim} must be an even integer`);
  if (heads % kvHeads !== 0) throw new UserError(`${where}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const layers = num(config, 'num_hidden_layers', where);
  const eos = config.eos_token_id;

  // Sliding windows: Mistral and Phi-3 slide every layer when sliding_window is set; Qwen2 only with
  // use_sliding_window, from layer max_window_layers on (transformers' default 28); transformers 5
  // lists each layer's type.
  // Gemma 3 without layer_types: every sliding_window_pattern-th layer is global, the rest slide.
  const pattern = family === 'gemma3' ? num(config, 'sliding_window_pattern', where, 6) : undefined;
  if (pattern !== undefined && !(Number.isInteger(pattern) && pattern >= 1)) throw new UserError(`${where}: sliding_window_pattern ${pattern} must be a positive integer`);
  if (family !== 'gemma3') requireNeutral(config, 'sliding_window_pattern', [], where, `${family} has no sliding_window_pattern`);
  const layerTypes = pattern !== undefined && (config.layer_types === undefined || config.layer_types === null) ? Array.from({ length: layers }, (_, l) => ((l + 1) % pattern === 0 ? 'full_attention' : 'sliding_attention')) : layerTypesOf(config, layers, where);
  const useSliding = config.use_sliding_window;
  if (useSliding !== undefined && useSliding !== null && typeof useSliding !== 'boolean') throw new UserError(`${where}: use_sliding_window is not a boolean (${show(useSliding)})`);
  if (useSliding === true && family !== 'qwen2') throw new UserError(`${where}: use_sliding_window is true, which ${family} does not have`);
  const windowValue = config.sliding_window === null || config.sliding_window === undefined ? undefined : num(config, 'sliding_window', where);
  const maxWindowLayers = num(config, 'max_window_layers', where, 28);
  const slidingLayers = Array.from({ length: layers }, (_, l) =>
    (config.layer_types !== undefined && config.layer_types !== null) || family === 'gemma3'
      ? layerTypes[l] === 'sliding_attention'
      : ((family === 'mistral' || family === 'phi3') && windowValue !== undefined) || (family === 'gemma2' && windowValue !== undefined && l % 2 === 0) || (useSliding === true && l >= maxWindowLayers),
  );
  const anySliding = slidingLayers.some(Boolean);
  if ((anySliding || useSliding === true) && windowValue === undefined) throw new UserError(`${where}: layers slide but sliding_window is not set`);
  if (windowValue !== undefined && !(Number.isInteger(windowValue) && windowValue >= 1)) throw new UserError(`${where}: sliding_window ${windowValue} must be a positive integer`);
  let rope = ropeOf(config, layerTypes, where);
  // Gemma 3's sliding layers rotate with rope_local_base_freq and no scaling (transformers 4); transformers 5
  // writes the same as per-layer-type rope_parameters. Both given: they must agree.
  if (family !== 'gemma3') requireNeutral(config, 'rope_local_base_freq', [], where, `${family} has one rope for every layer`);
  else if (config.rope_local_base_freq !== undefined && config.rope_local_base_freq !== null) {
    const local: RopeSettings = { theta: num(config, 'rope_local_base_freq', where), scaling: { kind: 'none' } };
    const perType = [config.rope_parameters, config.rope_scaling].some((v) => v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && Object.keys(v).every((k) => ATTENTION_TYPES.includes(k)));
    rope = rope.map((r, l) => {
      if (layerTypes[l] !== 'sliding_attention') return r;
      if (perType && JSON.stringify(r) !== JSON.stringify(local)) throw new UserError(`${where}: rope_local_base_freq ${local.theta} and the sliding layers' rope_parameters ${show(r)} disagree`);
      return local;
    });
  }
  // One rope for every layer; Gemma 3 alone has a second one, for its sliding layers.
  const globalAt = family === 'gemma3' ? Math.max(0, layerTypes.findIndex((t) => t !== 'sliding_attention')) : 0;
  const first = rope[globalAt]!;
  const slidingRope = family === 'gemma3' ? rope[layerTypes.indexOf('sliding_attention')] : undefined;
  rope.forEach((r, l) => {
    const expected = slidingRope && layerTypes[l] === 'sliding_attention' ? slidingRope : first;
    if (JSON.stringify(r) !== JSON.stringify(expected)) throw new UserError(`${where}: layer ${l} has other rotary settings than layer ${expected === first ? globalAt : layerTypes.indexOf('sliding_attention')}, which ${family} does not have`);
  });
  const localRope = slidingRope && JSON.stringify(slidingRope) !== JSON.stringify(first) ? slidingRope : undefined;
  const attentionBias = config.attention_bias === true;
  return {
    family,
    vocab: num(config, 'vocab_size', where),
    dModel,
    layers,
    heads,
    kvHeads,
    headDim,
    ffn: num(config, 'intermediate_size', where),
    rmsEps: num(config, 'rms_norm_eps', where, 1e-6),
    ropeTheta: first.theta,
    ropeScaling: first.scaling,
    ...(localRope ? { localRope } : {}),
    maxPositions: num(config, 'max_position_embeddings', where, 4096),
    tiedEmbeddings: config.tie_word_embeddings === true,
    qkvBias: family === 'qwen2' || attentionBias,
    // Llama and Qwen3 put attention_bias on o_proj too; Qwen2 never biases o_proj.
    oBias: attentionBias && family !== 'qwen2',
    qkNorm: family === 'qwen3' || family === 'gemma3' ? 'head' : family === 'olmo2' ? 'full' : 'none',
    norms: family === 'olmo2' ? 'post' : gemma ? 'sandwich' : 'pre',
    normPlusOne: gemma,
    activation: gemma ? 'gelu_tanh' : 'silu',
    embedScale: gemma,
    queryScalar: gemma ? num(config, 'query_pre_attn_scalar', where, headDim) : headDim,
    ...(gemma ? softcaps(config, where) : {}),
    fused: family === 'phi3',
    slidingWindow: anySliding ? windowValue : undefined,
    slidingLayers,
    bosTokenId: typeof config.bos_token_id === 'number' ? config.bos_token_id : undefined,
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
  };
}

/** Gemma 2's soft-capping values: a positive number, or absent (null) for none. */
function softcaps(config: Json, where: string): { attnSoftcap?: number; finalSoftcap?: number } {
  const out: { attnSoftcap?: number; finalSoftcap?: number } = {};
  for (const [key, field] of [['attn_logit_softcapping', 'attnSoftcap'], ['final_logit_softcapping', 'finalSoftcap']] as const) {
    if (config[key] === undefined || config[key] === null) continue;
    const v = num(config, key, where);
    if (!(v > 0)) throw new UserError(`${where}: ${key} ${v} must be positive (or null for none)`);
    out[field] = v;
  }
  return out;
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
  // LongRoPE up to original_max_position_embeddings: 1 / (short_factor * base^(2i/d)).
  if (s.kind === 'longrope') for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(s.shortFactor[i]! * Math.fround(spec.ropeTheta ** Math.fround((2 * i) / spec.headDim))));
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

/** The scale transformers puts on cos and sin (LongRoPE's attention factor; 1 otherwise). */
export const ropeAttentionScale = (scaling: RopeScaling): number => (scaling.kind === 'longrope' ? scaling.attentionFactor : 1);

/** cos and sin tables [count, headDim/2] for positions start .. start+count-1, times `scale`. */
export function ropeTables(invFreq: Float64Array, start: number, count: number, scale = 1): { cos: Float32Array; sin: Float32Array } {
  return ropeTablesAt(invFreq, Array.from({ length: count }, (_, t) => start + t), scale);
}

/** Rotary tables for tokens at the given positions (packed sequences each start again at 0). */
export function ropeTablesAt(invFreq: Float64Array, positions: readonly number[], scale = 1): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const count = positions.length;
  const cos = new Float32Array(count * half);
  const sin = new Float32Array(count * half);
  for (let t = 0; t < count; t++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(positions[t]! * invFreq[i]!);
      cos[t * half + i] = Math.fround(Math.cos(angle)) * Math.fround(scale);
      sin[t * half + i] = Math.fround(Math.sin(angle)) * Math.fround(scale);
    }
  }
  return { cos, sin };
}
