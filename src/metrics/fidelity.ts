// Fidelity of conditioned personas to their target Big Five profiles. Pure: takes
// administrations (answer sheets) and targets, returns numbers with intervals.

import type { Domain, Instrument, Profile } from '../instruments/types.js';
import { DOMAINS } from '../instruments/types.js';
import { keyedScore, profileOf, scoreAnswers } from '../instruments/scoring.js';
import { bootstrap, bootstrapMean, type Estimate } from './bootstrap.js';
import { cronbachAlpha, mcdonaldOmega } from './reliability.js';
import { finite, mean, quantile, sd, spearman } from './stats.js';
import { targetPosition } from './stickiness.js';
import { createRng } from '../util/rng.js';

/** One answer sheet: a persona (or the baseline) answering the whole instrument once. */
export interface Administration {
  personaId: string;
  method: string;
  repetition: number;
  variant: string;
  /** item id -> answer on the option scale (fractional for expected values), null = missing. */
  answers: Record<string, number | null>;
  /** With option probabilities: item id -> the probability the answer options carried (kept for items below the threshold too). */
  coverage?: Record<string, number>;
}

/** How on-format the answers were: the probability the options carried, over the items asked. */
export interface Coverage {
  mean: number;
  min: number;
  /** Items whose options carried less than the threshold (counted as missing). */
  below: number;
  items: number;
  threshold: number;
}

/** Over this share of items below the coverage threshold, a model "mostly answers off-format". */
export const OFF_FORMAT_SHARE = 0.5;

/** The personas (and method) whose answers were mostly off-format, for warnings. */
export function offFormat(reports: readonly { method: string; personas: readonly PersonaFidelity[] }[]): { method: string; personaId: string; coverage: Coverage }[] {
  return reports.flatMap((r) => r.personas.filter((p) => p.coverage && p.coverage.below > OFF_FORMAT_SHARE * p.coverage.items).map((p) => ({ method: r.method, personaId: p.personaId, coverage: p.coverage! })));
}

/** One line for a persona whose answers were mostly off-format (console and report). */
export function offFormatWarning(model: string, w: ReturnType<typeof offFormat>[number]): string {
  return `WARNING: ${model} answers mostly off-format for ${w.personaId} (method ${w.method}): ${w.coverage.below} of ${w.coverage.items} items put less than ${w.coverage.threshold} of their probability on the answer options (mean ${w.coverage.mean.toFixed(3)}); those items are missing, not scored.`;
}

/** Coverage over answer sheets, or null when the sheets hold none (sampled answers). */
export function coverageOf(sheets: readonly Administration[], threshold: number): Coverage | null {
  const values = sheets.flatMap((s) => Object.values(s.coverage ?? {}));
  if (!values.length) return null;
  return { mean: mean(values), min: Math.min(...values), below: values.filter((v) => v < threshold).length, items: values.length, threshold };
}

export interface PersonaFidelity {
  personaId: string;
  method: string;
  target: Profile;
  measured: Record<Domain, Estimate>;
  /** Mean absolute error of measured vs target over domains. */
  mae: Estimate;
  /** Share of non-neutral target domains whose measured score is on the target's side of the midpoint. */
  directionHitRate: number;
  /**
   * Fraction of the way from the target to the unconditioned default that the measured
   * profile sits: 0 = on target, 1 = indistinguishable from the default. Projection of
   * (measured - target) on (default - target); null when target and default are too close to tell.
   */
  defaultPull: number | null;
  /**
   * Adoption: where the measured profile sits on the way from the unconditioned default (0)
   * to the target (1), with a bootstrap interval over items (resampled within each domain);
   * null without a default or when target and default are too close to tell.
   */
  adoption: Estimate | null;
  /** SD across administrations (repetitions and prompt variants) of each domain score; NaN with one administration (no spread to report). */
  spread: Record<Domain, number>;
  administrations: number;
  missingAnswers: number;
  /** Probability mass on the answer options (option-probability scoring only). */
  coverage: Coverage | null;
}

export interface FidelityReport {
  method: string;
  baseline: Profile | null;
  personas: PersonaFidelity[];
  /** Across personas, per domain: Spearman rank correlation of measured vs target. */
  rankCorrelation: Record<Domain, number>;
  meanDefaultPull: Estimate | null;
  meanMae: Estimate;
  reliability: Record<Domain, { alpha: number; omega: number; rows: number }>;
}

export const MIDPOINT = 3;
/** Below this distance (scale points) between target and default, default pull is undefined. */
export const MIN_PULL_DISTANCE = 0.5;

/** Default pull is the other side of the target position: 1 − ⟨m − d, t − d⟩ / |t − d|² = ⟨m − t, d − t⟩ / |d − t|². */
export function defaultPull(measured: Profile, target: Profile, baseline: Profile): number | null {
  if (Math.hypot(...DOMAINS.map((d) => baseline[d] - target[d])) < MIN_PULL_DISTANCE) return null;
  return 1 - targetPosition(measured, target, baseline);
}

function keyedMatrix(instrument: Instrument, sheets: readonly Administration[], domain: Domain): number[][] {
  const items = instrument.items.filter((i) => i.domain === domain);
  const max = instrument.options.length;
  return sheets.map((s) => items.map((it) => {
    const a = s.answers[it.id];
    return a === null || a === undefined ? Number.NaN : keyedScore(it, a, max);
  }));
}

export function personaFidelity(instrument: Instrument, sheets: readonly Administration[], target: Profile, baseline: Profile | null, seed = 1, minCoverage = 0): PersonaFidelity {
  const first = sheets[0];
  if (!first) throw new RangeError('personaFidelity: no administrations');
  const profiles = sheets.map((s) => profileOf(scoreAnswers(instrument, s.answers)));
  const measured = {} as Record<Domain, Estimate>;
  const spread = {} as Record<Domain, number>;
  const itemMeansBy = {} as Record<Domain, number[]>;
  for (const d of DOMAINS) {
    // Interval over items (the unit of measurement error), pooled across repetitions.
    const matrix = keyedMatrix(instrument, sheets, d);
    const itemMeans = matrix[0]!.map((_, j) => mean(finite(matrix.map((r) => r[j]!))));
    itemMeansBy[d] = finite(itemMeans);
    const est = bootstrapMean(finite(itemMeans), { seed: `${first.personaId}/${d}/${seed}` });
    measured[d] = { ...est, value: mean(finite(profiles.map((p) => p[d]))) };
    spread[d] = sheets.length > 1 ? sd(finite(profiles.map((p) => p[d]))) : Number.NaN;
  }
  const point = Object.fromEntries(DOMAINS.map((d) => [d, measured[d].value])) as Profile;
  const absErr = DOMAINS.map((d) => Math.abs(point[d] - target[d]));
  const nonNeutral = DOMAINS.filter((d) => target[d] !== MIDPOINT);
  const hits = nonNeutral.filter((d) => Math.sign(point[d] - MIDPOINT) === Math.sign(target[d] - MIDPOINT)).length;
  // Counted over the items administered (a sheet holds a key, possibly null, for each).
  const missingAnswers = sheets.reduce((n, s) => n + Object.values(s.answers).filter((a) => a === null).length, 0);
  return {
    personaId: first.personaId,
    method: first.method,
    target,
    measured,
    mae: bootstrapMean(absErr, { seed: `${first.personaId}/mae/${seed}` }),
    directionHitRate: nonNeutral.length ? hits / nonNeutral.length : Number.NaN,
    defaultPull: baseline ? defaultPull(point, target, baseline) : null,
    adoption: baseline ? adoptionEstimate(point, itemMeansBy, target, baseline, `${first.personaId}/adoption/${seed}`) : null,
    spread,
    administrations: sheets.length,
    missingAnswers,
    coverage: coverageOf(sheets, minCoverage),
  };
}

/** Adoption with a percentile-bootstrap interval: items resampled within each domain, the profile and its position recomputed. */
function adoptionEstimate(point: Profile, itemMeans: Record<Domain, number[]>, target: Profile, baseline: Profile, seed: string): Estimate | null {
  if (defaultPull(point, target, baseline) === null) return null;
  const value = targetPosition(point, target, baseline);
  const rng = createRng(seed);
  const draws: number[] = [];
  for (let b = 0; b < 1000; b++) {
    const profile = {} as Profile;
    for (const d of DOMAINS) {
      const xs = itemMeans[d];
      let s = 0;
      for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!;
      profile[d] = xs.length ? s / xs.length : Number.NaN;
    }
    const v = targetPosition(profile, target, baseline);
    if (Number.isFinite(v)) draws.push(v);
  }
  const n = Math.min(...DOMAINS.map((d) => itemMeans[d].length));
  return draws.length ? { value, lo: quantile(draws, 0.025), hi: quantile(draws, 0.975), n } : { value, lo: Number.NaN, hi: Number.NaN, n };
}

export function measuredProfile(p: PersonaFidelity): Profile {
  return Object.fromEntries(DOMAINS.map((d) => [d, p.measured[d].value])) as Profile;
}

/** Mean profile of the unconditioned baseline's administrations. */
export function baselineProfile(instrument: Instrument, sheets: readonly Administration[]): Profile | null {
  if (sheets.length === 0) return null;
  const profiles = sheets.map((s) => profileOf(scoreAnswers(instrument, s.answers)));
  return Object.fromEntries(DOMAINS.map((d) => [d, mean(finite(profiles.map((p) => p[d])))])) as Profile;
}

export function fidelityReport(
  instrument: Instrument,
  method: string,
  personaSheets: ReadonlyMap<string, readonly Administration[]>,
  targets: ReadonlyMap<string, Profile>,
  baselineSheets: readonly Administration[],
  minCoverage = 0,
): FidelityReport {
  const baseline = baselineProfile(instrument, baselineSheets);
  const personas: PersonaFidelity[] = [];
  for (const [id, sheets] of personaSheets) {
    const target = targets.get(id);
    if (!target) throw new RangeError(`fidelityReport: no target for persona ${id}`);
    personas.push(personaFidelity(instrument, sheets, target, baseline, 1, minCoverage));
  }
  const rankCorrelation = Object.fromEntries(DOMAINS.map((d) => [d, personas.length >= 3 ? spearman(personas.map((p) => p.target[d]), personas.map((p) => p.measured[d].value)) : Number.NaN])) as Record<Domain, number>;
  const pulls = personas.map((p) => p.defaultPull).filter((x): x is number => x !== null);
  const allSheets = [...personaSheets.values()].flat();
  const reliability = Object.fromEntries(DOMAINS.map((d) => {
    const m = keyedMatrix(instrument, allSheets, d);
    return [d, { alpha: cronbachAlpha(m), omega: mcdonaldOmega(m), rows: m.length }];
  })) as FidelityReport['reliability'];
  return {
    method,
    baseline,
    personas,
    rankCorrelation,
    meanDefaultPull: pulls.length ? bootstrap(pulls, mean, { seed: `pull/${method}` }) : null,
    meanMae: bootstrap(personas.map((p) => p.mae.value), mean, { seed: `mae/${method}` }),
    reliability,
  };
}
