// Weight-only block quantization for ONNX Runtime's MatMulNBits (com.microsoft): a [N, K]
// weight becomes uint8 codes [N, ceil(K / 32), 32 * bits / 8] and float32 scales [N, ceil(K / 32)],
// dequantized as (code - zero point) * scale with the operator's default zero point
// (2^(bits - 1)). The grids are llama.cpp's: int8 is Q8_0 (scale = max |x| / 127, codes
// round(x / scale)), int4 is Q4_0 (scale = the block's largest-magnitude value / -8, codes
// round(x / scale) + 8 clamped to 0..15); llama.cpp stores scales as float16, and so do these
// (rounded to float16), so both runtimes see the same weights.

import { fromHalf, toHalf } from './formats/half.js';

export type WeightQuant = 'int8' | 'int4';

export const QUANT_BLOCK = 32;

export interface QuantizedWeight {
  bits: 4 | 8;
  /** Rows (output features) and columns (input features) of the float weight. */
  N: number;
  K: number;
  codes: Uint8Array;
  scales: Float32Array;
}

/** The bytes MatMulNBits reads for an [N, K] weight: the codes, and a float32 scale per block. */
export function quantizedByteLength(N: number, K: number, quant: WeightQuant): number {
  const blocks = Math.ceil(K / QUANT_BLOCK);
  return N * blocks * ((QUANT_BLOCK * (quant === 'int8' ? 8 : 4)) / 8 + 4);
}

/** Quantize a row-major [N, K] float32 weight (rows are output features, as Hugging Face stores them). */
export function quantizeWeight(data: Float32Array, N: number, K: number, quant: WeightQuant): QuantizedWeight {
  const bits = quant === 'int8' ? 8 : 4;
  const blocks = Math.ceil(K / QUANT_BLOCK);
  const blob = (QUANT_BLOCK * bits) / 8;
  const codes = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zero = 2 ** (bits - 1);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      const from = n * K + b * QUANT_BLOCK;
      const len = Math.min(QUANT_BLOCK, K - b * QUANT_BLOCK);
      // As ggml's reference quantizers: codes from the unrounded scale, the scale stored as float16.
      let d: number;
      if (bits === 8) {
        let amax = 0;
        for (let i = 0; i < len; i++) amax = Math.max(amax, Math.abs(data[from + i]!));
        d = Math.fround(amax / 127);
      } else {
        let max = 0;
        for (let i = 0; i < len; i++) if (Math.abs(data[from + i]!) > Math.abs(max)) max = data[from + i]!;
        d = Math.fround(max / -8);
      }
      scales[n * blocks + b] = fromHalf(toHalf(d));
      const inv = d !== 0 ? Math.fround(1 / d) : 0;
      const out = (n * blocks + b) * blob;
      for (let i = 0; i < QUANT_BLOCK; i++) {
        const v = Math.fround((i < len ? data[from + i]! : 0) * inv);
        // Q8_0: roundf (halves away from zero); Q4_0: (int)(v + 8.5) capped at 15.
        const code = bits === 8 ? Math.sign(v) * Math.floor(Math.abs(v) + 0.5) + zero : Math.min(15, Math.floor(v + 8.5));
        if (bits === 8) codes[out + i] = code;
        else codes[out + (i >> 1)]! |= (i & 1 ? code << 4 : code);
      }
    }
  }
  return { bits, N, K, codes, scales };
}

/** The weight a runtime reading the codes sees, [N, K] float32 (for references and tests). */
export function dequantize(q: QuantizedWeight): Float32Array {
  const blocks = Math.ceil(q.K / QUANT_BLOCK);
  const blob = (QUANT_BLOCK * q.bits) / 8;
  const zero = 2 ** (q.bits - 1);
  const out = new Float32Array(q.N * q.K);
  for (let n = 0; n < q.N; n++) {
    for (let k = 0; k < q.K; k++) {
      const b = Math.floor(k / QUANT_BLOCK);
      const i = k % QUANT_BLOCK;
      const at = (n * blocks + b) * blob;
      const code = q.bits === 8 ? q.codes[at + i]! : (q.codes[at + (i >> 1)]! >> ((i & 1) * 4)) & 15;
      out[n * q.K + k] = Math.fround((code - zero) * q.scales[n * blocks + b]!);
    }
  }
  return out;
}
