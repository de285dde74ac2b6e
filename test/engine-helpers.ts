import { join } from 'node:path';
import { asFamily } from '../src/engine/arch.js';
import { Engine, type EngineOptions } from '../src/engine/engine.js';
import { readConfig, shrinkConfig, writeGgufModel, writeRandomModelFolder, type LlamaLikeConfig, type RandomFolderOptions } from '../src/engine/random-model.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';

export type Family = 'llama' | 'qwen2' | 'qwen3' | 'olmo2' | 'phi3' | 'gemma2' | 'gemma3' | 'llama3-rope' | 'llama-bias';

/** A shrunk SmolLM2-shaped config turned into the named family. */
export function familyConfig(family: Family, shape: { layers?: number; hidden?: number; heads?: number; kvHeads?: number } = {}): LlamaLikeConfig {
  const base = shrinkConfig(readConfig(SMOLLM_DIR), { layers: 2, hidden: 64, heads: 4, kvHeads: 2, ...shape });
  switch (family) {
    case 'llama':
      return base;
    case 'qwen2':
      return { ...asFamily(base, 'qwen2'), tie_word_embeddings: false };
    case 'qwen3':
      return asFamily(base, 'qwen3');
    case 'olmo2':
      // OLMo-2: post norms, q/k norms over the whole projections, untied, rope base 500000.
      return { ...asFamily(base, 'olmo2'), tie_word_embeddings: false, rope_theta: 500000, rms_norm_eps: 1e-6 };
    case 'phi3':
      // Phi-3: fused qkv_proj and gate_up_proj, untied; every layer slides, with a window shorter
      // than the numerics prompt so the comparison runs past it.
      return { ...asFamily(base, 'phi3'), tie_word_embeddings: false };
    case 'gemma2':
      // Gemma 2: GeGLU, (1 + w) norms before and after each branch, sqrt(d) embeddings, soft-capped
      // scores and logits, even layers sliding with a window shorter than the numerics prompt.
      // query_pre_attn_scalar = head_dim, as in Gemma 2 2B and 9B (llama.cpp scales by head_dim).
      return { ...asFamily(base, 'gemma2'), hidden_act: undefined, hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: base.head_dim, attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 32, tie_word_embeddings: true };
    case 'gemma3':
      // Gemma 3 (text): Gemma 2's block without soft-capping, per-head (1 + w) q/k norms, five sliding
      // layers to one global, the sliding ones rotating with base 10000 and the global ones with 1e6
      // scaled linearly by 8 (as the 4B and larger models).
      return { ...asFamily(base, 'gemma3'), hidden_act: undefined, hidden_activation: 'gelu_pytorch_tanh', query_pre_attn_scalar: base.head_dim, sliding_window: 32, sliding_window_pattern: 6, rope_theta: 1e6, rope_local_base_freq: 10000, rope_scaling: { rope_type: 'linear', factor: 8 }, tie_word_embeddings: true };
    case 'llama-bias':
      // attention_bias: biases on q, k, v and o_proj (o_proj's is easy to leave unread).
      return { ...base, tie_word_embeddings: false, attention_bias: true };
    case 'llama3-rope':
      // Llama 3.1's scaling with a short original context, so it changes most rotary frequencies.
      // Untied, as in Llama 3.x 8B.
      return { ...base, tie_word_embeddings: false, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } };
  }
}

/** A random-weight model folder (and optionally the same weights as GGUF) in a fresh temp dir. */
export function makeModel(config: LlamaLikeConfig, options: RandomFolderOptions & { gguf?: boolean } = {}): { dir: string; gguf: string } {
  const root = tempDir('pp-model-');
  const dir = join(root, 'model');
  const gguf = join(root, 'model.gguf');
  const weights = writeRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 5, sharpness: 0.5, ...options });
  if (options.gguf) writeGgufModel(gguf, config, weights, SMOLLM_DIR);
  return { dir, gguf };
}

/** Load an engine, run `fn` with it, and release its sessions whatever happens. */
export async function withEngine<T>(dir: string, fn: (engine: Engine) => Promise<T>, options?: EngineOptions): Promise<T> {
  const engine = await Engine.load(dir, options);
  try {
    return await fn(engine);
  } finally {
    await engine.dispose();
  }
}
