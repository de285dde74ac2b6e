// Decode speed at a long context against a short one, side by side in one run, on the engine
// (SmolLM2-135M shape, random fp32 weights in bench/out/, 2 threads, 32 steps, best of 3), beside
// the ratio multiply-adds alone would give: per token, the matrix products cost the same at any
// context, while attention reads every cached key and value (2 * heads * head_dim * context
// multiply-adds per layer). Decode's products are bound by reading the weights, so the measured
// ratio can beat it; the bound that reading alone sets is printed beside it, and llama.cpp's own
// ratio on the same weights.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { readConfig, streamRandomModelFolder } from '../src/engine/random-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const STEPS = 32;

async function main(): Promise<void> {
  if (!existsSync(join(OUT, 'model.safetensors'))) {
    mkdirSync(dirname(OUT), { recursive: true });
    streamRandomModelFolder(OUT, readConfig(SMOLLM), SMOLLM, { seed: 135, sharpness: 0.5 });
  }
  const engine = await Engine.load(OUT, { threads: 2 });
  try {
    const s = engine.spec;
    const rate = async (context: number): Promise<{ tokPerS: number; capacity: number }> => {
      let best = 0;
      let capacity = 0;
      for (let run = 0; run < 3; run++) {
        const ids = Array.from({ length: context }, (_, i) => 100 + ((i * 7919) % 30000));
        let cache = (await engine.forward(ids, { keepCache: true, logits: 'last' })).cache!;
        const t0 = performance.now();
        for (let i = 0; i < STEPS; i++) cache = (await engine.forward([200 + i], { past: cache, logits: 'last' })).cache ?? cache;
        best = Math.max(best, STEPS / ((performance.now() - t0) / 1000));
        capacity = cache.capacity;
      }
      return { tokPerS: best, capacity };
    };
    const short = await rate(64);
    const long = await rate(2048);
    const matmul = s.layers * (s.dModel * (s.heads + 2 * s.kvHeads) * s.headDim + s.heads * s.headDim * s.dModel + 3 * s.dModel * s.ffn) + s.vocab * s.dModel;
    const attention = (context: number) => s.layers * 2 * s.heads * s.headDim * context;
    const byArithmetic = (matmul + attention(64 + STEPS / 2)) / (matmul + attention(2048 + STEPS / 2));
    // Bytes a step must read: every weight matrix once (float32), and the cache buffer's keys and values (float32).
    const weightBytes = 4 * matmul;
    const cacheBytes = (capacity: number) => s.layers * 2 * s.kvHeads * s.headDim * capacity * 4;
    const byBytes = (weightBytes + cacheBytes(short.capacity)) / (weightBytes + cacheBytes(long.capacity));
    console.log(`decode, SmolLM2-135M shape, 2 threads, best of 3 x ${STEPS} steps`);
    console.log(`  context 64:   ${short.tokPerS.toFixed(1)} tok/s (cache buffer ${short.capacity} slots)`);
    console.log(`  context 2048: ${long.tokPerS.toFixed(1)} tok/s (cache buffer ${long.capacity} slots)`);
    console.log(`  2048 / 64: ${(long.tokPerS / short.tokPerS).toFixed(2)}; by multiply-adds alone ${byArithmetic.toFixed(2)} (attention adds ${((attention(2048) / matmul) * 100).toFixed(0)}% to the per-token multiply-adds at 2048)`);
    console.log(`  by bytes read alone ${byBytes.toFixed(3)}: a step reads ${(weightBytes / 2 ** 20).toFixed(0)} MiB of weights, and ${(cacheBytes(short.capacity) / 2 ** 20).toFixed(1)} / ${(cacheBytes(long.capacity) / 2 ** 20).toFixed(1)} MiB of float32 cache at 64 / 2048`);
    const llama = await llamaCppRatio(`${OUT}.gguf`);
    if (llama) console.log(`  llama.cpp on the same weights (F32 GGUF, 2 threads; ${llama.kv} cache): ${llama.short.toFixed(1)} / ${llama.long.toFixed(1)} tok/s at 64 / 2048 = ${(llama.long / llama.short).toFixed(2)}`);
  } finally {
    await engine.dispose();
  }
}

/** The same measurement on llama.cpp (its default F16 cache), when the bench's GGUF exists (npm run bench:engine writes it). */
async function llamaCppRatio(gguf: string): Promise<{ short: number; long: number; kv: string } | undefined> {
  if (!existsSync(gguf)) return undefined;
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: gguf });
  const context = await model.createContext({ contextSize: 2048 + STEPS + 8, threads: 2 });
  try {
    const rate = async (n: number): Promise<number> => {
      let best = 0;
      for (let run = 0; run < 3; run++) {
        const seq = context.getSequence();
        const ids = Array.from({ length: n }, (_, i) => 100 + ((i * 7919) % 30000));
        await seq.evaluateWithoutGeneratingNewTokens(ids as never[]);
        let t0 = 0;
        let k = 0;
        // The first token is sampled from the prompt's logits; time the STEPS evaluations after it.
        for await (const _ of seq.evaluate([200] as never[], { temperature: 0 })) {
          if (k === 0) t0 = performance.now();
          if (++k > STEPS) break;
        }
        best = Math.max(best, STEPS / ((performance.now() - t0) / 1000));
        seq.dispose();
      }
      return best;
    };
    return { short: await rate(64), long: await rate(2048), kv: 'F16' };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

void main();
