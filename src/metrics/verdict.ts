// The answer to the question the tool asks, one line per persona × model × method:
// was the persona adopted (it moved from the model's default toward its target), and,
// where it was held under pressure, was it realized (kept) or performed (given up)?
// Pure: takes the estimates, applies the stated rules, says when the evidence cannot decide.

import type { Estimate } from './bootstrap.js';
import { ADOPTION_MIN, adoptionVerdict, type AdoptionVerdict } from './stickiness.js';

/** A realization index whose whole interval reaches this is "realized"; one whose whole interval is below it, "performed". */
export const REALIZED_MIN = 0.7;

export type RealizationVerdict = 'realized' | 'performed' | 'undecided' | 'not adopted';

export interface Verdict {
  persona: string;
  model: string;
  method: string;
  adoption: Estimate | null;
  /** Where the adoption was measured: the fidelity inventory, or turn 0 of the stickiness conversations. */
  adoptionSource: 'fidelity' | 'stickiness' | null;
  adopted: AdoptionVerdict;
  /** Only where stickiness ran for this persona, model and method. */
  realization?: Estimate;
  realized?: RealizationVerdict;
  line: string;
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const interval = (e: Estimate) => `${f2(e.value)} [${f2(e.lo)}, ${f2(e.hi)}]`;

export function realizationVerdict(ri: Estimate, adopted: AdoptionVerdict): RealizationVerdict {
  if (adopted === 'not adopted') return 'not adopted';
  if (!Number.isFinite(ri.value)) return 'undecided';
  if (ri.lo >= REALIZED_MIN) return 'realized';
  if (ri.hi < REALIZED_MIN) return 'performed';
  return 'undecided';
}

export function verdictOf(o: { persona: string; model: string; method: string; adoption: Estimate | null; adoptionSource: Verdict['adoptionSource']; realization?: Estimate }): Verdict {
  const adopted: AdoptionVerdict = o.adoption ? adoptionVerdict(o.adoption) : 'undecided';
  const adoptionText = o.adoption
    ? `${adopted} (${interval(o.adoption)} of the way from the default to the target; the rule: interval ${adopted === 'adopted' ? 'at or above' : adopted === 'not adopted' ? 'below' : 'across'} ${ADOPTION_MIN})`
    : 'adoption undecided (no unconditioned default to measure it against)';
  const realized = o.realization ? realizationVerdict(o.realization, adopted) : undefined;
  const realText =
    realized === undefined
      ? ''
      : realized === 'not adopted'
        ? '; not realized: never adopted'
        : realized === 'realized'
          ? `; realized under pressure (realization index ${interval(o.realization!)}, interval at or above ${REALIZED_MIN})`
          : realized === 'performed'
            ? `; performed: given up under pressure (realization index ${interval(o.realization!)}, interval below ${REALIZED_MIN})`
            : `; realized or performed: undecided (realization index ${interval(o.realization!)} straddles ${REALIZED_MIN})`;
  return { ...o, adopted, ...(realized ? { realized } : {}), line: `${o.persona} · ${o.model} · ${o.method}: ${adoptionText}${realText}` };
}
