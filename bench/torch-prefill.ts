// Prefill of a 2,048-token prompt on the engine against PyTorch on the same float32 weights, in
// one run (bench/torch_prefill.py: a Llama forward with torch ops as transformers' eager model
// computes it; transformers itself is not installable here). Where python3 with torch is not
// available it says so and prints the engine side alone. Random weights in the SmolLM2-135M shape
// (bench/out/, written by bench:prefix); speed does not depend on the values.
//   npm run bench:torch [-- --tokens N --threads N]

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { createRng } from '../src/util/rng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const REPEATS = 3;

async function main(): Promise<void> {
  if (!existsSync(join(MODEL, 'model.safetensors'))) throw new Error(`${MODEL}: run npm run bench:prefix first (it writes the random 135M-shaped model)`);
  const tokens = arg('tokens', 2048);
  const threads = arg('threads', availableParallelism());
  const rng = createRng(2048);
  const ids = Array.from({ length: tokens }, () => 3 + rng.int(49_000));
  const engine = await Engine.load(MODEL, { threads });
  await engine.forward(ids.slice(0, 16));
  const engineSeconds: number[] = [];
  let engineLast = new Float32Array();
  for (let r = 0; r < REPEATS; r++) {
    const t = performance.now();
    const out = await engine.forward(ids);
    engineSeconds.push((performance.now() - t) / 1000);
    engineLast = out.logits.slice(0, 64);
  }
  await engine.dispose();
  const best = (xs: number[]) => Math.min(...xs);
  console.log(`prefill of ${tokens} tokens, SmolLM2-135M shape (float32, random weights), ${threads} threads, best of ${REPEATS}:`);
  console.log(`  engine (ONNX Runtime): ${best(engineSeconds).toFixed(2)} s (${(tokens / best(engineSeconds)).toFixed(0)} tok/s)`);
  // The first Python that has torch and numpy: PP_PYTHON, then python3 on the PATH, then Debian's own (apt's python3-torch).
  const python = [process.env.PP_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => Boolean(p)).find((p) => spawnSync(p, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0);
  if (!python) {
    console.log('  PyTorch: not available here (python3 with torch and numpy; Debian: apt install python3-torch libopenblas0-pthread; or PP_PYTHON=...); no comparison made');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pp-bench-torch-'));
  try {
    const idsFile = join(dir, 'ids.json');
    writeFileSync(idsFile, JSON.stringify(ids));
    const run = spawnSync(python, [join(ROOT, 'bench', 'torch_prefill.py'), MODEL, idsFile, String(threads), String(REPEATS)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (run.status !== 0) throw new Error(`torch_prefill.py failed: ${run.stderr.trim().split('\n').at(-1)}`);
    const torch = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { torch: string; threads: number; gemm_gflops: number; seconds: number[]; last_logits: number[] };
    const diff = Math.max(...torch.last_logits.map((x, i) => Math.abs(x - engineLast[i]!)));
    console.log(`  PyTorch ${torch.torch} (${python}; eager ops, ${torch.threads} threads, its BLAS at ${torch.gemm_gflops.toFixed(0)} GFLOPS on an MLP-sized product): ${best(torch.seconds).toFixed(2)} s (${(tokens / best(torch.seconds)).toFixed(0)} tok/s)`);
    console.log(`  engine / PyTorch speed: ${(best(torch.seconds) / best(engineSeconds)).toFixed(2)}x; last-position logits agree within ${diff.toExponential(1)} (64 checked)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
