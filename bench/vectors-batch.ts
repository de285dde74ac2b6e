// `vectors extract` on the smallest built-in trait, one answer at a time (then a second pass for
// activations) against batched decoding with activations captured while decoding, side by side
// in one run on the same engine. Prints wall time for both, the ratio, what batching did, and how
// far the two runs' persona vectors are apart (cosine per layer; sampled answers agree to float
// rounding, so the vectors should match). Random weights in the SmolLM2-135M shape (bench/out/,
// written by bench:prefix or bench:engine on first use).
//   npm run bench:vectors [-- --questions N]   (default: every question of the trait)

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { extractVectors } from '../src/commands/vectors.js';
import { builtinTraits } from '../src/probes/traits.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = join(ROOT, 'bench', 'out', 'smollm2-135m-random');
const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
};

async function main(): Promise<void> {
  if (!existsSync(join(MODEL, 'model.safetensors'))) throw new Error(`${MODEL}: run npm run bench:prefix first (it writes the random 135M-shaped model)`);
  const trait = [...builtinTraits().values()].sort((a, b) => a.pairs.length * a.questions.length - b.pairs.length * b.questions.length || a.id.localeCompare(b.id))[0]!;
  const questions = arg('questions') ?? trait.questions.length;
  const t = { ...trait, questions: trait.questions.slice(0, questions) };
  console.log(`vectors extract, trait ${t.id}: ${t.pairs.length} pairs x ${t.questions.length} questions x 2 sides = ${t.pairs.length * t.questions.length * 2} answers of up to 64 tokens, on ${MODEL}`);
  const runs: { batch: number; seconds: number; vectors: Map<number, Float32Array> }[] = [];
  for (const batch of [1, 16]) {
    const dir = mkdtempSync(join(tmpdir(), 'pp-bench-vectors-'));
    try {
      const started = performance.now();
      const r = await extractVectors({ outDir: dir, model: `engine:${MODEL}`, trait: t, batch });
      const seconds = (performance.now() - started) / 1000;
      runs.push({ batch, seconds, vectors: r.vectors });
      console.log(`  batch ${String(batch).padStart(2)}: ${seconds.toFixed(1)} s (${r.counters.calls} calls)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const [one, many] = runs;
  let worst = 1;
  for (const [layer, v] of one!.vectors) {
    const w = many!.vectors.get(layer)!;
    let dot = 0;
    let a = 0;
    let b = 0;
    for (let i = 0; i < v.length; i++) {
      dot += v[i]! * w[i]!;
      a += v[i]! * v[i]!;
      b += w[i]! * w[i]!;
    }
    worst = Math.min(worst, dot / Math.sqrt(a * b));
  }
  console.log(`batched is ${(one!.seconds / many!.seconds).toFixed(2)}x faster (target 4x); lowest cosine between the two runs' vectors over ${one!.vectors.size} layers: ${worst.toFixed(6)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
