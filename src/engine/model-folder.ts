// A Hugging Face model folder: config.json, tokenizer files, and weights in
// safetensors (one file, or shards listed by model.safetensors.index.json).
// Weights are checked against the architecture before any graph is built, so a
// missing or misshapen tensor is one clear error rather than a runtime crash.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { archSpecOf, type ArchSpec } from './arch.js';
import { readSafetensorsHeader, readTensorBytes, toFloat32, type TensorInfo } from './formats/safetensors.js';
import type { ElemType } from './onnx/builder.js';
import type { WeightProvider, WeightSource } from './decoder-graph.js';

/** Every weight a decoder of this spec reads, with its row-major shape. */
export function expectedWeights(spec: ArchSpec): Map<string, number[]> {
  const { dModel: d, heads: H, kvHeads: KV, headDim: hd, ffn } = spec;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [spec.vocab, d]);
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    if (spec.norms !== 'post') m.set(`${p}.input_layernorm.weight`, [d]);
    if (spec.fused) m.set(`${p}.self_attn.qkv_proj.weight`, [(H + 2 * KV) * hd, d]);
    else {
      m.set(`${p}.self_attn.q_proj.weight`, [H * hd, d]);
      m.set(`${p}.self_attn.k_proj.weight`, [KV * hd, d]);
      m.set(`${p}.self_attn.v_proj.weight`, [KV * hd, d]);
    }
    if (spec.qkvBias) {
      m.set(`${p}.self_attn.q_proj.bias`, [H * hd]);
      m.set(`${p}.self_attn.k_proj.bias`, [KV * hd]);
      m.set(`${p}.self_attn.v_proj.bias`, [KV * hd]);
    }
    if (spec.qkNorm !== 'none') {
      m.set(`${p}.self_attn.q_norm.weight`, [spec.qkNorm === 'full' ? H * hd : hd]);
      m.set(`${p}.self_attn.k_norm.weight`, [spec.qkNorm === 'full' ? KV * hd : hd]);
    }
    m.set(`${p}.self_attn.o_proj.weight`, [d, H * hd]);
    if (spec.oBias) m.set(`${p}.self_attn.o_proj.bias`, [d]);
    m.set(`${p}.post_attention_layernorm.weight`, [d]);
    if (spec.norms === 'sandwich') m.set(`${p}.pre_feedforward_layernorm.weight`, [d]);
    if (spec.norms !== 'pre') m.set(`${p}.post_feedforward_layernorm.weight`, [d]);
    if (spec.fused) m.set(`${p}.mlp.gate_up_proj.weight`, [2 * ffn, d]);
    else {
      m.set(`${p}.mlp.gate_proj.weight`, [ffn, d]);
      m.set(`${p}.mlp.up_proj.weight`, [ffn, d]);
    }
    m.set(`${p}.mlp.down_proj.weight`, [d, ffn]);
  }
  m.set('model.norm.weight', [d]);
  if (!spec.tiedEmbeddings) m.set('lm_head.weight', [spec.vocab, d]);
  return m;
}

/** Buffers some checkpoints save that are recomputed, not read: rotary tables. */
const IGNORABLE_TENSOR = /(^|\.)rotary_emb\.inv_freq$/;

const ELEM_OF = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

interface Located {
  file: string;
  info: TensorInfo;
}

export interface ModelFolder {
  dir: string;
  config: Record<string, unknown>;
  spec: ArchSpec;
  /** Absolute paths of the safetensors files, in index order. */
  weightFiles: string[];
  tensors: Map<string, Located>;
  /** Bytes of the weights the graph reads once in float32: what decides inline vs external data. */
  float32Bytes: number;
}

export function openModelFolder(dirIn: string): ModelFolder {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dirIn}: not a model folder (expected a directory with config.json and safetensors weights)`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new UserError(`${configPath}: missing (a Hugging Face model folder needs config.json)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UserError(`${configPath}: not valid JSON (${(err as Error).message})`);
  }
  const spec = archSpecOf(config, configPath);

  const indexPath = join(dir, 'model.safetensors.index.json');
  let files: string[];
  if (existsSync(indexPath)) {
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map?: Record<string, string> };
    if (!index.weight_map) throw new UserError(`${indexPath}: no weight_map`);
    files = [...new Set(Object.values(index.weight_map))].map((f) => join(dir, f));
  } else if (existsSync(join(dir, 'model.safetensors'))) {
    files = [join(dir, 'model.safetensors')];
  } else {
    throw new UserError(`${dir}: no weights (model.safetensors or model.safetensors.index.json)`);
  }
  const tensors = new Map<string, Located>();
  for (const file of files) {
    if (!existsSync(file)) throw new UserError(`${file}: weight shard listed in the index is missing`);
    for (const info of readSafetensorsHeader(file).tensors.values()) tensors.set(info.name, { file, info });
  }
  let float32Bytes = 0;
  const expected = expectedWeights(spec);
  for (const [name, { file }] of tensors) {
    // A tensor the graph would not read means the folder is not the architecture its config names.
    if (!expected.has(name) && !IGNORABLE_TENSOR.test(name)) throw new UserError(`${file}: weight ${name} is not read by the engine's ${spec.family} graph; refusing rather than ignoring it (does config.json name the right architecture?)`);
  }
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new UserError(`${dir}: missing weight ${name} (expected shape [${shape.join(', ')}] for ${spec.family})`);
    if (t.info.shape.join(',') !== shape.join(',')) throw new UserError(`${t.file}: weight ${name} has shape [${t.info.shape.join(', ')}], expected [${shape.join(', ')}]`);
    if (!(t.info.dtype in ELEM_OF)) throw new UserError(`${t.file}: weight ${name} has dtype ${t.info.dtype} (F32, F16 or BF16 expected)`);
    float32Bytes += shape.reduce((a, b) => a * b, 1) * 4;
  }
  return { dir, config, spec, weightFiles: files, tensors, float32Bytes };
}

/** Weights converted to float32 in memory, embedded in the protobuf. */
export function inlineWeights(folder: ModelFolder): WeightProvider {
  return {
    has: (name) => folder.tensors.has(name),
    get: (name): WeightSource => {
      const t = folder.tensors.get(name);
      if (!t) throw new UserError(`${folder.dir}: missing weight ${name}`);
      return { kind: 'inline', shape: t.info.shape, data: toFloat32(readTensorBytes(t.info, t.file), t.info.dtype) };
    },
  };
}

/**
 * Weights left in their safetensors files and read by ONNX Runtime as external
 * data, for models past protobuf's 2 GB limit. `fileAlias` maps each weight file to
 * the name the runtime finds it under, relative to the graph file.
 */
export function externalWeights(folder: ModelFolder, fileAlias: Map<string, string>): WeightProvider {
  return {
    has: (name) => folder.tensors.has(name),
    get: (name): WeightSource => {
      const t = folder.tensors.get(name);
      if (!t) throw new UserError(`${folder.dir}: missing weight ${name}`);
      const location = fileAlias.get(t.file);
      if (!location) throw new Error(`no alias for ${t.file}`);
      return {
        kind: 'external',
        shape: t.info.shape,
        elem: ELEM_OF[t.info.dtype as keyof typeof ELEM_OF] as ElemType,
        ref: { location, offset: t.info.fileOffset, length: t.info.byteLength },
      };
    },
  };
}
