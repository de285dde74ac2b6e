// float32, int8 and int4 weights on the engine side by side in one run (SmolLM2-135M shape, random
// weights in bench/out/, 2 threads): prefill of a 128-token prompt, decode of 32 tokens after it
// (best of 3 each), and the resident memory after each (each in its own process would be cleaner;
// here the three share one, so read the memory column as an upper bound for the later rows).

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { readConfig, streamRandomModelFolder } from '../src/engine/random-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'smollm2-135m-random');

async function main(): Promise<void> {
  if (!existsSync(join(OUT, 'model.safetensors'))) {
    mkdirSync(dirname(OUT), { recursive: true });
    streamRandomModelFolder(OUT, readConfig(SMOLLM), SMOLLM, { seed: 135, sharpness: 0.5 });
  }
  const ids = Array.from({ length: 128 }, (_, i) => 100 + ((i * 7919) % 30000));
  console.log('weights   prefill (128 tokens)   decode (32 tokens)   rss after');
  for (const weights of ['float32', 'int8', 'int4']) {
    const engine = await Engine.load(`${OUT}?weights=${weights}`, { threads: 2 });
    try {
      await engine.forward(ids, { logits: 'last' }); // builds the session
      let prefill = 0;
      let decode = 0;
      for (let run = 0; run < 3; run++) {
        const t0 = performance.now();
        let cache = (await engine.forward(ids, { keepCache: true, logits: 'last' })).cache!;
        prefill = Math.max(prefill, ids.length / ((performance.now() - t0) / 1000));
        const t1 = performance.now();
        for (let i = 0; i < 32; i++) cache = (await engine.forward([200 + i], { past: cache, logits: 'last' })).cache ?? cache;
        decode = Math.max(decode, 32 / ((performance.now() - t1) / 1000));
      }
      console.log(`${weights.padEnd(8)}  ${prefill.toFixed(0).padStart(8)} tok/s         ${decode.toFixed(1).padStart(7)} tok/s        ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
    } finally {
      await engine.dispose();
    }
  }
}

void main();
