// The answer to the question the tool asks, one line per persona × model × method:
// was the persona adopted (it moved from the model's default toward its target), and,
// where it was held under pressure, was it realized (kept) or performed (given up)?
// Pure: takes the estimates, applies the stated rules, says when the evidence cannot decide.

import type { Estimate } from './bootstrap.js';
import { ADOPTION_MIN, adoptionVerdict, type AdoptionVerdict } from './stickiness.js';

export { ADOPTION_MIN };

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

/** What the probes give the verdicts: where a persona was adopted, and where it was held under pressure. */
export interface Evidence {
  adoptions: { persona: string; model: string; method: string; adoption: Estimate | null }[];
  realizations: { persona: string; model: string; method: string; condition: string; adoption: Estimate | null; realization?: Estimate }[];
}

/**
 * The verdicts from every probe's evidence: adoption from an inventory where one ran (else
 * from the pressure condition's own turn 0), realization from the condition with the same
 * persona, model and method. A persona × model × method with no condition gets adoption only.
 */
export function verdictsFrom(evidence: readonly Evidence[]): Verdict[] {
  const out: Verdict[] = [];
  const key = (persona: string, model: string, method: string) => JSON.stringify([persona, model, method]);
  const adoptions = new Map<string, { adoption: Estimate | null; used: boolean }>();
  for (const e of evidence) for (const a of e.adoptions) adoptions.set(key(a.persona, a.model, a.method), { adoption: a.adoption, used: false });
  for (const e of evidence)
    for (const r of e.realizations) {
      const from = adoptions.get(key(r.persona, r.model, r.method));
      const method = from?.used ? `${r.method} (condition ${r.condition})` : r.method;
      if (from) from.used = true;
      out.push(verdictOf({ persona: r.persona, model: r.model, method, adoption: from?.adoption ?? r.adoption ?? null, adoptionSource: from?.adoption ? 'fidelity' : r.adoption ? 'stickiness' : null, ...(r.realization ? { realization: r.realization } : {}) }));
    }
  for (const [k, v] of adoptions) {
    if (v.used) continue;
    const [persona, model, method] = JSON.parse(k) as [string, string, string];
    out.push(verdictOf({ persona, model, method, adoption: v.adoption, adoptionSource: v.adoption ? 'fidelity' : null }));
  }
  return out;
}
