// A float64 reference forward pass written from transformers' modeling code, for where
// llama.cpp is not an exact reference: its CPU GELU reads an fp16 table (Gemma), and it
// does not window Mistral's or Phi-3's attention. Plain loops over Hugging Face-named weights; nothing from src/engine but the
// config reader, so it checks the engine's graph, not itself.

import type { ArchSpec } from '../src/engine/arch.js';
import type { Weight } from '../src/engine/random-model.js';

const toF16 = new Float32Array(1);
/** Round to the nearest float16 (for emulating llama.cpp's fp16 GELU table). */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) > 65504) return x;
  if (x === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const step = 2 ** (Math.max(e, -14) - 10);
  toF16[0] = Math.round(x / step) * step;
  return toF16[0]!;
}

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/**
 * Next-token log-probabilities at every position of `ids`: Llama, Mistral, Qwen2/3, Phi-3,
 * OLMo-2, Gemma 2 and Gemma 3 semantics, read off the spec's flags (norm placement, (1 + w),
 * activation, q/k norms, biases, fused projections, soft-caps, windows, two ropes).
 */
export function referenceForward(spec: ArchSpec, weights: Map<string, Weight>, ids: number[], options: { geluF16?: boolean; mlpPost?: Float64Array[][] } = {}): Float64Array[] {
  const W = (n: string) => weights.get(n)!;
  const d = spec.dModel;
  const T = ids.length;
  const { heads: H, kvHeads: KV, headDim: hd } = spec;
  /** Rows [from, from + n) of a weight times x, plus a bias if the weights have it. */
  const matvec = (w: Weight, x: Float64Array, from = 0, n = w.shape[0]!, bias?: Weight): Float64Array => {
    const cols = w.shape[1]!;
    const out = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let s = bias ? bias.data[r]! : 0;
      for (let c = 0; c < cols; c++) s += w.data[(from + r) * cols + c]! * x[c]!;
      out[r] = s;
    }
    return out;
  };
  const has = (n: string) => weights.has(n);
  const rms = (x: Float64Array, w: Weight): Float64Array => {
    let ms = 0;
    for (const v of x) ms += v * v;
    const inv = 1 / Math.sqrt(ms / x.length + spec.rmsEps);
    return x.map((v, i) => v * inv * ((spec.normPlusOne ? 1 : 0) + w.data[i]!));
  };
  const act = (g: number) => (spec.activation === 'silu' ? g / (1 + Math.exp(-g)) : options.geluF16 ? roundF16(geluTanh(roundF16(g))) : geluTanh(g));
  const cap = (x: number, c: number | undefined) => (c === undefined ? x : c * Math.tanh(x / c));
  // LongRoPE (up to its original length): each frequency divided by its short factor, cos and sin scaled.
  const freqs = (theta: number, scaling: ArchSpec['ropeScaling']) => Array.from({ length: hd / 2 }, (_, i) => 1 / theta ** ((2 * i) / hd) / (scaling.kind === 'linear' ? scaling.factor : scaling.kind === 'longrope' ? scaling.shortFactor[i]! : 1));
  const ropeScale = spec.ropeScaling.kind === 'longrope' ? spec.ropeScaling.attentionFactor : 1;
  const globalFreq = freqs(spec.ropeTheta, spec.ropeScaling);
  const localFreq = spec.localRope ? freqs(spec.localRope.theta, spec.localRope.scaling) : globalFreq;
  /** Gemma 3: RMSNorm by (1 + w) on each head of q and k, before rotation. */
  const headNorm = (v: Float64Array, heads: number, w: Weight) => {
    for (let h = 0; h < heads; h++) {
      let ms = 0;
      for (let i = 0; i < hd; i++) ms += v[h * hd + i]! ** 2;
      const inv = 1 / Math.sqrt(ms / hd + spec.rmsEps);
      for (let i = 0; i < hd; i++) v[h * hd + i] = v[h * hd + i]! * inv * ((spec.normPlusOne ? 1 : 0) + w.data[i]!);
    }
  };
  const rope = (v: Float64Array, pos: number, head: number, invFreq: number[]) => {
    const o = head * hd;
    for (let i = 0; i < hd / 2; i++) {
      const a = pos * invFreq[i]!;
      const [x1, x2] = [v[o + i]!, v[o + i + hd / 2]!];
      v[o + i] = ropeScale * (x1 * Math.cos(a) - x2 * Math.sin(a));
      v[o + i + hd / 2] = ropeScale * (x2 * Math.cos(a) + x1 * Math.sin(a));
    }
  };
  const embed = W('model.embed_tokens.weight');
  const scale = spec.embedScale ? Math.fround(Math.sqrt(d)) : 1;
  let h = ids.map((id) => Float64Array.from(embed.data.subarray(id * d, (id + 1) * d), (v) => v * scale));
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const x = spec.norms === 'post' ? h : h.map((r) => rms(r, W(`${p}.input_layernorm.weight`)));
    const invFreq = spec.slidingLayers[l] ? localFreq : globalFreq;
    const a = `${p}.self_attn`;
    const bias = (n: string) => (has(`${a}.${n}_proj.bias`) ? W(`${a}.${n}_proj.bias`) : undefined);
    // Phi-3 stacks q, k, v in one qkv_proj.
    const proj = (n: 'q' | 'k' | 'v', r: Float64Array) =>
      spec.fused ? matvec(W(`${a}.qkv_proj.weight`), r, n === 'q' ? 0 : n === 'k' ? H * hd : (H + KV) * hd, (n === 'q' ? H : KV) * hd) : matvec(W(`${a}.${n}_proj.weight`), r, 0, undefined, bias(n));
    const normed = (v: Float64Array, n: 'q' | 'k', heads: number) => {
      if (spec.qkNorm === 'head') headNorm(v, heads, W(`${a}.${n}_norm.weight`));
      if (spec.qkNorm === 'full') v.set(rms(v, W(`${a}.${n}_norm.weight`)));
      return v;
    };
    const q = x.map((r, t) => {
      const v = normed(proj('q', r), 'q', H);
      for (let k = 0; k < H; k++) rope(v, t, k, invFreq);
      return v;
    });
    const k = x.map((r, t) => {
      const v = normed(proj('k', r), 'k', KV);
      for (let j = 0; j < KV; j++) rope(v, t, j, invFreq);
      return v;
    });
    const v = x.map((r) => proj('v', r));
    const attn = q.map((qt, t) => {
      const out = new Float64Array(H * hd);
      for (let head = 0; head < H; head++) {
        const kvh = Math.floor(head / (H / KV));
        const scores: number[] = [];
        for (let s = 0; s <= t; s++) {
          const masked = spec.slidingLayers[l] && spec.slidingWindow !== undefined && t - s >= spec.slidingWindow;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += qt[head * hd + i]! * k[s]![kvh * hd + i]!;
          scores.push(masked ? -Infinity : cap(dot / Math.sqrt(spec.queryScalar), spec.attnSoftcap));
        }
        const m = Math.max(...scores);
        const e = scores.map((sc) => Math.exp(sc - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) out[head * hd + i] = out[head * hd + i]! + (e[s]! / z) * v[s]![kvh * hd + i]!;
      }
      return out;
    });
    h = h.map((r, t) => {
      const o = matvec(W(`${a}.o_proj.weight`), attn[t]!, 0, undefined, has(`${a}.o_proj.bias`) ? W(`${a}.o_proj.bias`) : undefined);
      const out = spec.norms === 'pre' ? o : rms(o, W(`${p}.post_attention_layernorm.weight`));
      return r.map((val, i) => val + out[i]!);
    });
    h = h.map((r) => {
      const y = spec.norms === 'pre' ? rms(r, W(`${p}.post_attention_layernorm.weight`)) : spec.norms === 'sandwich' ? rms(r, W(`${p}.pre_feedforward_layernorm.weight`)) : r;
      const ffn = spec.ffn;
      const gate = spec.fused ? matvec(W(`${p}.mlp.gate_up_proj.weight`), y, 0, ffn) : matvec(W(`${p}.mlp.gate_proj.weight`), y);
      const up = spec.fused ? matvec(W(`${p}.mlp.gate_up_proj.weight`), y, ffn, ffn) : matvec(W(`${p}.mlp.up_proj.weight`), y);
      // The MLP's intermediate activation, act_fn(gate_proj(x)) * up_proj(x), what down_proj reads.
      const hidden = gate.map((g, i) => act(g) * up[i]!);
      if (options.mlpPost) (options.mlpPost[l] ??= []).push(hidden);
      const down = matvec(W(`${p}.mlp.down_proj.weight`), hidden);
      const m = spec.norms === 'pre' ? down : rms(down, W(`${p}.post_feedforward_layernorm.weight`));
      return r.map((val, i) => val + m[i]!);
    });
  }
  const unembed = spec.tiedEmbeddings ? embed : W('lm_head.weight');
  return h.map((r) => {
    const logits = matvec(unembed, rms(r, W('model.norm.weight'))).map((x) => cap(x, spec.finalSoftcap));
    const m = Math.max(...logits);
    const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
    return logits.map((x) => x - lse);
  });
}
