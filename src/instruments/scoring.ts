import type { Domain, Instrument, InstrumentItem, Keying, Profile, ScaleProfile } from './types.js';
import { DOMAINS, optionValues, scaleOfDomain, valueRange } from './types.js';

/** Keyed score of an answer value: a reverse-keyed answer v scores min + max − v (6 − v on a 1..5 scale). */
export function keyedScore(item: Pick<InstrumentItem, 'keyed'> | { keyed: Keying }, answer: number, max = 5, min = 1): number {
  return item.keyed === 'plus' ? answer : min + max - answer;
}

/** The expected answer value of a probability distribution over the listed options (values default to 1..n). */
export function expectedAnswer(probs: readonly number[], values?: readonly number[]): number {
  return probs.reduce((s, p, k) => s + p * (values ? values[k]! : k + 1), 0);
}

export interface ScaleScore {
  /** Mean keyed score over answered items; null when none was answered. */
  score: number | null;
  answered: number;
  missing: number;
}

export interface InstrumentScores {
  instrument: string;
  /** Per scale id of the instrument. */
  scales: Record<string, ScaleScore>;
  /** Per Big Five domain, the scale mapped to it (score null, nothing answered, where the instrument has none). */
  domains: Record<Domain, ScaleScore>;
  /** Facet scores keyed scale id + facet number ("N1".."C6"). */
  facets: Record<string, ScaleScore & { name: string }>;
  answered: number;
  missing: number;
  missingItemIds: string[];
}

type Acc = { sum: number; answered: number; missing: number };
const acc = (): Acc => ({ sum: 0, answered: 0, missing: 0 });
const finish = (a: Acc): ScaleScore => ({ score: a.answered ? a.sum / a.answered : null, answered: a.answered, missing: a.missing });

/**
 * Score an answer sheet (item id -> answer value; a missing or null answer is missing,
 * never a score). Answers may be fractional (expected values from option probabilities).
 * Scale and facet scores are means of keyed item scores over the items keyed on them.
 */
export function scoreAnswers(instrument: Instrument, answers: Record<string, number | null | undefined>): InstrumentScores {
  const { min, max } = valueRange(instrument);
  const scaleAcc = new Map(instrument.scales.map((s) => [s.id, acc()]));
  const facetAcc = new Map<string, Acc & { scale: string; facet: number }>();
  const missingItemIds: string[] = [];
  for (const item of instrument.items) {
    const answer = answers[item.id];
    const ok = answer !== null && answer !== undefined && Number.isFinite(answer);
    if (ok && (answer < min || answer > max)) throw new RangeError(`answer ${answer} for item ${item.id} is outside ${min}..${max}`);
    if (!ok) missingItemIds.push(item.id);
    item.keys.forEach((k, i) => {
      const targets = [scaleAcc.get(k.scale)!];
      if (i === 0 && item.facet !== undefined) {
        const key = `${k.scale}${item.facet}`;
        if (!facetAcc.has(key)) facetAcc.set(key, { ...acc(), scale: k.scale, facet: item.facet });
        targets.push(facetAcc.get(key)!);
      }
      for (const a of targets) {
        if (!ok) a.missing++;
        else {
          a.sum += keyedScore(k, answer, max, min);
          a.answered++;
        }
      }
    });
  }
  const scales = Object.fromEntries(instrument.scales.map((s) => [s.id, finish(scaleAcc.get(s.id)!)]));
  const domains = Object.fromEntries(DOMAINS.map((d) => {
    const s = scaleOfDomain(instrument, d);
    return [d, s ? scales[s.id]! : { score: null, answered: 0, missing: 0 }];
  })) as Record<Domain, ScaleScore>;
  const facets: InstrumentScores['facets'] = {};
  for (const [key, a] of [...facetAcc.entries()].sort()) facets[key] = { ...finish(a), name: instrument.scales.find((s) => s.id === a.scale)?.facets?.[a.facet - 1] ?? key };
  const answered = instrument.items.length - missingItemIds.length;
  return { instrument: instrument.id, scales, domains, facets, answered, missing: missingItemIds.length, missingItemIds };
}

/** Big Five domain scores as a plain profile (NaN where a domain had no answered item or the instrument has no scale for it). */
export function profileOf(scores: InstrumentScores): Profile {
  return Object.fromEntries(DOMAINS.map((d) => [d, scores.domains[d].score ?? Number.NaN])) as Profile;
}

/** Scale scores keyed by scale id (NaN where a scale had no answered item). */
export function scaleProfileOf(scores: InstrumentScores): ScaleProfile {
  return Object.fromEntries(Object.entries(scores.scales).map(([id, s]) => [id, s.score ?? Number.NaN]));
}

/** The value of the option at a listed (0-based) index. */
export const valueOfOption = (instrument: Pick<Instrument, 'options' | 'values'>, index: number): number => optionValues(instrument)[index]!;
