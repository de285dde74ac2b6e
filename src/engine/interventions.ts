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
export const interventionFileSchema = z.array(z.discriminatedUnion('op', [addSchema, capSchema])).min(1);
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
}

export function addIntervention(hook: string, vector: Float32Array, coef: number, positions: PositionScope = 'all'): Intervention {
  return { hook, op: 'add', vector, coef, min: -Infinity, max: Infinity, positions };
}

export function capIntervention(hook: string, vector: Float32Array, bounds: { min?: number; max?: number }, positions: PositionScope = 'all'): Intervention {
  return { hook, op: 'cap', vector, coef: 1, min: bounds.min ?? -Infinity, max: bounds.max ?? Infinity, positions };
}

/** Check hook names and vector widths against a model; errors name the offending entry. */
export function checkInterventions(list: Intervention[], layers: number, dModel: number, where = 'interventions'): void {
  list.forEach((iv, i) => {
    const hooks = resolveHooks(iv.hook, layers);
    if (hooks.length !== 1 || hooks[0] !== iv.hook) throw new UserError(`${where}[${i}]: hook must name one hook point, got "${iv.hook}"`);
    if (iv.hook.endsWith('.mlp.hook_post')) throw new UserError(`${where}[${i}]: ${iv.hook} can be read but not yet intervened on (add and cap act on the residual stream and its writers)`);
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
export function loadInterventionFile(file: string, model: { layers: number; dModel: number }): Intervention[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read interventions file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const { data, errorAt } = parseValidatedYaml(text, file, interventionFileSchema, YamlError);
  return data.map((spec, i) => {
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
