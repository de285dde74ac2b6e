// Float32 vectors as base64 text: how activations are stored in JSON (4 bytes a
// number instead of ~20 as decimal text; exact for float32).

export function encodeF32(values: ArrayLike<number>): string {
  const a = Float32Array.from(values as ArrayLike<number>);
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

export function decodeF32(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
