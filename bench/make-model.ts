// make-model's peak memory, from memory against streamed, side by side in one run: each writer
// runs in its own child process on the same shape and seed, which reports its peak resident set
// (process.resourceUsage().maxRSS) and wall time; the two folders are then compared byte for byte.
// Shape: SmolLM2-135M (real config, random weights, F32 unless BENCH_DTYPE says otherwise).
// The streamed writer's peak should sit near Node's own baseline, whatever the model's size.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig, streamRandomModelFolder, writeRandomModelFolder, type WeightDtype } from '../src/engine/random-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');

function child(mode: 'memory' | 'stream', out: string, dtype: WeightDtype): { maxRssMb: number; seconds: number } {
  const text = execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'child', mode, out, dtype], { encoding: 'utf8' });
  return JSON.parse(text.trim().split('\n').at(-1)!) as { maxRssMb: number; seconds: number };
}

async function main(): Promise<void> {
  const [, , role, mode, out, dtypeArg] = process.argv;
  if (role === 'child') {
    const started = performance.now();
    const options = { seed: 135, sharpness: 0.5, dtype: dtypeArg as WeightDtype };
    if (mode === 'memory') writeRandomModelFolder(out!, readConfig(SMOLLM), SMOLLM, options);
    else streamRandomModelFolder(out!, readConfig(SMOLLM), SMOLLM, options);
    process.stdout.write(`${JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, seconds: (performance.now() - started) / 1000 })}\n`);
    return;
  }
  const dtype = (process.env.BENCH_DTYPE ?? 'F32') as WeightDtype;
  const root = mkdtempSync(join(tmpdir(), 'pp-bench-make-'));
  try {
    const baseline = JSON.parse(execFileSync(process.execPath, ['-e', 'process.stdout.write(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024 }))'], { encoding: 'utf8' })) as { maxRssMb: number };
    const memory = child('memory', join(root, 'memory'), dtype);
    const stream = child('stream', join(root, 'stream'), dtype);
    const files = readdirSync(join(root, 'memory')).filter((f) => f.endsWith('.safetensors'));
    const weightsMb = files.reduce((n, f) => n + readFileSync(join(root, 'memory', f)).length, 0) / 2 ** 20;
    const same = files.every((f) => readFileSync(join(root, 'memory', f)).equals(readFileSync(join(root, 'stream', f))));
    console.log(`make-model, SmolLM2-135M shape, ${dtype}: ${weightsMb.toFixed(0)} MB of weights; a bare node process peaks at ${baseline.maxRssMb.toFixed(0)} MB`);
    console.log(`  from memory: peak ${memory.maxRssMb.toFixed(0)} MB, ${memory.seconds.toFixed(1)} s`);
    console.log(`  streamed:    peak ${stream.maxRssMb.toFixed(0)} MB, ${stream.seconds.toFixed(1)} s`);
    console.log(`  peak above a bare process: ${(memory.maxRssMb - baseline.maxRssMb).toFixed(0)} MB vs ${(stream.maxRssMb - baseline.maxRssMb).toFixed(0)} MB (${((memory.maxRssMb - baseline.maxRssMb) / (stream.maxRssMb - baseline.maxRssMb)).toFixed(1)}x); files identical: ${same ? 'yes' : 'NO'}`);
    if (!same) process.exitCode = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

void main();
