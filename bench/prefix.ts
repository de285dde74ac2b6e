// A whole inventory (the IPIP-NEO-120's 120 items) under one persona, as the fidelity probe asks
// it: the demo suite's first persona, conditioned by its first method (the real system prompt),
// each item worded by the probe. The items share the chat template and the persona prompt, which
// a backend with prefix reuse computes once and keeps. Side by side in one run, interleaved item
// by item (so drift in the machine's speed falls on both paths alike), on one engine (two would
// each keep ONNX Runtime threads spinning against the other's): prompt tokens run through the
// model and time per item with and without reuse, and the largest difference between the two
// paths' option probabilities. Then the same on `llamacpp:`, on float32 weights (F32 GGUF) and
// on bfloat16 weights (a BF16 folder for the engine; BF16 GGUF of the same values for llama.cpp).
// Random weights in the SmolLM2-135M shape (bench/out/, written on first use; speed does not
// depend on the values).

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineBackend } from '../src/backends/engine.js';
import { readConfig, writeGgufModel, writeRandomModelFolder } from '../src/engine/random-model.js';
import { getInstrument } from '../src/instruments/index.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../src/probes/fidelity.js';
import { suiteConditioning } from '../src/probes/conditioning.js';
import { loadSuite } from '../src/suite/load.js';
import type { Backend, ChatMessage } from '../src/backends/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const OUT_BF16 = join(ROOT, 'bench', 'out', 'smollm2-135m-random-bf16');
/** The first items find and keep the prefix: the steady state is counted after them. */
const WARM = 2;
/** Requests a suite keeps in flight by default (run.concurrency). */
const CONCURRENCY = 4;

interface Side {
  backend: Backend;
  ms: number;
}

/** Ask every item of `prompts` of each side in turn; time per item after the first WARM. */
async function interleaved(prompts: ChatMessage[][], sides: Side[], onProbs?: (probs: number[][]) => void): Promise<void> {
  for (const [i, messages] of prompts.entries()) {
    const probs: number[][] = [];
    for (const side of sides) {
      const t = performance.now();
      probs.push((await side.backend.optionProbs!({ messages, options: OPTION_DIGITS })).probs);
      if (i >= WARM) side.ms += performance.now() - t;
    }
    onProbs?.(probs);
  }
}

async function main(): Promise<void> {
  if (!existsSync(join(OUT, 'model.safetensors'))) {
    process.stderr.write(`generating random fp32 weights in the SmolLM2-135M shape -> ${OUT}\n`);
    mkdirSync(dirname(OUT), { recursive: true });
    writeRandomModelFolder(OUT, readConfig(SMOLLM), SMOLLM, { seed: 135, sharpness: 0.5 });
  }
  const suite = loadSuite(join(ROOT, 'examples', 'demo.yaml'));
  const persona = suite.personas[0]!;
  const system = suiteConditioning(suite, persona, suite.methods[0]!);
  const instrument = getInstrument('ipip-neo-120');
  const prompts = instrument.items.map((it): ChatMessage[] => [...system, { role: 'user', content: itemPrompt(it, instrument.options, DEFAULT_VARIANTS[0]!) }]);
  const n = prompts.length - WARM;

  const reuse: Side = { backend: await EngineBackend.create({ model: OUT, threads: 2 }), ms: 0 };
  const whole: Side = { backend: await EngineBackend.create({ model: OUT, threads: 2, prefixReuse: false }), ms: 0 };
  let maxDiff = 0;
  await interleaved(prompts, [reuse, whole], ([a, b]) => a!.forEach((x, k) => (maxDiff = Math.max(maxDiff, Math.abs(x - b![k]!)))));
  const tokens = (s: Side) => (s.backend as EngineBackend).prefix;
  console.log(`the IPIP-NEO-120 under "${persona.name}" (demo suite, ${suite.methods[0]!.id}), ${prompts.length} items, SmolLM2-135M shape, 2 threads; times over the ${n} items after the first ${WARM}:`);
  console.log(`  without prefix reuse  ${tokens(whole).evaluated} prompt tokens run, ${(whole.ms / n).toFixed(1)} ms/item`);
  console.log(`  with prefix reuse     ${tokens(reuse).evaluated} run (${tokens(reuse).reused} served from the kept prefix), ${(reuse.ms / n).toFixed(1)} ms/item`);
  console.log(`  ratio                 ${(tokens(whole).evaluated / tokens(reuse).evaluated).toFixed(2)}x fewer tokens, ${(whole.ms / reuse.ms).toFixed(2)}x faster per item (target >= 2x); largest option-probability difference ${maxDiff.toExponential(1)}`);
  // As a suite runs them: CONCURRENCY requests in flight (the run settings' default), which the backend packs into one call over the kept prefix.
  const together = await EngineBackend.create({ model: OUT, threads: 2 });
  let togetherMs = 0;
  for (let i = 0; i < prompts.length; i += CONCURRENCY) {
    const t = performance.now();
    await Promise.all(prompts.slice(i, i + CONCURRENCY).map((messages) => together.optionProbs({ messages, options: OPTION_DIGITS })));
    if (i >= CONCURRENCY) togetherMs += performance.now() - t;
  }
  const m = prompts.length - CONCURRENCY;
  console.log(`  with reuse, ${CONCURRENCY} in flight (packed ${together.packed.calls} calls of ${together.packed.prompts} prompts): ${(togetherMs / m).toFixed(1)} ms/item, ${((whole.ms / n) / (togetherMs / m)).toFixed(2)}x faster than without reuse one at a time`);

  // The same items on llamacpp.
  if (!existsSync(`${OUT}.gguf`)) {
    console.log('llamacpp: no GGUF of these weights (npm run bench:engine writes it); skipped');
    return;
  }
  if (!existsSync(`${OUT_BF16}.gguf`)) {
    process.stderr.write(`writing the same shape with bfloat16 weights -> ${OUT_BF16} (+ .gguf)\n`);
    const config = readConfig(SMOLLM);
    writeGgufModel(`${OUT_BF16}.gguf`, config, writeRandomModelFolder(OUT_BF16, config, SMOLLM, { seed: 135, sharpness: 0.5, dtype: 'BF16' }), SMOLLM, 'persona-probe random model (bf16)', 'bf16');
  }
  const { LlamaCppBackend } = await import('../src/backends/llamacpp.js');
  const bf16: Side = { backend: await EngineBackend.create({ model: OUT_BF16, threads: 2 }), ms: 0 };
  await interleaved(prompts, [bf16]);
  for (const [label, gguf, engineMs] of [
    ['F32 GGUF, the same float32 weights', `${OUT}.gguf`, reuse.ms],
    ['BF16 GGUF; the engine on the same values as a BF16 folder', `${OUT_BF16}.gguf`, bf16.ms],
  ] as const) {
    const llama = { reuse: { backend: new LlamaCppBackend({ model: gguf, threads: 2 }), ms: 0 }, whole: { backend: new LlamaCppBackend({ model: gguf, threads: 2, prefixReuse: false }), ms: 0 } };
    await interleaved(prompts, [llama.reuse, llama.whole]);
    console.log(`llamacpp (node-llama-cpp, 2 threads), the same items, ${label}:`);
    console.log(`  without prefix reuse  ${(llama.whole.ms / n).toFixed(1)} ms/item`);
    console.log(`  with prefix reuse     ${(llama.reuse.ms / n).toFixed(1)} ms/item; the engine with reuse ${(engineMs / n).toFixed(1)} ms/item: llamacpp/engine ${(llama.reuse.ms / engineMs).toFixed(2)}x (target <= 1.5x)`);
    for (const side of Object.values(llama)) await side.backend.close?.();
  }
}

await main();
