import type { Domain, Instrument, InstrumentItem, Profile } from './types.js';
import { DOMAINS } from './types.js';

/** Keyed item score on the 1..5 scale: reverse-keyed items are flipped (6 - answer). */
export function keyedScore(item: InstrumentItem, answer: number, max = 5): number {
  return item.keyed === 'plus' ? answer : max + 1 - answer;
}

/** The expected answer (on 1..n) of a probability distribution over the n options. */
export function expectedAnswer(probs: readonly number[]): number {
  return probs.reduce((s, p, k) => s + p * (k + 1), 0);
}

export interface ScaleScore {
  /** Mean keyed score over answered items; null when none was answered. */
  score: number | null;
  answered: number;
  missing: number;
}

export interface InstrumentScores {
  instrument: string;
  domains: Record<Domain, ScaleScore>;
  /** Facet scores keyed "N1".."C6". */
  facets: Record<string, ScaleScore & { name: string }>;
  answered: number;
  missing: number;
  missingItemIds: string[];
}

/**
 * Score an answer sheet (item id -> answer on 1..5; a missing or null answer is
 * missing, never a score). Answers may be fractional (expected values from option
 * probabilities). Domain and facet scores are means of keyed item scores.
 */
export function scoreAnswers(instrument: Instrument, answers: Record<string, number | null | undefined>): InstrumentScores {
  const max = instrument.options.length;
  const acc = (): { sum: number; answered: number; missing: number } => ({ sum: 0, answered: 0, missing: 0 });
  const domainAcc = Object.fromEntries(DOMAINS.map((d) => [d, acc()])) as Record<Domain, ReturnType<typeof acc>>;
  const facetAcc = new Map<string, ReturnType<typeof acc>>();
  const missingItemIds: string[] = [];
  for (const item of instrument.items) {
    const facetKey = `${item.domain}${item.facet}`;
    const facet = facetAcc.get(facetKey) ?? acc();
    facetAcc.set(facetKey, facet);
    const answer = answers[item.id];
    if (answer === null || answer === undefined || !Number.isFinite(answer)) {
      domainAcc[item.domain].missing++;
      facet.missing++;
      missingItemIds.push(item.id);
      continue;
    }
    if (answer < 1 || answer > max) throw new RangeError(`answer ${answer} for item ${item.id} is outside 1..${max}`);
    const s = keyedScore(item, answer, max);
    domainAcc[item.domain].sum += s;
    domainAcc[item.domain].answered++;
    facet.sum += s;
    facet.answered++;
  }
  const finish = (a: ReturnType<typeof acc>): ScaleScore => ({ score: a.answered ? a.sum / a.answered : null, answered: a.answered, missing: a.missing });
  const domains = Object.fromEntries(DOMAINS.map((d) => [d, finish(domainAcc[d])])) as Record<Domain, ScaleScore>;
  const facets: InstrumentScores['facets'] = {};
  for (const [key, a] of [...facetAcc.entries()].sort()) {
    const domain = key[0] as Domain;
    facets[key] = { ...finish(a), name: instrument.facetNames[domain][Number(key.slice(1)) - 1] ?? key };
  }
  const answered = instrument.items.length - missingItemIds.length;
  return { instrument: instrument.id, domains, facets, answered, missing: missingItemIds.length, missingItemIds };
}

/** Domain scores as a plain profile (NaN where a domain had no answered item). */
export function profileOf(scores: InstrumentScores): Profile {
  return Object.fromEntries(DOMAINS.map((d) => [d, scores.domains[d].score ?? Number.NaN])) as Profile;
}
