// What each engine model of a mechanism command is, for every output to say: a folder with a
// glass-box spec is a constructed model, never a language model.

import { constructedNote, readGlassBox } from '../engine/glass-box.js';
import type { RunRole } from '../suite/roles.js';
import type { Backend } from '../backends/types.js';
import { UserError } from '../util/errors.js';

/** Answers a mechanism command decodes together when the engine writes them (the issue measured 9.3x throughput at 16). */
export const GENERATION_BATCH = 16;

/**
 * When the engine both writes the answers and reads their activations, decode them in batches and
 * capture the activations while decoding (no second pass). Returns the concurrency the command's
 * calls need for full batches (undefined: unchanged).
 */
export function batchEngineGeneration(engine: Backend, generator: Backend, hooks: string[], batch = GENERATION_BATCH): number | undefined {
  if (!Number.isInteger(batch) || batch < 1) throw new UserError(`--batch must be a positive integer, got ${batch}`);
  if (batch === 1 || generator !== engine || !engine.batchGeneration) return undefined;
  engine.batchGeneration({ batch, captureHooks: hooks });
  return batch;
}

const dirOf = (model: string) => (model.startsWith('engine:') ? model.slice('engine:'.length) : model);

/** One role per named engine model (base, tuned, model...), constructed where its folder holds a glass-box spec. */
export function engineParts(models: Record<string, string | undefined>): RunRole[] {
  return Object.entries(models)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([role, id]) => {
      const glass = readGlassBox(dirOf(id));
      return { role, backend: id, simulated: false, ...(glass ? { constructed: constructedNote(glass) } : {}) };
    });
}
