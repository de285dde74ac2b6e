// Batched engine work: several sequences packed into one call with a block-diagonal causal mask
// (each sequence counts its own positions; no padding), for teacher-forced activation collection
// and for decoding. Each sequence's numbers must be those of running it alone, to float rounding,
// and greedy (and seeded) replies the same tokens.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectActivations } from '../src/engine/activations.js';
import type { Intervention } from '../src/engine/interventions.js';
import type { GenerateResult } from '../src/engine/engine.js';
import { familyConfig, makeModel, withEngine, type Family } from './engine-helpers.js';

const PROMPTS = [
  'The lighthouse keeper counted the ships that passed each night.',
  'Tea',
  'A short note about rain, written in the margin of a borrowed book, then forgotten for many years until a student found it.',
  'Numbers: 3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 38, 32, 79, 50, 28, 84, 19, 71, 69, 39, 93, 75, 10.',
  'Why do cats sit in boxes?',
];

const maxRelative = (a: Float32Array, b: Float32Array): number => {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / Math.max(scale, 1e-12);
};

// Llama; Gemma 2 with a 32-token window (the long prompts run past it, so the packed window mask is exercised); Qwen2 with biases.
for (const family of ['llama', 'gemma2', 'qwen2'] as Family[]) {
  test(`${family}: packed teacher-forced collection equals one prompt at a time (every hook, mean and last), with interventions`, async (t) => {
    const model = makeModel(family === 'gemma2' ? familyConfig(family, { layers: 2 }) : { ...familyConfig(family, { layers: 3 }), tie_word_embeddings: false });
    await withEngine(model.dir, async (engine) => {
      const d = engine.spec.dModel;
      const vector = Float32Array.from({ length: d }, (_, i) => Math.sin(i + 1));
      const interventions: Intervention[] = [{ hook: 'blocks.0.hook_resid_post', op: 'add', vector, coef: 3, min: -Infinity, max: Infinity, positions: 'all' }];
      const prompts = PROMPTS.map((text) => ({ text }));
      const hooks = ['blocks.*.hook_resid_post', 'blocks.0.mlp.hook_post', 'ln_final.hook_normalized'];
      const one = await collectActivations(engine, { prompts, hooks, interventions, pooling: ['mean', 'last'] });
      const packed = await collectActivations(engine, { prompts, hooks, interventions, pooling: ['mean', 'last'], batch: 3 });
      assert.equal(packed.length, one.length);
      let worst = 0;
      for (let i = 0; i < one.length; i++) {
        assert.equal(packed[i]!.promptTokens, one[i]!.promptTokens);
        for (const [h, pools] of one[i]!.pooled) for (const p of ['mean', 'last'] as const) worst = Math.max(worst, maxRelative(packed[i]!.pooled.get(h)![p]!, pools[p]!));
      }
      t.diagnostic(`${family}: packed vs one at a time, max relative difference ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-5, `packed vs one at a time: max relative difference ${worst.toExponential(2)}`);
      if (family === 'gemma2') assert.ok(engine.tokenizer.encode(PROMPTS[3]!).length > engine.spec.slidingWindow!, 'a prompt runs past the window');
    });
  });
}

// Gemma 2 decodes past its 32-token sliding window (each row's window mask), Llama without one.
for (const family of ['llama', 'gemma2'] as Family[]) test(`${family}: batched decoding gives each sequence the tokens generate() gives it alone (greedy, seeded sampling, intervention on generated tokens), with its own hook rows`, async (t) => {
  const model = makeModel({ ...familyConfig(family, { layers: 3 }), tie_word_embeddings: false });
  await withEngine(model.dir, async (engine) => {
    const d = engine.spec.dModel;
    const interventions: Intervention[] = [{ hook: 'blocks.1.hook_resid_post', op: 'add', vector: Float32Array.from({ length: d }, (_, i) => Math.cos(i)), coef: 2, min: -Infinity, max: Infinity, positions: 'generated' }];
    const prompts = PROMPTS.map((t) => engine.tokenizer.chatIds([{ role: 'user', content: t }]));
    const sequences = prompts.map((_, b) => ({ maxTokens: 6 + 3 * b, temperature: b % 2 ? 0.9 : 0, seed: 100 + b }));
    const hook = 'blocks.2.hook_resid_post';
    const alone: GenerateResult[] = [];
    const aloneRows: Float32Array[][] = [];
    const aloneLogits: Float32Array[][] = [];
    for (const [b, ids] of prompts.entries()) {
      const rows: Float32Array[] = [];
      const logits: Float32Array[] = [];
      alone.push(await engine.generate(ids, { ...sequences[b]!, interventions, hooks: [hook], onHooks: (h) => rows.push(h.get(hook)!.slice()), onToken: (_t, l) => logits.push(l.slice()) }));
      aloneRows.push(rows);
      aloneLogits.push(logits);
    }
    const rows: Float32Array[][] = prompts.map(() => []);
    const logits: Float32Array[][] = prompts.map(() => []);
    const batched = await engine.generateBatch(prompts, { sequences, interventions, hooks: [hook], onHooks: (b, h) => rows[b]!.push(h.get(hook)!.slice()), onToken: (b, _t, l) => logits[b]!.push(l.slice()) });
    let worst = 0;
    for (let b = 0; b < prompts.length; b++) {
      assert.deepEqual(batched[b]!.tokens, alone[b]!.tokens, `sequence ${b}`);
      assert.equal(batched[b]!.text, alone[b]!.text);
      assert.equal(batched[b]!.finishReason, alone[b]!.finishReason);
      assert.ok(alone[b]!.tokens.length > 0 && new Set(alone[b]!.tokens).size > 1, 'the untied model writes more than one token');
      assert.equal(rows[b]!.length, aloneRows[b]!.length);
      rows[b]!.forEach((r, k) => (worst = Math.max(worst, maxRelative(r, aloneRows[b]![k]!))));
      logits[b]!.forEach((l, k) => (worst = Math.max(worst, maxRelative(l, aloneLogits[b]![k]!))));
    }
    t.diagnostic(`${family} batched decoding: hook rows and logits, max relative difference ${worst.toExponential(2)}`);
    if (family === 'gemma2') assert.ok(prompts.some((p, b) => p.length + alone[b]!.tokens.length > engine.spec.slidingWindow!), 'decoding runs past the window');
    assert.ok(worst < 1e-5, `hook rows and logits: max relative difference ${worst.toExponential(2)}`);
    // A batch of one is the same computation as generate(): bit for bit.
    const single: Float32Array[] = [];
    const [one] = await engine.generateBatch([prompts[0]!], { sequences: [sequences[0]!], interventions, hooks: [hook], onHooks: (_b, h) => single.push(h.get(hook)!.slice()) });
    assert.deepEqual(one!.tokens, alone[0]!.tokens);
    single.forEach((r, k) => assert.deepEqual(r, aloneRows[0]![k]));
    // feedLast: a sequence that ran out of tokens also runs its last one, so every reply token has a row.
    const fed: number[] = prompts.map(() => 0);
    const withLast = await engine.generateBatch(prompts, { sequences, hooks: [hook], feedLast: true, onHooks: (b, _h, scope, n) => { if (scope === 'generated') fed[b]! += n; } });
    withLast.forEach((g, b) => assert.equal(fed[b], g.tokens.length, `sequence ${b}: one generated row per reply token`));
  });
});

test('collectActivations with generate: batched replies and pooled means equal one at a time', async () => {
  const model = makeModel({ ...familyConfig('qwen2', { layers: 2 }) });
  await withEngine(model.dir, async (engine) => {
    const prompts = PROMPTS.map((t) => ({ messages: [{ role: 'user' as const, content: t }] }));
    const request = { prompts, hooks: 'blocks.*.hook_resid_post', pooling: ['mean', 'mean_generated', 'last'] as const, generate: { maxTokens: 8, temperature: 0.7, seed: 3 } };
    const one = await collectActivations(engine, { ...request, pooling: [...request.pooling] });
    const batched = await collectActivations(engine, { ...request, pooling: [...request.pooling], batch: 4 });
    let worst = 0;
    one.forEach((r, i) => {
      assert.equal(batched[i]!.generatedText, r.generatedText);
      for (const [h, pools] of r.pooled) for (const [p, v] of Object.entries(pools)) worst = Math.max(worst, maxRelative(batched[i]!.pooled.get(h)![p as 'mean']!, v));
    });
    assert.ok(worst < 1e-5, `max relative difference ${worst.toExponential(2)}`);
  });
});

test('engine: backend with batched generation: concurrent chats decode together, replies as one at a time, and their activations come from the capture', async () => {
  const { EngineBackend } = await import('../src/backends/engine.js');
  const model = makeModel({ ...familyConfig('llama', { layers: 2 }), tie_word_embeddings: false });
  const plain = await EngineBackend.create({ model: model.dir });
  const batched = await EngineBackend.create({ model: model.dir });
  batched.batchGeneration({ batch: 4, captureHooks: ['blocks.*.hook_resid_post'] });
  const requests = PROMPTS.map((content, i) => ({ messages: [{ role: 'user' as const, content }], sampling: { temperature: 0.8, seed: 7 + i, maxTokens: 10 } }));
  const one = [];
  for (const r of requests) one.push(await plain.chat(r));
  const together = await Promise.all(requests.map((r) => batched.chat(r)));
  assert.deepEqual(together.map((r) => r.text), one.map((r) => r.text));
  assert.deepEqual(batched.batchStats, { batches: 2, chats: 5, captureHits: 0 }, '5 chats in batches of at most 4');
  let worst = 0;
  for (const [i, r] of requests.entries()) {
    const acts = { messages: [...r.messages, { role: 'assistant' as const, content: together[i]!.text }], hooks: ['blocks.*.hook_resid_post'] };
    const [fromCapture, fromForward] = [await batched.activations(acts), await plain.activations(acts)];
    assert.equal(fromCapture.tokens, fromForward.tokens);
    for (const [h, v] of Object.entries(fromForward.means)) {
      const a = Buffer.from(fromCapture.means[h]!, 'base64');
      const b = Buffer.from(v, 'base64');
      worst = Math.max(worst, maxRelative(new Float32Array(a.buffer, a.byteOffset, a.length / 4), new Float32Array(b.buffer, b.byteOffset, b.length / 4)));
    }
  }
  // Every reply that re-encodes to its own tokens is served from the capture (no second pass).
  assert.ok(batched.batchStats.captureHits >= 3, `captured: ${batched.batchStats.captureHits} of 5`);
  assert.ok(worst < 1e-5, `captured vs teacher-forced means: ${worst.toExponential(2)}`);
});

for (const family of ['llama', 'gemma2'] as Family[]) test(`${family}: sequences packed over a shared past (a kept prompt prefix) give each one's last logits as running prefix and suffix whole, alone`, async () => {
  const model = makeModel(family === 'gemma2' ? familyConfig(family, { layers: 2 }) : { ...familyConfig(family, { layers: 3 }), tie_word_embeddings: false });
  await withEngine(model.dir, async (engine) => {
    // A prefix past Gemma 2's 32-token window, so the shared past is windowed too.
    const prefix = engine.tokenizer.encode(`${PROMPTS[3]!} ${PROMPTS[0]!}`);
    const suffixes = PROMPTS.map((p) => engine.tokenizer.encode(` ${p}`));
    const kept = (await engine.forward(prefix, { keepCache: true })).cache!;
    const P = prefix.length;
    const packing = { seqs: suffixes.flatMap((s, b) => s.map(() => b)), positions: suffixes.flatMap((s) => s.map((_, i) => P + i)) };
    const packed = await engine.forward(suffixes.flat(), { past: kept, packing });
    const V = engine.spec.vocab;
    assert.equal(packed.rows, suffixes.length);
    let worst = 0;
    for (const [b, s] of suffixes.entries()) {
      const alone = await engine.forward([...prefix, ...s]);
      worst = Math.max(worst, maxRelative(packed.logits.subarray(b * V, (b + 1) * V), alone.logits));
    }
    console.log(`# ${family}: packed over a ${P}-token shared past against each whole: largest relative logit difference ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-5, `${worst}`);
    // The kept prefix is read, not changed: running it again gives the same logits.
    assert.equal(kept.length, P);
    await assert.rejects(engine.forward(suffixes[0]!, { past: kept, packing: { seqs: suffixes[0]!.map(() => 0), positions: suffixes[0]!.map((_, i) => i) } }), /positions start after the shared past/);
  });
});
