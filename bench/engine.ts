// Engine benchmark on the full SmolLM2-135M shape (random fp32 weights generated on
// the fly, never committed), side by side with node-llama-cpp on the same weights
// as F32 GGUF. Each runtime runs in its own child process so peak RSS is its own.
//
//   npm run bench:engine            (PERSONA_PROBE_BENCH_REPS=N to change repetitions)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig, streamRandomModelFolder, writeGgufModel, writeRandomModelFolder } from '../src/engine/random-model.js';
import * as ort from 'onnxruntime-node';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const PROMPT_TOKENS = 512;
const DECODE_TOKENS = 64;
const REPS = Number(process.env.PERSONA_PROBE_BENCH_REPS ?? 3);
const THREADS = availableParallelism();

interface PartResult {
  prefillTokS: number;
  decodeTokS: number;
  captureOverhead?: number;
  loadS: number;
  peakRssMB: number;
  /** The engine's floor: its weights as float32, the KV cache of the longest context, and the outputs asked for (MB). */
  floorMB?: number;
  /** RSS once the engine is loaded, before any session holds weights (MB). */
  beforeWeightsMB?: number;
  /** What actually ran: the runtime build and the threads it used. */
  runtime: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const promptIds = () => Array.from({ length: PROMPT_TOKENS }, (_, i) => 100 + ((i * 7919) % 40000));

/** The engine's floor (MB): its weights as float32, the KV cache of `context` tokens, and one row of logits. */
function floorOf(engine: import('../src/engine/engine.js').Engine, context: number): number {
  const spec = engine.spec;
  return (engine.folder.float32Bytes + spec.layers * 2 * spec.kvHeads * spec.headDim * context * 4 + spec.vocab * 4) / 2 ** 20;
}

async function engineBench(): Promise<PartResult> {
  const { Engine } = await import('../src/engine/engine.js');
  const t0 = performance.now();
  const engine = await Engine.load(OUT, { threads: THREADS });
  // The process before any weight is held: Node, ONNX Runtime and the tokenizer.
  const beforeWeightsMB = process.memoryUsage().rss / 2 ** 20;
  const ids = promptIds();
  const allResidPost = engine.resolveHooks('blocks.*.hook_resid_post');
  // Both layouts built before timing (session creation is load time, not run time).
  await engine.forward(ids.slice(0, 4));
  const loadS = (performance.now() - t0) / 1000;
  const timeIt = async (fn: () => Promise<unknown>) => {
    const s = performance.now();
    await fn();
    return (performance.now() - s) / 1000;
  };
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < REPS; r++) {
    prefill.push(await timeIt(() => engine.forward(ids, { logits: 'last' })));
    // Decode after the 512-token prompt, one token at a time through the KV cache.
    let state = await engine.forward(ids, { keepCache: true });
    decode.push(
      await timeIt(async () => {
        for (let k = 0; k < DECODE_TOKENS; k++) state = await engine.forward([ids[k]!], { past: state.cache, keepCache: true });
      }),
    );
  }
  const floorMB = floorOf(engine, PROMPT_TOKENS + DECODE_TOKENS);
  await engine.dispose();
  // Peak RSS of loading, prefill and decode (before the capture part loads a second copy).
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  // Capture overhead: prefill exposing all 30 hook_resid_post tensors vs none, with a
  // session per layout kept alive so both are measured warm, interleaved.
  const capture = await Engine.load(OUT, { threads: THREADS, sessionCacheSize: 2 });
  await capture.forward(ids.slice(0, 4));
  await capture.forward(ids.slice(0, 4), { hooks: allResidPost });
  const none: number[] = [];
  const all: number[] = [];
  for (let r = 0; r < REPS; r++) {
    none.push(await timeIt(() => capture.forward(ids, { logits: 'last' })));
    all.push(await timeIt(() => capture.forward(ids, { logits: 'last', hooks: allResidPost })));
  }
  await capture.dispose();
  return {
    prefillTokS: PROMPT_TOKENS / median(prefill),
    decodeTokS: DECODE_TOKENS / median(decode),
    captureOverhead: median(all) / median(none) - 1,
    loadS,
    peakRssMB,
    floorMB,
    beforeWeightsMB,
    runtime: `onnxruntime-node ${ort.env.versions.node ?? '?'} (CPU execution provider), ${THREADS} intra-op threads`,
  };
}

async function llamaCppBench(): Promise<PartResult> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: `${OUT}.gguf` });
  // llama.cpp's defaults (flash attention auto, F16 KV cache): what a user of it gets.
  const context = await model.createContext({ contextSize: 1024, batchSize: PROMPT_TOKENS, threads: THREADS });
  const loadS = (performance.now() - t0) / 1000;
  const runtime = `node-llama-cpp, llama.cpp ${llama.llamaCppRelease.release} (${llama.buildType} binary, gpu ${String(llama.gpu)}), ${context.currentThreads} threads`;
  const ids = promptIds() as never[];
  const prefill: number[] = [];
  const decode: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const seq = context.getSequence();
    let s = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    prefill.push((performance.now() - s) / 1000);
    s = performance.now();
    let n = 0;
    // The first generated token is sampled from the prefill's logits; time DECODE_TOKENS evaluations after it.
    for await (const _ of seq.evaluate([ids[PROMPT_TOKENS - 1]!], { temperature: 0 })) {
      if (n === 0) s = performance.now();
      if (++n > DECODE_TOKENS) break;
    }
    decode.push((performance.now() - s) / 1000);
    seq.dispose();
  }
  await context.dispose();
  await model.dispose();
  return { prefillTokS: PROMPT_TOKENS / median(prefill), decodeTokS: DECODE_TOKENS / median(decode), loadS, peakRssMB: process.resourceUsage().maxRSS / 1024, runtime };
}

/** Qwen2.5-1.5B's published shape (tied embeddings), with random bfloat16 weights: the size the issue measured at 10 GB from a 2.9 GB file. */
const LARGE = join(ROOT, 'bench', 'out', 'qwen2.5-1.5b-shape-bf16');
const LARGE_PROMPT = 256;
const LARGE_DECODE = 16;

interface MemoryResult {
  peakRssMB: number;
  floorMB: number;
  storedMB: number;
  beforeWeightsMB: number;
}

/** Load, prefill LARGE_PROMPT tokens keeping the cache, decode LARGE_DECODE: peak RSS against weights + KV cache + logits. */
async function largeMemoryBench(): Promise<MemoryResult> {
  const { Engine } = await import('../src/engine/engine.js');
  const engine = await Engine.load(LARGE, { threads: THREADS });
  const beforeWeightsMB = process.memoryUsage().rss / 2 ** 20;
  const ids = promptIds().slice(0, LARGE_PROMPT);
  let state = await engine.forward(ids, { keepCache: true });
  for (let k = 0; k < LARGE_DECODE; k++) state = await engine.forward([ids[k]!], { past: state.cache, keepCache: true });
  let stored = 0;
  for (const { info } of engine.folder.tensors.values()) stored += info.byteLength;
  const floorMB = floorOf(engine, LARGE_PROMPT + LARGE_DECODE);
  await engine.dispose();
  return { peakRssMB: process.resourceUsage().maxRSS / 1024, floorMB, storedMB: stored / 2 ** 20, beforeWeightsMB };
}

function runPart(part: string): PartResult {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--part', part], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${part} part failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as PartResult;
}

async function main(): Promise<void> {
  const partArg = process.argv.indexOf('--part');
  if (partArg >= 0) {
    const part = process.argv[partArg + 1];
    const result = part === 'engine' ? await engineBench() : part === 'large' ? await largeMemoryBench() : await llamaCppBench();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  if (!existsSync(join(OUT, 'model.safetensors')) || !existsSync(`${OUT}.gguf`)) {
    process.stderr.write(`generating random fp32 weights in the SmolLM2-135M shape -> ${OUT} (+ .gguf)\n`);
    mkdirSync(dirname(OUT), { recursive: true });
    const config = readConfig(SMOLLM);
    const weights = writeRandomModelFolder(OUT, config, SMOLLM, { seed: 135, sharpness: 0.5 });
    writeGgufModel(`${OUT}.gguf`, config, weights, SMOLLM);
  }
  process.stderr.write(`running engine and llama.cpp parts (${THREADS} threads, ${REPS} reps, medians)...\n`);
  if (!existsSync(join(LARGE, 'model.safetensors.index.json'))) {
    process.stderr.write(`writing random bfloat16 weights in the Qwen2.5-1.5B shape -> ${LARGE} (about 3 GB of disk, streamed)\n`);
    const config = {
      ...readConfig(SMOLLM),
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28,
      num_attention_heads: 12, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true, rms_norm_eps: 1e-6,
      rope_theta: 1000000, max_position_embeddings: 32768, sliding_window: 131072, use_sliding_window: false, max_window_layers: 21,
    };
    streamRandomModelFolder(LARGE, config, SMOLLM, { seed: 15, dtype: 'BF16', shards: 2 });
  }
  const e = runPart('engine');
  const l = runPart('llamacpp');
  // A fresh engine cache first (the bf16 weights are cast once into a float32 copy there), then that copy read as it is.
  const { rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const freshCache = join(tmpdir(), `pp-bench-cache-${process.pid}`);
  process.env.PERSONA_PROBE_CACHE = freshCache;
  const bigFirst = runPart('large') as unknown as MemoryResult;
  const big = runPart('large') as unknown as MemoryResult;
  rmSync(freshCache, { recursive: true, force: true });
  const f = (x: number) => x.toFixed(1);
  const rows = [
    ['', 'engine (ONNX Runtime)', 'node-llama-cpp', 'ratio', 'target'],
    [`prefill tok/s (${PROMPT_TOKENS}-token prompt)`, f(e.prefillTokS), f(l.prefillTokS), `${(e.prefillTokS / l.prefillTokS).toFixed(2)}x`, '>= 1.0x'],
    [`decode tok/s (${DECODE_TOKENS} tokens after the prompt)`, f(e.decodeTokS), f(l.decodeTokS), `${(e.decodeTokS / l.decodeTokS).toFixed(2)}x`, '>= 0.7x'],
    ['capture 30 x hook_resid_post, prefill overhead', `${(e.captureOverhead! * 100).toFixed(1)}%`, '', '', '< 15%'],
    ['load (s)', f(e.loadS), f(l.loadS), '', ''],
    ['peak RSS (MB)', f(e.peakRssMB), f(l.peakRssMB), `${(e.peakRssMB / l.peakRssMB).toFixed(2)}x`, ''],
    ['engine peak RSS / (weights + KV cache + logits)', `${f(e.peakRssMB)} / ${f(e.floorMB!)} = ${(e.peakRssMB / e.floorMB!).toFixed(2)}x`, '', '', '<= 1.5x'],
    ['  of which the process before any weight (Node, ONNX Runtime, tokenizer)', `${f(e.beforeWeightsMB!)}`, '', '', ''],
    [`Qwen2.5-1.5B shape, ${f(big.storedMB)} MB bf16 file, first load (casts into the cache): peak RSS / floor`, `${f(bigFirst.peakRssMB)} / ${f(bigFirst.floorMB)} = ${(bigFirst.peakRssMB / bigFirst.floorMB).toFixed(2)}x`, '', '', '<= 1.5x'],
    [`  again, the float32 copy read as it is (${LARGE_PROMPT}-token prefill, ${LARGE_DECODE} decode steps)`, `${f(big.peakRssMB)} / ${f(big.floorMB)} = ${(big.peakRssMB / big.floorMB).toFixed(2)}x`, '', '', '<= 1.5x'],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log(`SmolLM2-135M shape, random fp32 weights, CPU, ${THREADS} threads, median of ${REPS}`);
  for (const r of rows) console.log(r.map((x, c) => x.padEnd(widths[c]!)).join('  '));
  console.log(`engine: ${e.runtime}\nllama.cpp: ${l.runtime}\nThe ratios depend on the machine (cores, memory bandwidth, instruction set); rerun on yours.`);
}

await main();
