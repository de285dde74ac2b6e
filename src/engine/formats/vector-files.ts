// Persona-vector files. Ours: safetensors with one float32 [d_model] tensor per layer,
// named by the hook it was read at (blocks.L.hook_resid_post), so an interventions
// YAML can point straight at it; the PCA option as pca.blocks.L.hook_resid_post;
// per-layer separation and the recommended layer in the metadata.
//
// llama.cpp's control vectors: GGUF with general.architecture = "controlvector",
// controlvector.model_hint (the model's architecture name), controlvector.layer_count,
// and one F32 tensor direction.N of n_embd per layer. llama.cpp adds direction.N to the
// OUTPUT of block N (0-based, so block 0's output cannot be targeted). In our hook names
// that is blocks.N.hook_resid_post. (Hugging Face's hidden_states[N] is the output of
// block N-1: the anchors differ by one, which is why the mapping is stated and tested.)

import { readHead } from '../../util/files.js';
import { UserError } from '../../util/errors.js';
import { gguf, GgmlType, readGguf, writeGguf } from './gguf.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from './safetensors.js';

export interface VectorSet {
  /** layer -> direction read at blocks.L.hook_resid_post. */
  layers: Map<number, Float32Array>;
  /** The PCA option, same layout, when computed. */
  pca?: Map<number, Float32Array>;
  /** Free-form provenance (trait, model, method, separation JSON, recommended layer). */
  metadata: Record<string, string>;
}

export const residPost = (layer: number): string => `blocks.${layer}.hook_resid_post`;

/** Layer numbers past this are no model's (the deepest published decoders have a few hundred blocks). */
const MAX_LAYER = 4096;

/**
 * Refuse what no direction can be: non-finite values, zero width, layers of different
 * widths, a zero vector, absurd layer numbers. One line naming the file and the tensor.
 */
function checkDirections(path: string, sets: [(layer: number) => string, Map<number, Float32Array>][]): void {
  let width: number | undefined;
  for (const [nameOf, layers] of sets) {
    for (const [layer, v] of layers) {
      const name = nameOf(layer);
      if (!Number.isInteger(layer) || layer < 0 || layer > MAX_LAYER) throw new UserError(`${path}: ${name}: layer ${layer} is out of range (0..${MAX_LAYER})`);
      if (v.length === 0) throw new UserError(`${path}: ${name} has no values`);
      width ??= v.length;
      if (v.length !== width) throw new UserError(`${path}: ${name} has ${v.length} values where the file's other directions have ${width}`);
      let norm = 0;
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i]!)) throw new UserError(`${path}: ${name} holds ${v[i]} at index ${i} (a direction must be finite)`);
        norm += v[i]! * v[i]!;
      }
      if (norm === 0) throw new UserError(`${path}: ${name} is the zero vector (no direction)`);
    }
  }
}
const RESID_POST = /^blocks\.(\d+)\.hook_resid_post$/;

export function writeVectorFile(path: string, set: VectorSet): void {
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [l, v] of [...set.layers].sort((a, b) => a[0] - b[0])) tensors[residPost(l)] = { dtype: 'F32', shape: [v.length], data: v };
  for (const [l, v] of [...(set.pca ?? new Map<number, Float32Array>())].sort((a, b) => a[0] - b[0])) tensors[`pca.${residPost(l)}`] = { dtype: 'F32', shape: [v.length], data: v };
  writeSafetensors(path, tensors, { format: 'persona-probe-vectors', ...set.metadata });
}

/** Read our safetensors vector files, llama.cpp control-vector GGUFs (repeng exports the same format) by content. */
export function readVectorFile(path: string): VectorSet & { format: 'persona-probe' | 'llama.cpp' } {
  let magic = '';
  try {
    magic = readHead(path, 4).toString('latin1');
  } catch (err) {
    throw new UserError(`${path}: cannot read vector file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (magic === 'GGUF') return { ...readControlVector(path), format: 'llama.cpp' };
  const header = readSafetensorsHeader(path);
  const layers = new Map<number, Float32Array>();
  const pca = new Map<number, Float32Array>();
  for (const [name, info] of header.tensors) {
    const plain = RESID_POST.exec(name);
    const viaPca = name.startsWith('pca.') ? RESID_POST.exec(name.slice(4)) : null;
    if (!plain && !viaPca) continue;
    if (info.shape.length !== 1) throw new UserError(`${path}: ${name} has shape [${info.shape.join(', ')}], expected [d_model]`);
    (plain ? layers : pca).set(Number((plain ?? viaPca)![1]), readTensorF32(header, name).data);
  }
  if (layers.size === 0) throw new UserError(`${path}: no blocks.L.hook_resid_post tensors (not a persona-vector file)`);
  checkDirections(path, [[residPost, layers], [(l) => `pca.${residPost(l)}`, pca]]);
  return { layers, ...(pca.size ? { pca } : {}), metadata: header.metadata, format: 'persona-probe' };
}

/**
 * Write a llama.cpp control vector: direction.N = the vector read at blocks.N.hook_resid_post,
 * times `scale`. Layer 0 cannot be targeted by llama.cpp and is left out (returned in `skipped`).
 */
export function writeControlVector(path: string, layers: ReadonlyMap<number, Float32Array>, modelHint: string, scale = 1): { written: number[]; skipped: number[] } {
  const written = [...layers.keys()].filter((l) => l >= 1).sort((a, b) => a - b);
  const skipped = [...layers.keys()].filter((l) => l < 1);
  if (!written.length) throw new UserError('no layer to export: llama.cpp control vectors cannot target block 0');
  writeGguf(
    path,
    { 'general.architecture': gguf.str('controlvector'), 'controlvector.model_hint': gguf.str(modelHint), 'controlvector.layer_count': gguf.i32(written.length) },
    written.map((l) => ({ name: `direction.${l}`, dims: [layers.get(l)!.length], type: GgmlType.F32, data: scale === 1 ? layers.get(l)! : layers.get(l)!.map((x) => x * scale) })),
  );
  return { written, skipped };
}

export function readControlVector(path: string): VectorSet {
  const file = readGguf(path);
  const arch = file.metadata.get('general.architecture');
  if (arch !== 'controlvector') throw new UserError(`${path}: general.architecture is ${JSON.stringify(arch)}, not "controlvector"`);
  const hint = file.metadata.get('controlvector.model_hint');
  if (typeof hint !== 'string') throw new UserError(`${path}: missing controlvector.model_hint`);
  const layers = new Map<number, Float32Array>();
  for (const t of file.tensors) {
    const m = /^direction\.(\d+)$/.exec(t.name);
    if (!m) continue;
    const layer = Number(m[1]);
    if (layer < 1) throw new UserError(`${path}: ${t.name}: llama.cpp control vectors start at direction.1`);
    if (t.dims.length !== 1) throw new UserError(`${path}: ${t.name} has shape [${t.dims}], expected [n_embd]`);
    if (layers.has(layer)) throw new UserError(`${path}: ${t.name} appears twice`);
    if (layer > MAX_LAYER) throw new UserError(`${path}: ${t.name}: layer ${layer} is out of range (1..${MAX_LAYER})`);
    layers.set(layer, t.data);
  }
  if (!layers.size) throw new UserError(`${path}: no direction.N tensors`);
  checkDirections(path, [[(l) => `direction.${l}`, layers]]);
  const count = file.metadata.get('controlvector.layer_count');
  return { layers, metadata: { model_hint: hint, source: 'llama.cpp control vector', ...(count !== undefined ? { layer_count: String(count) } : {}) } };
}

