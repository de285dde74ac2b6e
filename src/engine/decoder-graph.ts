// The decoder as an ONNX graph, built in TypeScript from an ArchSpec and a weight
// source. Tokens run flat (no padding); activations are [tokens, d_model]. Attention runs over
// R rows of Q tokens each (R * Q = T): one row of every token for a sequence, or packed
// sequences under a block-diagonal mask; or R sequences decoding one token each (Q = 1), each
// row with its own cache.
//
// Inputs:  inputs_embeds [T, d_model] (the tokens' embedding rows, read from the weight file by the
//          caller: the runtime never holds the embedding matrix for a lookup, only for a tied
//          unembedding), rope_cos/rope_sin [T, headDim/2], attn_bias [R, Q, C+Q]
//          (additive mask over a row's cache slots then its new tokens), logit_index [K] int64
//          (rows whose logits are wanted), past_key.{L} [R, kvHeads, headDim, C] /
//          past_value.{L} [R, kvHeads, C, headDim] (a cache buffer of capacity C per row; slots
//          past its length are masked), and each intervention's inputs (see ivInput).
// Outputs: logits [K, vocab], the hooks the layout names, new_key.{L} [R, kvHeads, headDim, Q]
//          (keys transposed, as the key cache is kept), new_value.{L} [R, kvHeads, Q, headDim].
//
// Only the hooks a layout names become graph outputs: ONNX Runtime keeps every
// graph output alive for the whole run whether or not it is fetched (measured:
// 100 unfetched [8192, 512] outputs cost 1.6 GB), so a layout exposes exactly what
// is asked and nothing else.

import { allHookNames, blockHook, HOOK_EMBED, HOOK_FINAL, type BlockHook } from './hooks.js';
import type { ArchSpec } from './arch.js';
import { GraphBuilder, type ElemType, type ExternalRef } from './onnx/builder.js';
import { QUANT_BLOCK, type WeightQuant } from './quantize.js';

export type InterventionOp = 'add' | 'cap' | 'neurons';

export interface GraphLayout {
  /** Hook names exposed as outputs. */
  hooks: string[];
  /** Intervention points, applied in list order at each hook. */
  interventions: { hook: string; op: InterventionOp }[];
  /** new_key/new_value outputs for incremental decoding (the past_* inputs are always there). */
  kvCache: boolean;
}

/** Where the graph gets a weight from: float32 values inline, or raw bytes in a file. */
export type WeightSource =
  | { kind: 'inline'; shape: number[]; data: Float32Array }
  | { kind: 'external'; shape: number[]; elem: ElemType; ref: ExternalRef };

export interface WeightProvider {
  has(name: string): boolean;
  get(name: string): WeightSource;
}

export const GRAPH_INPUTS = { embeds: 'inputs_embeds', cos: 'rope_cos', sin: 'rope_sin', cosLocal: 'rope_cos_local', sinLocal: 'rope_sin_local', bias: 'attn_bias', windowBias: 'attn_bias_window', logitIndex: 'logit_index' } as const;
export const pastKey = (l: number) => `past_key.${l}`;
export const pastValue = (l: number) => `past_value.${l}`;
export const newKey = (l: number) => `new_key.${l}`;
export const newValue = (l: number) => `new_value.${l}`;

/**
 * Intervention i's inputs. add: vector [d] (coef * v), gate [T, 1]. cap: unit [d, 1], min/max [T, 1].
 * neurons (on mlp.hook_post): value [ffn], replace [ffn] (1 where the neuron is replaced), gate [T, 1].
 */
export const ivInput = (i: number, part: 'vector' | 'gate' | 'unit' | 'min' | 'max' | 'value' | 'replace') => `intervention.${i}.${part}`;

export function layoutKey(layout: GraphLayout): string {
  return JSON.stringify([layout.hooks, layout.interventions.map((i) => `${i.hook}:${i.op}`), layout.kvCache]);
}

/** Weight-only quantization of the matrix products: the grid, and how to read a weight as float32 to quantize it. */
/** Quantized codes or scales: in the graph, or in a file beside it (ONNX external data). */
export type QuantTensor = { kind: 'inline'; data: Uint8Array } | { kind: 'external'; ref: ExternalRef };

/** The product's weights (the named matrices stacked by rows), quantized: [N, K] as codes and per-block scales. */
export interface StackedQuant {
  N: number;
  K: number;
  bits: 4 | 8;
  codes: QuantTensor;
  /** float32 [N, ceil(K / 32)]: inline as its bytes. */
  scales: QuantTensor;
}

export interface GraphQuantization {
  kind: WeightQuant;
  /** The named weights stacked by rows and quantized (the engine caches them, in memory or on disk). */
  stacked(names: string[]): StackedQuant;
  /**
   * How MatMulNBits multiplies: 'int8' (its accuracy_level 4: activations quantized to int8 per
   * block, as llama.cpp's CPU kernels do; 20x faster decode for int8 weights here) or 'float32'
   * (accuracy_level 0: exactly the float32 product with the decoded weights).
   */
  activations: 'int8' | 'float32';
}

/** Bytes of float32 unembedding per slice (see unembedProduct). */
const UNEMBED_SLICE_BYTES = 16 * 2 ** 20;

export function buildDecoderGraph(spec: ArchSpec, weights: WeightProvider, layout: GraphLayout, quant?: GraphQuantization): GraphBuilder {
  // Every hook the layout names must exist in this model (checked before any work).
  const known = new Set(allHookNames(spec.layers));
  for (const h of [...layout.hooks, ...layout.interventions.map((i) => i.hook)]) if (!known.has(h)) throw new Error(`layout names unknown hook ${h}`);
  const g = new GraphBuilder('persona-probe-decoder');
  const { dModel: d, heads: H, kvHeads: KV, headDim: hd } = spec;
  const group = H / KV;
  const half = hd / 2;

  const loaded = new Map<string, string>();
  /** A weight as float32 (fp16/bf16 external data is cast in the graph; ORT folds the cast at load). */
  const W = (name: string): string => {
    const done = loaded.get(name);
    if (done) return done;
    const w = weights.get(name);
    let value: string;
    if (w.kind === 'inline') value = g.initializer(name, w.shape, w.data);
    else {
      const raw = g.externalInitializer(name, w.shape, w.elem, w.ref);
      value = w.elem === 'float32' ? raw : g.node('Cast', [raw], { to: 1 /* FLOAT */ });
    }
    loaded.set(name, value);
    return value;
  };
  /** Rows [start, end) of a matrix weight, as float32: an initializer of its own. */
  const rowsOf = (name: string, start: number, end: number): string => {
    const w = weights.get(name);
    const cols = w.shape[1]!;
    const shape = [end - start, cols];
    if (w.kind === 'inline') return g.initializer(`${name}[${start}:${end}]`, shape, w.data.subarray(start * cols, end * cols));
    const bytes = w.ref.length / (w.shape[0]! * cols);
    const raw = g.externalInitializer(`${name}[${start}:${end}]`, shape, w.elem, { location: w.ref.location, offset: w.ref.offset + start * cols * bytes, length: (end - start) * cols * bytes });
    return w.elem === 'float32' ? raw : g.node('Cast', [raw], { to: 1 /* FLOAT */ });
  };

  const embedded = g.input(GRAPH_INPUTS.embeds, 'float32', ['T', d]);
  const cosIn = g.input(GRAPH_INPUTS.cos, 'float32', ['T', half]);
  const sinIn = g.input(GRAPH_INPUTS.sin, 'float32', ['T', half]);
  const biasIn = g.input(GRAPH_INPUTS.bias, 'float32', ['R', 'Q', 'S']);
  // Sliding layers attend through their own mask (the same causal mask, minus keys past the window).
  const windowBiasIn = spec.slidingLayers.some(Boolean) ? g.input(GRAPH_INPUTS.windowBias, 'float32', ['R', 'Q', 'S']) : biasIn;
  // [R, 1, 1, Q, S]: broadcast over kv heads and their query groups.
  const bias = g.node('Unsqueeze', [biasIn, g.constI64([1, 2])]);
  const windowBias = windowBiasIn === biasIn ? bias : g.node('Unsqueeze', [windowBiasIn, g.constI64([1, 2])]);
  const rowsTokens = g.node('Shape', [biasIn], { start: 0, end: 2 }); // [R, Q]
  const qShape = g.node('Concat', [rowsTokens, g.constI64([KV, group, hd])], { axis: 0 });
  const kvShape = g.node('Concat', [rowsTokens, g.constI64([KV, hd])], { axis: 0 });
  const logitIndex = g.input(GRAPH_INPUTS.logitIndex, 'int64', ['K']);
  // [T, 1, half]: broadcast over heads.
  const cos = g.node('Unsqueeze', [cosIn, g.constI64([1])]);
  const sin = g.node('Unsqueeze', [sinIn, g.constI64([1])]);
  // Gemma 3: sliding layers rotate with their own base (rope_cos_local / rope_sin_local).
  const local = spec.localRope
    ? { cos: g.node('Unsqueeze', [g.input(GRAPH_INPUTS.cosLocal, 'float32', ['T', half]), g.constI64([1])]), sin: g.node('Unsqueeze', [g.input(GRAPH_INPUTS.sinLocal, 'float32', ['T', half]), g.constI64([1])]) }
    : undefined;
  const eps = g.constF32([spec.rmsEps], []);
  const two = g.constF32([2], []);

  // Interventions: input names per hook, in list order.
  const ivAt = new Map<string, { index: number; op: InterventionOp }[]>();
  layout.interventions.forEach((iv, index) => {
    const list = ivAt.get(iv.hook) ?? [];
    list.push({ index, op: iv.op });
    ivAt.set(iv.hook, list);
    if (iv.op === 'add') {
      g.input(ivInput(index, 'vector'), 'float32', [d]);
      g.input(ivInput(index, 'gate'), 'float32', ['T', 1]);
    } else if (iv.op === 'neurons') {
      g.input(ivInput(index, 'value'), 'float32', [spec.ffn]);
      g.input(ivInput(index, 'replace'), 'float32', [spec.ffn]);
      g.input(ivInput(index, 'gate'), 'float32', ['T', 1]);
    } else {
      g.input(ivInput(index, 'unit'), 'float32', [d, 1]);
      g.input(ivInput(index, 'min'), 'float32', ['T', 1]);
      g.input(ivInput(index, 'max'), 'float32', ['T', 1]);
    }
  });
  const exposed = new Set(layout.hooks);

  /** Pass a residual-stream value through a hook point: interventions, then (maybe) output. */
  const hook = (name: string, value: string): string => {
    let h = value;
    for (const { index, op } of ivAt.get(name) ?? []) {
      if (op === 'add') {
        // h <- h + gate * (coef * v)
        h = g.node('Add', [h, g.node('Mul', [ivInput(index, 'gate'), ivInput(index, 'vector')])]);
      } else {
        // p = <h, u>; h <- h + (clamp(p, min, max) - p) * u. Inside the band the
        // correction is exactly 0, so h is left bit-for-bit unchanged.
        const p = g.node('MatMul', [h, ivInput(index, 'unit')]);
        const clamped = g.node('Max', [g.node('Min', [p, ivInput(index, 'max')]), ivInput(index, 'min')]);
        const row = g.node('Reshape', [ivInput(index, 'unit'), g.constI64([1, d])]);
        h = g.node('Add', [h, g.node('Mul', [g.node('Sub', [clamped, p]), row])]);
      }
    }
    if (exposed.has(name)) g.output(h, name, 'float32', ['T', d]);
    return h;
  };

  /** Hugging Face RMSNorm (Pow, ReduceMean, Add, Sqrt, Div, Mul: the pattern ORT fuses). */
  const rmsNormWith = (x: string, weight: string): string => {
    const variance = g.node('ReduceMean', [g.node('Pow', [x, two])], { axes: [-1], keepdims: 1 });
    const normed = g.node('Div', [x, g.node('Sqrt', [g.node('Add', [variance, eps])])]);
    return g.node('Mul', [normed, weight]);
  };
  const one = g.constF32([1], []);
  // Gemma's RMSNorm multiplies by (1 + weight); ORT folds the Add on the initializer at load.
  const normWeight = (weight: string): string => (spec.normPlusOne ? g.node('Add', [W(weight), one]) : W(weight));
  const rmsNorm = (x: string, weight: string): string => rmsNormWith(x, normWeight(weight));
  /** cap * tanh(x / cap): Gemma 2's soft-capping of attention scores and final logits. */
  const softcap = (x: string, cap: number | undefined): string => {
    if (cap === undefined) return x;
    const c = g.constF32([cap], []);
    return g.node('Mul', [g.node('Tanh', [g.node('Div', [x, c])]), c]);
  };
  /** The MLP gate's activation: SiLU, or GELU with the tanh approximation (transformers' gelu_pytorch_tanh). */
  const gateActivation = (x: string): string => {
    if (spec.activation === 'silu') return g.node('Mul', [x, g.node('Sigmoid', [x])]);
    const cube = g.node('Mul', [g.node('Mul', [x, x]), x]);
    const inner = g.node('Mul', [g.node('Add', [x, g.node('Mul', [cube, g.constF32([0.044715], [])])]), g.constF32([Math.sqrt(2 / Math.PI)], [])]);
    return g.node('Mul', [g.node('Mul', [x, g.constF32([0.5], [])]), g.node('Add', [g.node('Tanh', [inner]), one])]);
  };

  /**
   * x times the stacked weights (rows = output features), plus the stacked biases: one Gemm
   * in float32 (ORT folds the Concat of initializers at load), or with quantized weights one
   * MatMulNBits over the stacked rows, quantized here.
   */
  const project = (x: string, names: string[], biases: string[] = []): string => {
    const bias = biases.length ? (biases.length === 1 ? W(biases[0]!) : g.node('Concat', biases.map(W), { axis: 0 })) : undefined;
    if (!quant) {
      const w = names.length === 1 ? W(names[0]!) : g.node('Concat', names.map(W), { axis: 0 });
      return g.node('Gemm', bias ? [x, w, bias] : [x, w], { transB: 1 });
    }
    const q = quant.stacked(names);
    const { N, K } = q;
    const blocks = Math.ceil(K / QUANT_BLOCK);
    const place = (name: string, dims: number[], elem: 'uint8' | 'float32', t: QuantTensor) =>
      t.kind === 'external' ? g.externalInitializer(name, dims, elem, t.ref) : elem === 'uint8' ? g.initializerU8(name, dims, t.data) : g.initializer(name, dims, new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4));
    const codes = place(`${names[0]}.${quant.kind}`, [N, blocks, (QUANT_BLOCK * q.bits) / 8], 'uint8', q.codes);
    const scales = place(`${names[0]}.${quant.kind}.scales`, [N, blocks], 'float32', q.scales);
    const y = g.contrib('MatMulNBits', [x, codes, scales], { K, N, bits: q.bits, block_size: QUANT_BLOCK, accuracy_level: quant.activations === 'int8' ? 4 : 0 });
    return bias ? g.node('Add', [y, bias]) : y;
  };
  const linear = (x: string, weight: string): string => project(x, [weight]);
  /**
   * The unembedding in float32, by slices of the vocabulary: ONNX Runtime packs each weight for
   * its product at load while still holding the weight as read, so the largest matrix is briefly
   * held twice; slices bound that to one slice (measured on the 135M shape: 112 MiB less at peak,
   * decode speed unchanged). Quantized products read codes and pack nothing.
   */
  const unembedProduct = (x: string, name: string): string => {
    const slice = Math.max(1, Math.floor(UNEMBED_SLICE_BYTES / (4 * d)));
    if (quant || spec.vocab <= slice) return project(x, [name]);
    const parts: string[] = [];
    for (let start = 0; start < spec.vocab; start += slice) parts.push(g.node('Gemm', [x, rowsOf(name, start, Math.min(spec.vocab, start + slice))], { transB: 1 }));
    return g.node('Concat', parts, { axis: -1 });
  };

  /** Rotate halves: [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin] on [T, heads, hd]. */
  const rope = (x: string, tables: { cos: string; sin: string } = { cos, sin }): string => {
    const [x1, x2] = g.nodeN('Split', [x, g.constI64([half, half])], 2, { axis: -1 }) as [string, string];
    const a = g.node('Sub', [g.node('Mul', [x1, tables.cos]), g.node('Mul', [x2, tables.sin])]);
    const b = g.node('Add', [g.node('Mul', [x2, tables.cos]), g.node('Mul', [x1, tables.sin])]);
    return g.node('Concat', [a, b], { axis: -1 });
  };

  const embedName = 'model.embed_tokens.weight';
  // hook_embed is what enters the residual stream (Gemma scales the rows by sqrt(d_model), rounded to float32 as transformers does).
  let resid = hook(HOOK_EMBED, spec.embedScale ? g.node('Mul', [embedded, g.constF32([Math.fround(Math.sqrt(d))], [])]) : embedded);
  const scale = g.constF32([1 / Math.sqrt(spec.queryScalar)], []);

  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const at = (h: BlockHook) => blockHook(l, h);
    resid = hook(at('hook_resid_pre'), resid);

    // Attention. q, k and v come from one Gemm on stacked weights (ORT folds the
    // Concat of initializers at load), and q and k are rotated together: fewer,
    // larger kernels, which is what decode speed on CPU depends on.
    // OLMo-2 normalises after attention and MLP instead (post norms, inside the branch).
    const x = spec.norms !== 'post' ? rmsNorm(resid, `${p}.input_layernorm.weight`) : resid;
    const proj = (n: string) => `${p}.self_attn.${n}_proj`;
    // Phi-3 stores them stacked already (qkv_proj), in the same q, k, v order.
    const qkvNames = spec.fused ? [`${p}.self_attn.qkv_proj.weight`] : [`${proj('q')}.weight`, `${proj('k')}.weight`, `${proj('v')}.weight`];
    let flat = project(x, qkvNames, weights.has(`${proj('q')}.bias`) ? [`${proj('q')}.bias`, `${proj('k')}.bias`, `${proj('v')}.bias`] : []);
    if (spec.qkNorm === 'full') {
      // OLMo-2: RMSNorm over the whole query projection and the whole key projection.
      const [qf, kf, vf] = g.nodeN('Split', [flat, g.constI64([H * hd, KV * hd, KV * hd])], 3, { axis: 1 }) as [string, string, string];
      flat = g.node('Concat', [rmsNorm(qf, `${p}.self_attn.q_norm.weight`), rmsNorm(kf, `${p}.self_attn.k_norm.weight`), vf], { axis: 1 });
    }
    const qkv = g.node('Reshape', [flat, g.constI64([-1, H + 2 * KV, hd])]);
    let [qk, v] = g.nodeN('Split', [qkv, g.constI64([H + KV, KV])], 2, { axis: 1 }) as [string, string];
    if (spec.qkNorm === 'head') {
      // Per-head RMSNorm with q_norm on the H query heads and k_norm on the KV key heads.
      const tiled = g.node('Concat', [
        g.node('Expand', [normWeight(`${p}.self_attn.q_norm.weight`), g.constI64([H, hd])]),
        g.node('Expand', [normWeight(`${p}.self_attn.k_norm.weight`), g.constI64([KV, hd])]),
      ], { axis: 0 });
      qk = rmsNormWith(qk, tiled);
    }
    const [q, k] = g.nodeN('Split', [rope(qk, local && spec.slidingLayers[l] ? local : undefined), g.constI64([H, KV])], 2, { axis: 1 }) as [string, string];
    // Query heads grouped by the kv head they share, per row: [R, kv, group, Q, hd]. (Folding group
    // and Q into one dimension, to avoid broadcasting the cache per group, measured slower decode at
    // context 2,048: 31 against 37 tok/s.)
    const qg = g.node('Transpose', [g.node('Reshape', [g.node('Mul', [q, scale]), qShape])], { perm: [0, 2, 3, 1, 4] });
    // This call's keys and values, [kv, T, hd]: returned so the caller appends them to
    // its cache buffer in place. The cache comes in as a buffer of capacity C whose
    // unused slots attn_bias masks out; attention runs over [cache | new] without
    // ever concatenating (copying) the cache, so a decode step costs O(new tokens) in
    // copies instead of O(context).
    // Keys are kept transposed, [kv, hd, n], so attention reads the cache as is.
    const kNew = g.node('Transpose', [g.node('Reshape', [k, kvShape])], { perm: [0, 2, 3, 1] }, newKey(l));
    const vNew = g.node('Transpose', [g.node('Reshape', [v, kvShape])], { perm: [0, 2, 1, 3] }, newValue(l));
    if (layout.kvCache) {
      g.output(kNew, newKey(l), 'float32', ['R', KV, hd, 'Q']);
      g.output(vNew, newValue(l), 'float32', ['R', KV, 'Q', hd]);
    }
    const unsq = (x: string) => g.node('Unsqueeze', [x, g.constI64([2])]);
    const pastK = g.input(pastKey(l), 'float32', ['R', KV, hd, 'C']);
    const pastV = g.input(pastValue(l), 'float32', ['R', KV, 'C', hd]);
    const raw = g.node('Concat', [g.node('MatMul', [qg, unsq(pastK)]), g.node('MatMul', [qg, unsq(kNew)])], { axis: -1 });
    const scores = g.node('Add', [softcap(raw, spec.attnSoftcap), spec.slidingLayers[l] ? windowBias : bias]); // [R, kv, group, Q, C+Q]
    const probs = g.node('Softmax', [scores], { axis: -1 });
    const capacity = g.node('Shape', [pastV], { start: 2, end: 3 });
    const probsPast = g.node('Slice', [probs, g.constI64([0]), capacity, g.constI64([-1])]);
    const probsNew = g.node('Slice', [probs, capacity, g.constI64([2 ** 62]), g.constI64([-1])]);
    const ctx = g.node('Add', [g.node('MatMul', [probsPast, unsq(pastV)]), g.node('MatMul', [probsNew, unsq(vNew)])]); // [R, kv, group, Q, hd]
    const merged = g.node('Reshape', [g.node('Transpose', [ctx], { perm: [0, 3, 1, 2, 4] }), g.constI64([-1, H * hd])]);
    const oProj = linear(merged, `${p}.self_attn.o_proj.weight`);
    const attnRaw = spec.oBias ? g.node('Add', [oProj, W(`${p}.self_attn.o_proj.bias`)]) : oProj;
    // hook_attn_out is what the attention branch adds to the residual stream (after OLMo-2's post norm).
    const attnOut = hook(at('hook_attn_out'), spec.norms !== 'pre' ? rmsNorm(attnRaw, `${p}.post_attention_layernorm.weight`) : attnRaw);
    resid = hook(at('hook_resid_mid'), g.node('Add', [resid, attnOut]));

    // Gated MLP: SwiGLU, or Gemma's GeGLU.
    const x2 = spec.norms === 'pre' ? rmsNorm(resid, `${p}.post_attention_layernorm.weight`) : spec.norms === 'sandwich' ? rmsNorm(resid, `${p}.pre_feedforward_layernorm.weight`) : resid;
    const gateUp = project(x2, spec.fused ? [`${p}.mlp.gate_up_proj.weight`] : [`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`]);
    const [gate, up] = g.nodeN('Split', [gateUp, g.constI64([spec.ffn, spec.ffn])], 2, { axis: 1 }) as [string, string];
    let act = g.node('Mul', [gateActivation(gate), up]);
    // The MLP's hidden activations, [T, ffn]. Neuron interventions replace the listed neurons:
    // act <- act + gate * replace * (value - act), so every other neuron is left bit for bit.
    const mlpPost = blockHook(l, 'mlp.hook_post');
    for (const { index, op } of ivAt.get(mlpPost) ?? []) {
      if (op !== 'neurons') continue;
      const change = g.node('Mul', [ivInput(index, 'replace'), g.node('Sub', [ivInput(index, 'value'), act])]);
      act = g.node('Add', [act, g.node('Mul', [ivInput(index, 'gate'), change])]);
    }
    if (exposed.has(mlpPost)) g.output(act, mlpPost, 'float32', ['T', spec.ffn]);
    const down = linear(act, `${p}.mlp.down_proj.weight`);
    const mlpOut = hook(at('hook_mlp_out'), spec.norms !== 'pre' ? rmsNorm(down, `${p}.post_feedforward_layernorm.weight`) : down);
    resid = hook(at('hook_resid_post'), g.node('Add', [resid, mlpOut]));
  }

  const normed = hook(HOOK_FINAL, rmsNorm(resid, 'model.norm.weight'));
  // Unembed only the rows asked for: prefill for generation needs one, trace needs all.
  const rows = g.node('Gather', [normed, logitIndex], { axis: 0 });
  const unembed = spec.tiedEmbeddings || !weights.has('lm_head.weight') ? embedName : 'lm_head.weight';
  g.output(softcap(unembedProduct(rows, unembed), spec.finalSoftcap), 'logits', 'float32', ['K', spec.vocab]);

  return g;
}
