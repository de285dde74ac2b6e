// Weight-only quantization (int8 and int4 block codes read by ONNX Runtime's MatMulNBits):
// exactly the float32 engine on the dequantized weights, and how far from float32 it moves the
// next-token distribution of a random-weight model of a real width (SmolLM2-135M's 576 / 1536 /
// 49,152 vocabulary, 4 layers, untied), with tolerances asserted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Engine, logSoftmax } from '../src/engine/engine.js';
import { expectedWeights } from '../src/engine/model-folder.js';
import { archSpecOf } from '../src/engine/arch.js';
import { readConfig, randomWeights, writeModelFolder } from '../src/engine/random-model.js';
import { dequantize, quantizeWeight, QUANT_BLOCK } from '../src/engine/quantize.js';
import { UserError } from '../src/util/errors.js';
import { SMOLLM_DIR, tempDir } from './helpers.js';

const PROMPT = 'Persona probes ask whether a character is realized by the model or merely performed. '.repeat(4);
const MATRIX = /(_proj\.weight|^lm_head\.weight)$/;

test('int8 and int4 weights: the engine equals float32 on the dequantized weights; against float32, per-position KL and top-1 agreement within the stated tolerances; hooks unchanged; the memory estimate counts the codes', async (t) => {
  const config = { ...readConfig(SMOLLM_DIR), num_hidden_layers: 4, tie_word_embeddings: false };
  const root = tempDir('pp-quant-');
  // sharpness 0.125: logits with an SD near 3 (the final norm's output has length near sqrt(576) = 24), as a trained model's are.
  const weights = randomWeights(config, { seed: 3, sharpness: 0.125 });
  const dir = join(root, 'model');
  writeModelFolder(dir, config, SMOLLM_DIR, weights);
  const f32 = await Engine.load(dir, { threads: 2 });
  try {
    const ids = f32.tokenizer.encode(PROMPT);
    const V = f32.spec.vocab;
    const rows = (logits: Float32Array) => ids.map((_, p) => logSoftmax(logits.subarray(p * V, (p + 1) * V)));
    const ref = rows((await f32.forward(ids, { logits: 'all' })).logits);
    const spec = archSpecOf(config as Record<string, unknown>);
    // Random weights amplify errors through the layers more than trained ones do: these bound regressions, they do not predict a trained model's loss.
    const tolerance = { int8: { kl: 0.01, top1: 0.85 }, int4: { kl: 0.75, top1: 0.4 } } as const;
    for (const quant of ['int8', 'int4'] as const) {
      const engine = await Engine.load(`${dir}?weights=${quant}`, { threads: 2 });
      // With float32 activations in the products: exactly the decoded weights.
      const exactEngine = await Engine.load(`${dir}?weights=${quant}`, { threads: 2, quantizedActivations: 'float32' });
      try {
        const { logits, hooks } = await engine.forward(ids, { logits: 'all', hooks: ['blocks.1.hook_resid_post', 'blocks.1.mlp.hook_post'] });
        assert.equal(hooks.get('blocks.1.hook_resid_post')!.length, ids.length * spec.dModel);
        assert.equal(hooks.get('blocks.1.mlp.hook_post')!.length, ids.length * spec.ffn);
        const mine = rows(logits);
        // The same model with every matrix replaced by what the codes decode to, in float32.
        const decoded = new Map([...weights].map(([name, w]) => [name, MATRIX.test(name) ? { shape: w.shape, data: dequantize(quantizeWeight(w.data, w.shape[0]!, w.shape[1]!, quant)) } : w]));
        const ddir = join(root, `dequantized-${quant}`);
        writeModelFolder(ddir, config, SMOLLM_DIR, decoded);
        const plain = await Engine.load(ddir, { threads: 2 });
        let exact = 0;
        try {
          const dq = rows((await plain.forward(ids, { logits: 'all' })).logits);
          const exactRows = rows((await exactEngine.forward(ids, { logits: 'all' })).logits);
          for (let p = 0; p < ids.length; p++) for (let k = 0; k < V; k++) exact = Math.max(exact, Math.abs(exactRows[p]![k]! - dq[p]![k]!));
        } finally {
          await plain.dispose();
        }
        let klMean = 0;
        let klMax = 0;
        let agree = 0;
        for (let p = 0; p < ids.length; p++) {
          let kl = 0;
          let a = 0;
          let b = 0;
          for (let k = 0; k < V; k++) {
            kl += Math.exp(ref[p]![k]!) * (ref[p]![k]! - mine[p]![k]!);
            if (ref[p]![k]! > ref[p]![a]!) a = k;
            if (mine[p]![k]! > mine[p]![b]!) b = k;
          }
          klMean += kl / ids.length;
          klMax = Math.max(klMax, kl);
          if (a === b) agree++;
        }
        t.diagnostic(`${quant}: with float32 activations, vs float32 on its dequantized weights max |dlogp| ${exact.toExponential(2)}; with int8 activations (the default) vs float32: KL mean ${klMean.toExponential(2)}, max ${klMax.toExponential(2)}, top-1 ${agree}/${ids.length} (seed 3)`);
        assert.ok(exact < 2e-4, `${quant}: ${exact}`);
        assert.ok(klMean < tolerance[quant].kl && agree / ids.length >= tolerance[quant].top1, `${quant}: KL ${klMean}, top-1 ${agree}/${ids.length}`);
        // The estimate counts what the graph holds: codes and a float32 scale per block of 32, per matrix.
        let codes = 0;
        for (const [name, shape] of expectedWeights(spec)) {
          if (!MATRIX.test(name)) continue;
          const blocks = Math.ceil(shape[1]! / QUANT_BLOCK);
          codes += shape[0]! * blocks * ((QUANT_BLOCK * (quant === 'int8' ? 8 : 4)) / 8 + 4);
        }
        assert.equal(engine.memory.quantizedBytes, codes);
      } finally {
        await engine.dispose();
        await exactEngine.dispose();
      }
    }
  } finally {
    await f32.dispose();
  }
  // Inline graphs hold the codes; external ones read them from a file in the engine cache, written
  // once and reused by the next process; both compute the same logits.
  const { readdirSync, statSync } = await import('node:fs');
  const cache = tempDir('pp-quant-cache-');
  const previous = process.env.PERSONA_PROBE_CACHE;
  process.env.PERSONA_PROBE_CACHE = cache;
  try {
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const logitsOf = async (weights: 'inline' | 'external') => {
      const e = await Engine.load(`${dir}?weights=int4`, { threads: 2, weights });
      try {
        return (await e.forward(ids, { logits: 'all' })).logits;
      } finally {
        await e.dispose();
      }
    };
    const inline = await logitsOf('inline');
    const external = await logitsOf('external');
    assert.deepEqual(external, inline);
    const bin = () => readdirSync(cache, { recursive: true }).map(String).filter((f) => /quant-int4-\d+\.bin$/.test(f)).map((f) => statSync(join(cache, f)).size);
    const [size] = bin();
    assert.ok(size! > 0, 'the codes were written beside the graph');
    assert.deepEqual(await logitsOf('external'), inline);
    assert.deepEqual(bin(), [size], 'reused, not appended again');
  } finally {
    if (previous === undefined) delete process.env.PERSONA_PROBE_CACHE;
    else process.env.PERSONA_PROBE_CACHE = previous;
  }
  await assert.rejects(Engine.load(`${dir}?weights=int3`), (e: unknown) => e instanceof UserError && /weights=int3 is not one the engine has \(float32, int8, int4\)/.test(e.message));
});

test("against node-llama-cpp on the same Q8_0 / Q4_0 GGUF: both read the same decoded weights (the engine with float32 activations equals llama.cpp on the F32 GGUF of those weights); what remains is llama.cpp's own int8 activations", async (t) => {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const { familyConfig } = await import('./engine-helpers.js');
  const { writeGgufModel } = await import('../src/engine/random-model.js');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const config = { ...familyConfig('llama', { layers: 3 }), tie_word_embeddings: false };
  const root = tempDir('pp-quant-gguf-');
  const weights = randomWeights(config, { seed: 5, sharpness: 0.5 });
  const dir = join(root, 'model');
  writeModelFolder(dir, config, SMOLLM_DIR, weights);
  type Dist = Map<number, number>[];
  const llamaCpp = async (gguf: string, ids: number[]): Promise<Dist> => {
    const model = await llama.loadModel({ modelPath: gguf });
    const context = await model.createContext({ contextSize: 512, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    try {
      const seq = context.getSequence();
      const res = await seq.controlledEvaluate(ids.map((id) => [id, { generateNext: { probabilities: true } }] as const) as never);
      seq.dispose();
      return res.map((r) => (r as { next: { probabilities: Map<number, number> } }).next.probabilities);
    } finally {
      await context.dispose();
      await model.dispose();
    }
  };
  /** Max |log p difference| over each position's top 50 of `a`. */
  const apart = (a: Dist, logp: (pos: number, tok: number) => number) => {
    let worst = 0;
    a.forEach((m, pos) => {
      for (const [tok, p] of [...m.entries()].sort((x, y) => y[1] - x[1]).slice(0, 50)) worst = Math.max(worst, Math.abs(Math.log(p) - logp(pos, tok)));
    });
    return worst;
  };
  for (const quant of ['int8', 'int4'] as const) {
    const engine = await Engine.load(`${dir}?weights=${quant}`, { quantizedActivations: 'float32' });
    try {
      const ids = engine.tokenizer.encode(PROMPT);
      const V = engine.spec.vocab;
      const { logits } = await engine.forward(ids, { logits: 'all' });
      const mine = ids.map((_, p) => logSoftmax(logits.subarray(p * V, (p + 1) * V)));
      const quantized = join(root, `${quant}.gguf`);
      writeGgufModel(quantized, config, weights, SMOLLM_DIR, 'random', quant);
      const decodedFile = join(root, `${quant}-decoded.gguf`);
      writeGgufModel(decodedFile, config, new Map([...weights].map(([n, w]) => [n, MATRIX.test(n) ? { shape: w.shape, data: dequantize(quantizeWeight(w.data, w.shape[0]!, w.shape[1]!, quant)) } : w])), SMOLLM_DIR);
      const onQuantized = await llamaCpp(quantized, ids);
      const onDecoded = await llamaCpp(decodedFile, ids);
      const engineVsDecoded = apart(onDecoded, (pos, tok) => mine[pos]![tok]!);
      const llamaVsItself = apart(onQuantized, (pos, tok) => Math.log(onDecoded[pos]!.get(tok) ?? 1e-30));
      const engineVsQuantized = apart(onQuantized, (pos, tok) => mine[pos]![tok]!);
      t.diagnostic(`${quant}: engine vs llama.cpp on the decoded F32 GGUF ${engineVsDecoded.toExponential(2)}; llama.cpp on ${quant === 'int8' ? 'Q8_0' : 'Q4_0'} vs on the decoded F32 ${llamaVsItself.toExponential(2)}; engine vs llama.cpp on ${quant === 'int8' ? 'Q8_0' : 'Q4_0'} ${engineVsQuantized.toExponential(2)} (${ids.length} positions, top 50)`);
      assert.ok(engineVsDecoded < 1e-3, `${quant}: ${engineVsDecoded}`);
      assert.ok(Math.abs(engineVsQuantized - llamaVsItself) < 0.1 * llamaVsItself, 'the engine is as far from llama.cpp on the quantized file as llama.cpp is from itself on the decoded weights');
    } finally {
      await engine.dispose();
    }
  }
});
