// What loading a model folder on the engine will take, said before loading, and a refusal in
// one line when it cannot fit. The engine runs in float32: every live session holds the
// weights it reads as float32 (float16/bfloat16 files are cast a tensor at a time, into a float32
// copy in the engine cache or into an inline graph); inline weights are also held once in
// JavaScript and once more in the encoded protobuf while the graph is built.

import { totalmem } from 'node:os';
import { UserError } from '../util/errors.js';
import type { ModelFolder } from './model-folder.js';
import { quantizedByteLength, type WeightQuant } from './quantize.js';

/** The runtime's own footprint, beside the weights (measured: a 2-layer model peaks near 200 MB). */
const RUNTIME_BYTES = 256 * 2 ** 20;

/** Matrix weights the quantized graph reads as MatMulNBits codes (every projection, and the unembedding). */
const QUANTIZED = /(_proj\.weight|^lm_head\.weight)$/;

export interface MemoryEstimate {
  /** The float32 weights a session holds (the embedding only as a tied unembedding: lookups read rows from the file). */
  float32Bytes: number;
  /** Those weights as stored. */
  storedBytes: number;
  /** The largest 16-bit weight, stored and cast to float32: what casting holds at once (0 for float32 files). */
  castBytes: number;
  sessions: number;
  inline: boolean;
  /** With weight-only quantization: the codes and scales, in bytes (the float32 figure then counts only what stays float32). */
  quantizedBytes?: number;
  quantize?: WeightQuant;
  /** The estimated peak. */
  total: number;
}

/** Read by the engine itself, a row per token, from the weight file: the runtime holds it only as a tied float32 unembedding. */
const EMBEDDING = 'model.embed_tokens.weight';

export function estimateMemory(folder: Pick<ModelFolder, 'float32Bytes' | 'tensors' | 'spec'>, o: { sessions: number; inline: boolean; quantize?: WeightQuant }): MemoryEstimate {
  const heldEmbedding = folder.spec.tiedEmbeddings && !o.quantize;
  // Quantized: the matrices become codes and float32 scales (one per block of 32); the rest stays float32.
  let float32Bytes = 0;
  let quantizedBytes = 0;
  let largest = 0;
  // Only the tensors that stay float32 are read by the runtime (and cast, when stored in 16 bits); quantized matrices are read by the quantizer, one stack at a time.
  let storedFloat = 0;
  // 16-bit weights are cast one tensor at a time (into the cache folder's float32 copy, or into an
  // inline graph): the largest one, stored and cast, is held at once.
  let castBytes = 0;
  for (const [name, { info }] of folder.tensors) {
    const values = info.shape.reduce((a, b) => a * b, 1);
    largest = Math.max(largest, values * 4);
    if (name === EMBEDDING && !heldEmbedding) continue;
    if (o.quantize && QUANTIZED.test(name)) quantizedBytes += quantizedByteLength(info.shape[0]!, info.shape[1]!, o.quantize);
    else {
      float32Bytes += values * 4;
      storedFloat += info.byteLength;
      if (info.dtype !== 'F32') castBytes = Math.max(castBytes, info.byteLength * 3);
    }
  }
  if (!o.quantize) {
    const total = o.sessions * float32Bytes + castBytes + (o.inline ? 2 * float32Bytes : 0) + RUNTIME_BYTES;
    return { float32Bytes, storedBytes: storedFloat, castBytes, sessions: o.sessions, inline: o.inline, total };
  }
  // A tied unembedding is quantized from the embedding.
  if (folder.spec.tiedEmbeddings) quantizedBytes += quantizedByteLength(folder.spec.vocab, folder.spec.dModel, o.quantize);
  // While a graph is built: inline, the codes are held in JavaScript and once more in the encoded
  // protobuf; external, each stack is quantized from float32 (the largest weight, twice at most) and written out.
  const total = o.sessions * (float32Bytes + quantizedBytes) + castBytes + (o.inline ? 2 * quantizedBytes + 2 * float32Bytes : 2 * largest) + RUNTIME_BYTES;
  return { float32Bytes, storedBytes: storedFloat, castBytes, sessions: o.sessions, inline: o.inline, quantizedBytes, quantize: o.quantize, total };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** One line: the estimate and what it is made of. */
export function describeMemory(e: MemoryEstimate): string {
  return `about ${gib(e.total)} at peak: ${e.quantize ? `${gib(e.quantizedBytes!)} of ${e.quantize} and ${gib(e.float32Bytes)} of float32 weights` : `${gib(e.float32Bytes)} of float32 weights`} × ${e.sessions} session${e.sessions > 1 ? 's' : ''}${e.castBytes ? `, plus ${gib(e.castBytes)} while the largest 16-bit weight is cast` : ''}${e.inline ? ', plus two copies while an inline graph is built' : ''}, plus the runtime`;
}

/** Refuse, in one line, a model the machine cannot hold (`available` defaults to its total memory). */
export function checkFits(where: string, e: MemoryEstimate, available = totalmem()): void {
  if (e.total <= available) return;
  throw new UserError(`${where}: the engine would need ${describeMemory(e)}; this machine has ${gib(available)} (${e.quantize ? 'run a smaller model' : 'int8 or int4 weights (DIR?weights=int4) take less; or run a smaller model'}, or this one on a machine with more memory)`);
}
