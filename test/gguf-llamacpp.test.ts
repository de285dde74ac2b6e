import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readGguf, writeGguf, gguf, GgmlType, GgufType, toHalf, fromHalf } from '../src/engine/formats/gguf.js';
import { readConfig, shrinkConfig, randomWeights, writeGgufModel, permuteForGguf } from '../src/engine/random-model.js';
import { LlamaCppBackend } from '../src/backends/llamacpp.js';
import { runSuite } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';

test('GGUF writer and reader round-trip metadata of every kind and F32/F16 tensors', () => {
  const path = join(tempDir(), 'rt.gguf');
  const a = Float32Array.from({ length: 6 }, (_, i) => i * 0.5 - 1);
  writeGguf(path, { 'x.str': gguf.str('héllo'), 'x.u32': gguf.u32(7), 'x.f32': gguf.f32(0.25), 'x.bool': gguf.bool(true), 'x.arr': gguf.strings(['a', 'b c']), 'x.ints': gguf.i32s([-1, 2]) }, [
    { name: 'a', dims: [3, 2], type: GgmlType.F32, data: a },
    { name: 'b', dims: [4], type: GgmlType.F16, data: Float32Array.from([0.5, -2, 1024, 0.1]) },
  ]);
  const f = readGguf(path);
  assert.equal(f.version, 3);
  assert.equal(f.metadata.get('x.str'), 'héllo');
  assert.equal(f.metadata.get('x.u32'), 7);
  assert.equal(f.metadata.get('x.f32'), 0.25);
  assert.equal(f.metadata.get('x.bool'), true);
  assert.deepEqual(f.metadata.get('x.arr'), ['a', 'b c']);
  assert.deepEqual(f.metadata.get('x.ints'), [-1, 2]);
  assert.deepEqual(f.metadataTypes.get('x.ints'), { type: GgufType.ARRAY, itemType: GgufType.INT32 });
  assert.deepEqual([...f.tensors[0]!.data], [...a]);
  assert.deepEqual(f.tensors[0]!.dims, [3, 2]);
  assert.equal(f.tensors[1]!.offset % 32, 0);
  assert.deepEqual([...f.tensors[1]!.data].map((x) => Math.round(x * 1000) / 1000), [0.5, -2, 1024, 0.1]);
  assert.equal(fromHalf(toHalf(65504)), 65504);
});

test('q/k permutation for llama.cpp interleaves the two rotary halves of every head', () => {
  // 2 heads of dim 4, 1 column: rows [h0: 0 1 | 2 3, h1: 4 5 | 6 7] -> [0 2 1 3, 4 6 5 7].
  const w = { shape: [8, 1], data: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]) };
  assert.deepEqual([...permuteForGguf(w, 2)], [0, 2, 1, 3, 4, 6, 5, 7]);
});

test('llamacpp: a generated GGUF with the real SmolLM2 tokenizer loads, gives next-token probabilities and a deterministic greedy reply', async () => {
  const dir = tempDir();
  const model = join(dir, 'tiny-smollm2.gguf');
  const config = shrinkConfig(readConfig(SMOLLM_DIR), { layers: 2, hidden: 64, heads: 4, kvHeads: 2 });
  writeGgufModel(model, config, randomWeights(config, { seed: 9 }), SMOLLM_DIR);
  const meta = readGguf(model).metadata;
  assert.equal((meta.get('tokenizer.ggml.tokens') as string[]).length, 49152);
  assert.match(String(meta.get('tokenizer.chat_template')), /<\|im_start\|>/);

  const backend = new LlamaCppBackend({ model });
  try {
    const messages = [{ role: 'system' as const, content: 'You are Pat.' }, { role: 'user' as const, content: 'Statement: "Worry about things." Reply 1-5.' }];
    // The chat template is applied as for the real model: ChatML turns, assistant turn opened.
    const tokens = await backend.promptTokens(messages);
    assert.equal(tokens[0], 1); // <|im_start|>
    assert.ok(tokens.filter((t) => t === 2).length >= 2); // <|im_end|> closes system and user turns
    const lp = await backend.nextTokenLogProbs(messages);
    assert.equal(lp.length, 49152);
    const total = lp.reduce((s, x) => s + Math.exp(x), 0);
    assert.ok(Math.abs(total - 1) < 1e-6, `probabilities sum to ${total}`);
    const probs = await backend.optionProbs({ messages, options: ['1', '2', '3', '4', '5'] });
    assert.ok(Math.abs(probs.probs.reduce((a, b) => a + b) - 1) < 1e-9);
    assert.ok(probs.coverage > 0 && probs.coverage < 1);
    const a = await backend.chat({ messages, sampling: { temperature: 0, maxTokens: 8 } });
    const b = await backend.chat({ messages, sampling: { temperature: 0, maxTokens: 8 } });
    assert.equal(a.text, b.text);
    assert.equal(a.usage?.outputTokens, 8);

    // And the fidelity suite runs on it end to end.
    const suite = suiteSchema.parse({ name: 'llamacpp-plumbing', instrument: { id: 'ipip-neo-120', items: 10 }, personas: [{ id: 'p', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }], models: [`llamacpp:${model}`] });
    const r = await runSuite(suite, { outDir: tempDir() });
    assert.equal(r.counters.errors, 0);
    assert.equal(r.counters.calls, 20);
    assert.equal(r.analysis.models![0]!.optionProbs, true);
    assert.equal(r.analysis.simulated, false);
  } finally {
    await backend.close();
  }
});

test('llamacpp: an inventory reuses the cached prefix (chat template and persona prompt) and gets the same option probabilities as a fresh evaluation of every prompt; a chat in between does not disturb it', async () => {
  const { getInstrument } = await import('../src/instruments/index.js');
  const { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } = await import('../src/probes/fidelity.js');
  const config = { ...shrinkConfig(readConfig(SMOLLM_DIR), { layers: 2 }), tie_word_embeddings: false };
  const model = join(tempDir(), 'model.gguf');
  writeGgufModel(model, config, randomWeights(config, { seed: 4, sharpness: 0.5 }), SMOLLM_DIR);
  const instrument = getInstrument('ipip-neo-120');
  const system = { role: 'system' as const, content: 'You are Mara Voss, a night-shift archivist who keeps to herself and worries about misfiled records.' };
  const prompts = instrument.items.slice(0, 6).map((item) => [system, { role: 'user' as const, content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
  const reusing = new LlamaCppBackend({ model, threads: 2 });
  const fresh = new LlamaCppBackend({ model, threads: 2, prefixReuse: false });
  try {
    let worst = 0;
    for (const [i, messages] of prompts.entries()) {
      if (i === 3) await reusing.chat({ messages: [{ role: 'user', content: 'Say something.' }], sampling: { maxTokens: 4 } });
      const a = await reusing.optionProbs({ messages, options: OPTION_DIGITS });
      const b = await fresh.optionProbs({ messages, options: OPTION_DIGITS });
      a.probs.forEach((p, k) => (worst = Math.max(worst, Math.abs(p - b.probs[k]!))));
      assert.ok(Math.abs(a.coverage - b.coverage) < 1e-5);
    }
    assert.ok(worst < 1e-4, `option probabilities differ by ${worst}`);
    // The items after the first (and after the chat) evaluated only what follows the shared prefix.
    assert.ok(reusing.prefix.reused > 4 * 30, `reused ${reusing.prefix.reused} tokens`);
    assert.equal(fresh.prefix.reused, 0);
    assert.ok(reusing.prefix.evaluated < fresh.prefix.evaluated - 100, `evaluated ${reusing.prefix.evaluated} of ${fresh.prefix.evaluated}`);
  } finally {
    await reusing.close();
    await fresh.close();
  }
});
