// What each engine model of a mechanism command is, for every output to say: a folder with a
// glass-box spec is a constructed model, never a language model.

import { constructedNote, readGlassBox } from '../engine/glass-box.js';
import type { RunRole } from '../suite/roles.js';

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
