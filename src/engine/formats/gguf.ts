// GGUF (v3) writer and reader: enough of the format for F32/F16 tensors and all
// metadata value types. Used to build test models that node-llama-cpp loads and,
// later, llama.cpp control vectors. Layout: header, metadata KVs, tensor infos,
// padding to `general.alignment`, tensor data (each tensor aligned).

import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { QUANT_BLOCK, quantizeWeight } from '../quantize.js';
import { fromHalf, toBf16Bits, toHalf } from './half.js';
import { writeAll } from '../../util/files.js';

// Kept importable from here, where they were first defined.
export { fromHalf, toHalf };
import { UserError } from '../../util/errors.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

export enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export enum GgmlType {
  F32 = 0,
  F16 = 1,
  /** Blocks of 32: a float16 scale, then 16 bytes of 4-bit codes (element j low, j + 16 high). */
  Q4_0 = 2,
  /** Blocks of 32: a float16 scale, then 32 signed bytes. */
  Q8_0 = 8,
  BF16 = 30,
}

export type GgufScalar = { type: Exclude<GgufType, GgufType.ARRAY | GgufType.STRING>; value: number | bigint | boolean } | { type: GgufType.STRING; value: string };
export type GgufValue = GgufScalar | { type: GgufType.ARRAY; itemType: Exclude<GgufType, GgufType.ARRAY>; values: (number | bigint | boolean | string)[] };

export const gguf = {
  str: (value: string): GgufValue => ({ type: GgufType.STRING, value }),
  u32: (value: number): GgufValue => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.BOOL, value }),
  strings: (values: string[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.STRING, values }),
  i32s: (values: number[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.INT32, values }),
};

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] varies fastest. A row-major [rows, cols] matrix is [cols, rows]. */
  dims: number[];
  type: GgmlType;
  data: Float32Array;
}

/** Growable little-endian byte buffer. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void { this.ensure(1); this.buf.writeUInt8(v, this.length); this.length += 1; }
  i8(v: number): void { this.ensure(1); this.buf.writeInt8(v, this.length); this.length += 1; }
  u16(v: number): void { this.ensure(2); this.buf.writeUInt16LE(v, this.length); this.length += 2; }
  i16(v: number): void { this.ensure(2); this.buf.writeInt16LE(v, this.length); this.length += 2; }
  u32(v: number): void { this.ensure(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.ensure(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.ensure(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  f64(v: number): void { this.ensure(8); this.buf.writeDoubleLE(v, this.length); this.length += 8; }
  u64(v: number | bigint): void { this.ensure(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  i64(v: number | bigint): void { this.ensure(8); this.buf.writeBigInt64LE(BigInt(v), this.length); this.length += 8; }
  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.length);
    this.length += bytes.length;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.ensure(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeScalar(w: ByteWriter, type: GgufType, v: number | bigint | boolean | string): void {
  switch (type) {
    case GgufType.UINT8: return w.u8(Number(v));
    case GgufType.INT8: return w.i8(Number(v));
    case GgufType.UINT16: return w.u16(Number(v));
    case GgufType.INT16: return w.i16(Number(v));
    case GgufType.UINT32: return w.u32(Number(v));
    case GgufType.INT32: return w.i32(Number(v));
    case GgufType.FLOAT32: return w.f32(Number(v));
    case GgufType.BOOL: return w.u8(v ? 1 : 0);
    case GgufType.STRING: return w.str(String(v));
    case GgufType.UINT64: return w.u64(typeof v === 'bigint' ? v : Number(v));
    case GgufType.INT64: return w.i64(typeof v === 'bigint' ? v : Number(v));
    case GgufType.FLOAT64: return w.f64(Number(v));
    default: throw new Error(`gguf: cannot write scalar of type ${type}`);
  }
}

function tensorBytes(t: GgufTensor): number {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new Error(`gguf: tensor ${t.name} has ${t.data.length} values for dims [${t.dims.join(', ')}]`);
  if (t.type === GgmlType.Q8_0 || t.type === GgmlType.Q4_0) {
    if (t.dims[0]! % QUANT_BLOCK !== 0) throw new Error(`gguf: tensor ${t.name}: rows of ${t.dims[0]} values are not whole blocks of ${QUANT_BLOCK}`);
    return (n / QUANT_BLOCK) * (t.type === GgmlType.Q8_0 ? 34 : 18);
  }
  return t.type === GgmlType.F32 ? n * 4 : n * 2;
}

/**
 * A tensor in ggml's Q8_0 or Q4_0 blocks, quantized on the same grid as the engine's int8 and
 * int4 weights (quantizeWeight), so both runtimes read the same values; only the packing differs.
 */
function quantizedBytes(t: GgufTensor): Buffer {
  const K = t.dims[0]!;
  const N = t.data.length / K;
  const int8 = t.type === GgmlType.Q8_0;
  const q = quantizeWeight(t.data, N, K, int8 ? 'int8' : 'int4');
  const blocks = N * (K / QUANT_BLOCK);
  const size = int8 ? 34 : 18;
  const out = Buffer.alloc(blocks * size);
  for (let b = 0; b < blocks; b++) {
    out.writeUInt16LE(toHalf(q.scales[b]!), b * size);
    if (int8) for (let i = 0; i < QUANT_BLOCK; i++) out.writeInt8(q.codes[b * QUANT_BLOCK + i]! - 128, b * size + 2 + i);
    else {
      // MatMulNBits packs element 2j low and 2j + 1 high; ggml packs j low and j + 16 high.
      const code = (i: number) => (q.codes[b * 16 + (i >> 1)]! >> ((i & 1) * 4)) & 15;
      for (let j = 0; j < 16; j++) out[b * size + 2 + j] = code(j) | (code(j + 16) << 4);
    }
  }
  return out;
}

export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufTensor[]): void {
  const head = new ByteWriter();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  const meta = { 'general.alignment': gguf.u32(GGUF_ALIGNMENT), ...metadata };
  head.u64(Object.keys(meta).length);
  for (const [key, value] of Object.entries(meta)) {
    head.str(key);
    head.u32(value.type);
    if (value.type === GgufType.ARRAY) {
      head.u32(value.itemType);
      head.u64(value.values.length);
      for (const v of value.values) writeScalar(head, value.itemType, v);
    } else writeScalar(head, value.type, value.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offsets.push(offset);
    offset += tensorBytes(t);
    offset += (GGUF_ALIGNMENT - (offset % GGUF_ALIGNMENT)) % GGUF_ALIGNMENT;
  }
  head.pad(GGUF_ALIGNMENT);
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, head.bytes());
    let written = 0;
    tensors.forEach((t, i) => {
      const pad = offsets[i]! - written;
      if (pad > 0) writeAll(fd, Buffer.alloc(pad));
      let bytes: Buffer;
      if (t.type === GgmlType.F32) bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      else if (t.type === GgmlType.Q8_0 || t.type === GgmlType.Q4_0) bytes = quantizedBytes(t);
      else if (t.type === GgmlType.BF16) {
        const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
        const half = new Uint16Array(t.data.length);
        for (let k = 0; k < t.data.length; k++) half[k] = toBf16Bits(bits[k]!);
        bytes = Buffer.from(half.buffer);
      } else {
        const half = new Uint16Array(t.data.length);
        for (let k = 0; k < t.data.length; k++) half[k] = toHalf(t.data[k]!);
        bytes = Buffer.from(half.buffer);
      }
      writeAll(fd, bytes);
      written = offsets[i]! + bytes.length;
    });
  } finally {
    closeSync(fd);
  }
}

export interface GgufFile {
  version: number;
  metadata: Map<string, unknown>;
  /** Metadata value types, to check files field by field against the format. */
  metadataTypes: Map<string, { type: GgufType; itemType?: GgufType }>;
  tensors: { name: string; dims: number[]; type: GgmlType; offset: number; data: Float32Array }[];
}

/** readGguf reads the whole file: it is meant for control vectors and test models, not multi-GB checkpoints. */
const MAX_READ_BYTES = 2 ** 31 - 1;

/**
 * Read a whole GGUF file (F32/F16 tensors) into memory. Meant for small files: tests and
 * control vectors. Every count and size in the file is checked against the bytes that are
 * left before anything is allocated; a malformed file is one UserError naming it.
 */
export function readGguf(path: string): GgufFile {
  let buf: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > MAX_READ_BYTES) throw new UserError(`${path}: ${size} bytes is too large to read whole (GGUF files read here are control vectors and test models)`);
      buf = Buffer.alloc(size);
      readSync(fd, buf, 0, size, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`${path}: cannot read GGUF file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const bad = (what: string) => new UserError(`${path}: not a valid GGUF file (${what})`);
  let p = 0;
  const need = (n: number) => {
    if (!Number.isSafeInteger(n) || n < 0 || p + n > buf.length) throw bad(`truncated: ${n} bytes needed at offset ${p} of ${buf.length}`);
  };
  /** A count of items, each at least `minBytes` long: it cannot exceed what is left of the file. */
  const count = (n: number, what: string, minBytes = 1) => {
    if (!Number.isSafeInteger(n) || n < 0 || n * minBytes > buf.length - p) throw bad(`${what} ${n} does not fit in the ${buf.length - p} bytes left`);
    return n;
  };
  const u32 = () => { need(4); const v = buf.readUInt32LE(p); p += 4; return v; };
  const u64 = () => { need(8); const v = Number(buf.readBigUInt64LE(p)); p += 8; return v; };
  const str = () => { const n = u64(); need(n); const s = buf.toString('utf8', p, p + n); p += n; return s; };
  const scalar = (type: GgufType): unknown => {
    switch (type) {
      case GgufType.UINT8: need(1); return buf.readUInt8(p++);
      case GgufType.INT8: need(1); return buf.readInt8(p++);
      case GgufType.UINT16: { need(2); const v = buf.readUInt16LE(p); p += 2; return v; }
      case GgufType.INT16: { need(2); const v = buf.readInt16LE(p); p += 2; return v; }
      case GgufType.UINT32: return u32();
      case GgufType.INT32: { need(4); const v = buf.readInt32LE(p); p += 4; return v; }
      case GgufType.FLOAT32: { need(4); const v = buf.readFloatLE(p); p += 4; return v; }
      case GgufType.BOOL: need(1); return buf.readUInt8(p++) !== 0;
      case GgufType.STRING: return str();
      case GgufType.UINT64: return u64();
      case GgufType.INT64: { need(8); const v = Number(buf.readBigInt64LE(p)); p += 8; return v; }
      case GgufType.FLOAT64: { need(8); const v = buf.readDoubleLE(p); p += 8; return v; }
      default: throw bad(`unknown value type ${type} at offset ${p}`);
    }
  };
  if (buf.length < 4 || u32() !== GGUF_MAGIC) throw bad('bad magic');
  const version = u32();
  const nTensors = count(u64(), 'tensor count', 24);
  const nKv = count(u64(), 'metadata count', 12);
  const metadata = new Map<string, unknown>();
  const metadataTypes = new Map<string, { type: GgufType; itemType?: GgufType }>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    if (metadata.has(key)) throw bad(`metadata key ${key} appears twice`);
    const type = u32() as GgufType;
    if (type === GgufType.ARRAY) {
      const itemType = u32() as GgufType;
      if (itemType === GgufType.ARRAY) throw bad(`metadata ${key} is an array of arrays`);
      const n = count(u64(), `array length of ${key}`);
      const values: unknown[] = [];
      for (let k = 0; k < n; k++) values.push(scalar(itemType));
      metadata.set(key, values);
      metadataTypes.set(key, { type, itemType });
    } else {
      metadata.set(key, scalar(type));
      metadataTypes.set(key, { type });
    }
  }
  const infos: { name: string; dims: number[]; type: GgmlType; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    if (nd < 1 || nd > 4) throw bad(`tensor ${name} has ${nd} dimensions (1 to 4)`);
    const dims = Array.from({ length: nd }, () => u64());
    const type = u32() as GgmlType;
    infos.push({ name, dims, type, offset: u64() });
  }
  const alignment = metadata.get('general.alignment') ?? GGUF_ALIGNMENT;
  if (typeof alignment !== 'number' || !Number.isInteger(alignment) || alignment < 1 || alignment > 65536) throw bad(`general.alignment ${String(alignment)}`);
  const dataStart = Math.ceil(p / alignment) * alignment;
  const tensors = infos.map((t) => {
    const bytesPer = t.type === GgmlType.F32 ? 4 : t.type === GgmlType.F16 || t.type === GgmlType.BF16 ? 2 : 0;
    if (!bytesPer) throw new UserError(`${path}: tensor ${t.name} has type ${t.type} (F32, F16 and BF16 are read here)`);
    let n = 1;
    for (const d of t.dims) {
      if (!Number.isSafeInteger(d) || d < 0) throw bad(`tensor ${t.name} has dimension ${d}`);
      n *= d;
    }
    const start = dataStart + t.offset;
    // Sizes are checked before the tensor is allocated.
    if (!Number.isSafeInteger(n * bytesPer) || !Number.isSafeInteger(start) || start + n * bytesPer > buf.length) throw bad(`tensor ${t.name} of ${n} values at offset ${t.offset} runs past the end of the file`);
    const data = new Float32Array(n);
    if (bytesPer === 4) for (let k = 0; k < n; k++) data[k] = buf.readFloatLE(start + 4 * k);
    else if (t.type === GgmlType.BF16) {
      const bits = new Uint32Array(data.buffer);
      for (let k = 0; k < n; k++) bits[k] = buf.readUInt16LE(start + 2 * k) << 16;
    } else for (let k = 0; k < n; k++) data[k] = fromHalf(buf.readUInt16LE(start + 2 * k));
    return { ...t, data };
  });
  return { version, metadata, metadataTypes, tensors };
}
