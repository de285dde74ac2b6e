import { join } from 'node:path';
import { asFamily } from '../src/engine/arch.js';
import { Engine, type EngineOptions } from '../src/engine/engine.js';
import { readConfig, shrinkConfig, writeGgufModel, writeRandomModelFolder, type LlamaLikeConfig, type RandomFolderOptions } from '../src/engine/random-model.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';

export type Family = 'llama' | 'qwen2' | 'qwen3' | 'llama3-rope' | 'llama-bias';

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
