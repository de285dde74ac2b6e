// A Qwen2.5-7B-shaped model (the persona-vector paper's model: 28 layers, d 3,584, MLP 18,944,
// 28 query / 4 key-value heads, vocabulary 152,064, untied; random bfloat16 weights, seed 7,
// streamed to bench/out/ on first use: about 15 GB of disk, not memory) loaded with int4 weights,
// tracing blocks.*.hook_resid_post over a 256-token prompt, 2 threads. The load and trace run in a
// child process, which reports its peak resident memory against the engine's own estimate and the
// machine's memory. The first run also quantizes the weights into the engine cache (about 5 GB).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readConfig, streamRandomModelFolder } from '../src/engine/random-model.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SMOLLM = resolve(ROOT, '..', 'shared', 'models', 'smollm2-135m-instruct');
const OUT = join(ROOT, 'bench', 'out', 'qwen2.5-7b-shape-bf16');
const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

async function child(): Promise<void> {
  const { Engine } = await import('../src/engine/engine.js');
  const { describeMemory } = await import('../src/engine/memory.js');
  const t0 = performance.now();
  const engine = await Engine.load(`${OUT}?weights=int4`, { threads: 2 });
  try {
    const hooks = Array.from({ length: engine.spec.layers }, (_, l) => `blocks.${l}.hook_resid_post`);
    const ids = Array.from({ length: 256 }, (_, i) => 100 + ((i * 7919) % 40000));
    const r = await engine.forward(ids, { hooks, logits: 'last' });
    const finite = hooks.every((h) => r.hooks.get(h)!.every(Number.isFinite));
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(`${JSON.stringify({ estimate: engine.memory.total, described: describeMemory(engine.memory), maxRss: process.resourceUsage().maxRSS * 1024, seconds, finite, hooks: hooks.length, tokens: ids.length })}\n`);
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child();
  if (!existsSync(join(OUT, 'model.safetensors.index.json'))) {
    const t0 = performance.now();
    mkdirSync(dirname(OUT), { recursive: true });
    const config = {
      ...readConfig(SMOLLM),
      architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28,
      num_attention_heads: 28, num_key_value_heads: 4, head_dim: 128, vocab_size: 152064, tie_word_embeddings: false, rms_norm_eps: 1e-6,
      rope_theta: 1000000, max_position_embeddings: 32768, sliding_window: 131072, use_sliding_window: false, max_window_layers: 28,
    };
    const { bytes } = streamRandomModelFolder(OUT, config, SMOLLM, { seed: 7, dtype: 'BF16', shards: 4 });
    console.log(`wrote ${gib(bytes)} of bfloat16 weights in ${((performance.now() - t0) / 1000).toFixed(0)} s -> ${OUT}`);
  }
  const run = () => JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), 'child'], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').at(-1)!) as { estimate: number; described: string; maxRss: number; seconds: number; finite: boolean; hooks: number; tokens: number };
  const first = run();
  console.log(`Qwen2.5-7B shape, int4, first load (quantizes into the cache): traced ${first.hooks} hooks x ${first.tokens} tokens in ${first.seconds.toFixed(0)} s, peak ${gib(first.maxRss)}`);
  const again = run();
  console.log(`again (codes read from the cache): ${again.seconds.toFixed(0)} s, peak ${gib(again.maxRss)}; activations finite: ${again.finite}`);
  console.log(`engine's estimate: ${again.described}; machine memory ${gib(totalmem())}`);
}

void main();
