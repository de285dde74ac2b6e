// Safetensors: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and [begin, end) byte range in the data section, then the
// data. We read F32, F16 and BF16 (computed in float32) and write F32, which is
// what `trace` and the vector tools emit, so numpy/PyTorch read them directly.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../../util/errors.js';
import { fromHalf } from './half.js';
import { writeAll } from '../../util/files.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  fileOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  path: string;
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

/** Read and validate the header: every range inside the file and consistent with its shape. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new UserError(`${path}: cannot open safetensors file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new UserError(`${path}: truncated safetensors file (${size} bytes, no header)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER || 8 + headerLen > size) throw new UserError(`${path}: truncated or not a safetensors file (header of ${headerLen} bytes in a ${size}-byte file)`);
    const hbuf = Buffer.alloc(headerLen);
    readSync(fd, hbuf, 0, headerLen, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(hbuf.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new UserError(`${path}: not a safetensors file (header is not JSON)`);
    }
    const dataStart = 8 + headerLen;
    const tensors = new Map<string, TensorInfo>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(json)) {
      if (name === '__metadata__') {
        metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const t = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!t || typeof t.dtype !== 'string' || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets)) throw new UserError(`${path}: tensor ${name} has a malformed header entry`);
      if (!(t.dtype in BYTES)) throw new UserError(`${path}: tensor ${name} has unsupported dtype ${t.dtype} (F32, F16 and BF16 are supported)`);
      const dtype = t.dtype as SafetensorsDtype;
      const [begin, end] = t.data_offsets;
      if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new UserError(`${path}: tensor ${name} has shape ${JSON.stringify(t.shape)} (non-negative integers expected)`);
      if (t.data_offsets.length !== 2 || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) throw new UserError(`${path}: tensor ${name} has data offsets ${JSON.stringify(t.data_offsets)}`);
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (end - begin !== count * BYTES[dtype]) throw new UserError(`${path}: tensor ${name} has ${end - begin} bytes for shape [${t.shape.join(', ')}] ${dtype}`);
      if (dataStart + end > size) throw new UserError(`${path}: truncated: tensor ${name} ends at byte ${dataStart + end} of ${size}`);
      tensors.set(name, { name, dtype, shape: t.shape, fileOffset: dataStart + begin, byteLength: end - begin });
    }
    return { path, tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** Convert raw little-endian bytes of a float dtype to float32. */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  const n = bytes.byteLength / BYTES[dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = fromHalf(dv.getUint16(i * 2, true));
      return out;
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = dv.getUint16(i * 2, true) << 16;
      return out;
    }
    default:
      throw new UserError(`tensor dtype ${dtype} is not a float type`);
  }
}

/** Read one tensor's raw bytes. */
/**
 * Rows of a 2-D tensor, by index, as float32 ([ids.length, columns]): read from the file one
 * row at a time, so a lookup never holds the matrix.
 */
export function readRows(info: TensorInfo, path: string, ids: readonly number[]): Float32Array {
  const [rows, cols] = info.shape as [number, number];
  const rowBytes = cols * BYTES[info.dtype];
  const buf = new Uint8Array(ids.length * rowBytes);
  const fd = openSync(path, 'r');
  try {
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= rows) throw new RangeError(`${info.name}: row ${id} outside 0-${rows - 1}`);
      if (readSync(fd, buf, i * rowBytes, rowBytes, info.fileOffset + id * rowBytes) !== rowBytes) throw new UserError(`${path}: truncated while reading tensor ${info.name}`);
    });
  } finally {
    closeSync(fd);
  }
  return toFloat32(buf, info.dtype);
}

export function readTensorBytes(info: TensorInfo, path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(info.byteLength);
    let done = 0;
    while (done < info.byteLength) {
      const n = readSync(fd, buf, done, info.byteLength - done, info.fileOffset + done);
      if (n === 0) throw new UserError(`${path}: truncated while reading tensor ${info.name}`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function readTensorF32(header: SafetensorsHeader, name: string): { shape: number[]; data: Float32Array } {
  const info = header.tensors.get(name);
  if (!info) throw new UserError(`${header.path}: no tensor named ${name} (has ${[...header.tensors.keys()].slice(0, 8).join(', ')}${header.tensors.size > 8 ? ', ...' : ''})`);
  return { shape: info.shape, data: toFloat32(readTensorBytes(info, header.path), info.dtype) };
}

export interface TensorToWrite {
  shape: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint16Array;
  /** Defaults from the array type: F32, I64, I32; a Uint16Array must say F16 or BF16. */
  dtype?: SafetensorsDtype;
}

/** A safetensors header: the optional metadata, then each tensor's dtype, shape and byte range, in order. */
export function safetensorsHeader(tensors: readonly { name: string; dtype: SafetensorsDtype; shape: number[]; byteLength: number }[], metadata?: Record<string, string>): Record<string, unknown> {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  return header;
}

/** A safetensors file's first bytes: the header's length (u64 LE) and the header, padded with spaces so the data starts 8-byte aligned. */
export function safetensorsPreamble(header: Record<string, unknown>): [Buffer, Buffer] {
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return [len, json];
}

/** Write tensors (in insertion order) with optional string metadata. */
export function writeSafetensors(path: string, tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const parts = entries.map(([name, t]) => {
    const dtype: SafetensorsDtype = t.dtype ?? (t.data instanceof Float32Array ? 'F32' : t.data instanceof BigInt64Array ? 'I64' : t.data instanceof Int32Array ? 'I32' : 'F16');
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${name}: shape [${t.shape.join(', ')}] does not match ${t.data.length} values`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return { name, dtype, shape: t.shape, byteLength: bytes.byteLength, bytes };
  });
  const header = safetensorsHeader(parts, metadata);
  // Written piece by piece: a full-size model would otherwise be copied once more in memory.
  const fd = openSync(path, 'w');
  try {
    for (const p of [...safetensorsPreamble(header), ...parts.map((x) => x.bytes)]) writeAll(fd, p);
  } finally {
    closeSync(fd);
  }
}
