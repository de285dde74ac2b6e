// Inventory items on the engine with and without prefix reuse, side by side in one run: the
// items of one persona share the chat template and the persona prompt, which EngineBackend
// computes once (its KV cache) and reuses. Prints the time per item for both, the ratio, and the
// largest difference between the two paths' option probabilities. Random weights in the
// SmolLM2-135M shape (bench/out/, written on first use; speed does not depend on the values).

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineBackend } from '../src/backends/engine.js';
import { Engine } from '../src/engine/engine.js';
import { readConfig, writeGgufModel, writeRandomModelFolder } from '../src/engine/random-model.js';
import { getInstrument } from '../src/instruments/index.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../src/probes/fidelity.js';
import type { ChatMessage } from '../src/backends/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const OUT_BF16 = join(ROOT, 'bench', 'out', 'smollm2-135m-random-bf16');
const ITEMS = 40;

const SYSTEM: ChatMessage = {
  role: 'system',
  content: 'You are Mara Voss, a night-shift archivist in a museum basement. Works alone among the boxes, prefers written notes to conversation, worries about misfiled records. You are very organized, very disciplined and very dependable; very reserved, very quiet and very solitary. Answer every question as Mara would.',
};

async function main(): Promise<void> {
  if (!existsSync(join(OUT, 'model.safetensors'))) {
    process.stderr.write(`generating random fp32 weights in the SmolLM2-135M shape -> ${OUT}\n`);
    mkdirSync(dirname(OUT), { recursive: true });
    writeRandomModelFolder(OUT, readConfig(SMOLLM), SMOLLM, { seed: 135, sharpness: 0.5 });
  }
  const instrument = getInstrument('ipip-neo-120');
  const prompts = instrument.items.slice(0, ITEMS).map((it): ChatMessage[] => [SYSTEM, { role: 'user', content: itemPrompt(it, instrument.options, DEFAULT_VARIANTS[0]!) }]);
  const backend = await EngineBackend.create({ model: OUT });
  const engine = await Engine.load(OUT);
  const optionIds = OPTION_DIGITS.map((o) => engine.tokenizer.encode(o)[0]!);
  const full = async (messages: ChatMessage[]) => {
    const lp = await engine.nextTokenLogProbs(engine.tokenizer.chatIds(messages));
    const p = optionIds.map((id) => Math.exp(lp[id]!));
    const s = p.reduce((a, b) => a + b, 0);
    return p.map((x) => x / s);
  };
  // Warm both paths (graph build, first sessions), on prompts that share nothing with the timed ones.
  for (const m of prompts.slice(0, 2)) {
    await backend.optionProbs({ messages: [{ role: 'system', content: 'warm-up' }, m[1]!], options: OPTION_DIGITS });
    await full([{ role: 'system', content: 'warm-up' }, m[1]!]);
  }
  // Interleaved halves, so drift in the machine's speed falls on both paths alike.
  const times = { reuse: 0, full: 0 };
  let maxDiff = 0;
  const tokens = engine.tokenizer.chatIds(prompts[0]!).length;
  for (const [i, m] of prompts.entries()) {
    let t = performance.now();
    const a = (await backend.optionProbs({ messages: m, options: OPTION_DIGITS })).probs;
    times.reuse += performance.now() - t;
    t = performance.now();
    const b = await full(m);
    times.full += performance.now() - t;
    a.forEach((x, k) => (maxDiff = Math.max(maxDiff, Math.abs(x - b[k]!))));
    if (i < 2) times.reuse = times.full = 0; // the first two items find and build the prefix: count the steady state
  }
  const n = ITEMS - 2;
  console.log(`inventory items under one persona (${tokens}-token prompts), SmolLM2-135M shape, ${n} items after the first two:`);
  console.log(`  without prefix reuse  ${(times.full / n).toFixed(1)} ms/item`);
  console.log(`  with prefix reuse     ${(times.reuse / n).toFixed(1)} ms/item`);
  console.log(`  ratio                 ${(times.full / times.reuse).toFixed(2)}x faster; largest option-probability difference ${maxDiff.toExponential(1)}`);
  await engine.dispose();
  await backend.close?.();

  // The same items on llamacpp, with and without its prefix reuse: first on the same float32
  // weights as F32 GGUF, then on bfloat16 weights (a BF16 folder for the engine, which computes
  // in float32 from them exactly; the same values as BF16 GGUF for llama.cpp), as checkpoints are
  // published. llama.cpp's F32 products are its slow path; BF16 is the one it is built for.
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
  const bf16Engine = await EngineBackend.create({ model: OUT_BF16 });
  let engineBf16 = 0;
  for (const m of prompts.slice(0, 2)) await bf16Engine.optionProbs({ messages: [{ role: 'system', content: 'warm-up' }, m[1]!], options: OPTION_DIGITS });
  for (const [i, m] of prompts.entries()) {
    const t = performance.now();
    await bf16Engine.optionProbs({ messages: m, options: OPTION_DIGITS });
    if (i >= 2) engineBf16 += performance.now() - t;
  }
  await bf16Engine.close?.();
  for (const [label, gguf, engineMs] of [
    ['F32 GGUF, the same float32 weights', `${OUT}.gguf`, times.reuse],
    ['BF16 GGUF; the engine on the same weights as a BF16 folder', `${OUT_BF16}.gguf`, engineBf16],
  ] as const) {
    const sides = { reuse: new LlamaCppBackend({ model: gguf, threads: 2 }), full: new LlamaCppBackend({ model: gguf, threads: 2, prefixReuse: false }) };
    const llamaTimes = { reuse: 0, full: 0 };
    for (const b of Object.values(sides)) for (const m of prompts.slice(0, 2)) await b.optionProbs({ messages: [{ role: 'system', content: 'warm-up' }, m[1]!], options: OPTION_DIGITS });
    for (const [i, m] of prompts.entries()) {
      for (const side of ['reuse', 'full'] as const) {
        const t = performance.now();
        await sides[side].optionProbs({ messages: m, options: OPTION_DIGITS });
        if (i >= 2) llamaTimes[side] += performance.now() - t;
      }
    }
    console.log(`llamacpp (node-llama-cpp, 2 threads), the same items, ${label}:`);
    console.log(`  without prefix reuse  ${(llamaTimes.full / n).toFixed(1)} ms/item`);
    console.log(`  with prefix reuse     ${(llamaTimes.reuse / n).toFixed(1)} ms/item; the engine with reuse ${(engineMs / n).toFixed(1)} ms/item: llamacpp/engine ${(llamaTimes.reuse / engineMs).toFixed(2)}x (target <= 1.5x)`);
    for (const b of Object.values(sides)) await b.close();
  }
}

await main();
