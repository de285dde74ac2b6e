// Interventions on the residual stream, declared in YAML:
//
//   - hook: blocks.12.hook_resid_post
//     op: add                  # h <- h + coef * v
//     vector: { file: persona.safetensors, tensor: blocks.12.hook_resid_post }
//     coef: 4
//     positions: generated     # all (default) | prompt | generated
//   - hook: blocks.12.hook_resid_post
//     op: cap                  # u = v/|v|, p = <h,u>, h <- h + (clamp(p,min,max) - p) u
//     vector: { file: axis.safetensors, tensor: assistant_axis }
//     min: -2
//
// At run time each becomes graph inputs (see decoder-graph.ts); the graph layout
// depends only on (hook, op) pairs, so coefficient sweeps reuse one session.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { parseValidatedYaml, YamlError } from '../util/yaml.js';
import { readSafetensorsHeader, readTensorF32 } from './formats/safetensors.js';
import { resolveHooks } from './hooks.js';
import type { InterventionOp } from './decoder-graph.js';

export type PositionScope = 'all' | 'prompt' | 'generated';

const vectorRef = z.strictObject({ file: z.string().min(1), tensor: z.string().min(1) });
const addSchema = z.strictObject({
  hook: z.string().min(1),
  op: z.literal('add'),
  vector: vectorRef,
  coef: z.number().default(1),
  positions: z.enum(['all', 'prompt', 'generated']).default('all'),
});
const capSchema = z
  .strictObject({
    hook: z.string().min(1),
    op: z.literal('cap'),
    vector: vectorRef,
    min: z.number().optional(),
    max: z.number().optional(),
    positions: z.enum(['all', 'prompt', 'generated']).default('all'),
  })
  .refine((c) => c.min !== undefined || c.max !== undefined, { message: 'cap needs min, max or both' })
  .refine((c) => c.min === undefined || c.max === undefined || c.min <= c.max, { message: 'cap needs min <= max' });
const neuronsSchema = z.strictObject({
  hook: z.string().min(1).describe('blocks.L.mlp.hook_post'),
  op: z.literal('neurons'),
  neurons: z.array(z.number().int().min(0)).min(1),
  /** What the listed neurons are set to: 0 (switched off, the default), one value for all, or one per neuron (their means, say). */
  values: z.union([z.number(), z.array(z.number())]).default(0),
  positions: z.enum(['all', 'prompt', 'generated']).default('all'),
});
export const interventionFileSchema = z.array(z.discriminatedUnion('op', [addSchema, capSchema, neuronsSchema])).min(1);
export type InterventionSpec = z.infer<typeof interventionFileSchema>[number];

/** An intervention ready to run: the vector loaded and checked against the model. */
export interface Intervention {
  hook: string;
  op: InterventionOp;
  /** The raw direction v as loaded (float32, length d_model). */
  vector: Float32Array;
  coef: number;
  min: number;
  max: number;
  positions: PositionScope;
  /** neurons only: 1 for every neuron left alone, 0 for the ones replaced by `vector`'s values. */
  keep?: Float32Array;
}

/**
 * Replace MLP neurons at blocks.L.mlp.hook_post: zero them (values 0, the default), set them
 * to given values, or to their mean (pass the means). Every other neuron is left unchanged.
 */
export function neuronIntervention(hook: string, width: number, neurons: readonly number[], values: number | readonly number[] = 0, positions: PositionScope = 'all'): Intervention {
  const keep = new Float32Array(width).fill(1);
  const vector = new Float32Array(width);
  neurons.forEach((n, i) => {
    if (!Number.isInteger(n) || n < 0 || n >= width) throw new UserError(`neuron ${n} is out of range (0-${width - 1})`);
    keep[n] = 0;
    vector[n] = typeof values === 'number' ? values : (values[i] ?? Number.NaN);
    if (!Number.isFinite(vector[n]!)) throw new UserError(`neuron ${n}: no finite value to set`);
  });
  return { hook, op: 'neurons', vector, coef: 1, min: -Infinity, max: Infinity, positions, keep };
}

export function addIntervention(hook: string, vector: Float32Array, coef: number, positions: PositionScope = 'all'): Intervention {
  return { hook, op: 'add', vector, coef, min: -Infinity, max: Infinity, positions };
}

export function capIntervention(hook: string, vector: Float32Array, bounds: { min?: number; max?: number }, positions: PositionScope = 'all'): Intervention {
  return { hook, op: 'cap', vector, coef: 1, min: bounds.min ?? -Infinity, max: bounds.max ?? Infinity, positions };
}

/** Check hook names and vector widths against a model; errors name the offending entry. */
export function checkInterventions(list: Intervention[], layers: number, dModel: number, where = 'interventions', ffn?: number): void {
  list.forEach((iv, i) => {
    const hooks = resolveHooks(iv.hook, layers);
    if (hooks.length !== 1 || hooks[0] !== iv.hook) throw new UserError(`${where}[${i}]: hook must name one hook point, got "${iv.hook}"`);
    const onNeurons = iv.hook.endsWith('.mlp.hook_post');
    if (onNeurons !== (iv.op === 'neurons')) throw new UserError(`${where}[${i}]: ${onNeurons ? `${iv.hook} takes neuron interventions (zero, set or mean listed neurons), not ${iv.op}` : `a neuron intervention goes on blocks.L.mlp.hook_post, not ${iv.hook}`}`);
    if (onNeurons) {
      if (ffn !== undefined && (iv.vector.length !== ffn || iv.keep?.length !== ffn)) throw new UserError(`${where}[${i}]: neuron values have width ${iv.vector.length}, the model's MLP has ${ffn} neurons`);
      return;
    }
    if (iv.vector.length !== dModel) throw new UserError(`${where}[${i}]: vector has width ${iv.vector.length}, the model's d_model is ${dModel}`);
    if (iv.op === 'cap' && !(norm(iv.vector) > 0)) throw new UserError(`${where}[${i}]: cap direction has zero length`);
  });
}

export function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

/** Parse an interventions YAML file and load its vectors (paths relative to the file). */
export function loadInterventionFile(file: string, model: { layers: number; dModel: number; ffn?: number }): Intervention[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read interventions file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const { data, errorAt } = parseValidatedYaml(text, file, interventionFileSchema, YamlError);
  return data.map((spec, i) => {
    if (spec.op === 'neurons') {
      try {
        resolveHooks(spec.hook, model.layers);
        if (model.ffn === undefined) throw new UserError('the model has no MLP width to check neurons against');
        if (Array.isArray(spec.values) && spec.values.length !== spec.neurons.length) throw new UserError(`values has ${spec.values.length} entries for ${spec.neurons.length} neurons`);
        if (new Set(spec.neurons).size !== spec.neurons.length) throw new UserError('a neuron is listed twice');
        const iv = neuronIntervention(spec.hook, model.ffn, spec.neurons, spec.values, spec.positions);
        checkInterventions([iv], model.layers, model.dModel, 'intervention', model.ffn);
        return iv;
      } catch (err) {
        throw errorAt([i], (err as Error).message.replace(/^intervention\[0\]: /, ''));
      }
    }
    let vector: Float32Array;
    try {
      resolveHooks(spec.hook, model.layers);
      const path = resolve(dirname(file), spec.vector.file);
      const t = readTensorF32(readSafetensorsHeader(path), spec.vector.tensor);
      vector = t.data;
    } catch (err) {
      throw errorAt([i], (err as Error).message);
    }
    const iv = spec.op === 'add' ? addIntervention(spec.hook, vector, spec.coef, spec.positions) : capIntervention(spec.hook, vector, spec, spec.positions);
    try {
      checkInterventions([iv], model.layers, model.dModel, 'intervention');
    } catch (err) {
      throw errorAt([i], (err as Error).message.replace(/^intervention\[0\]: /, ''));
    }
    return iv;
  });
}
