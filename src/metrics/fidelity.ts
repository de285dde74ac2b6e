// Fidelity of conditioned personas to their target profiles. Pure: takes administrations
// (answer sheets) and Big Five targets, returns numbers with intervals, per scale of the
// instrument; targets apply to the scales mapped to a Big Five domain, on the instrument's range.

import type { Domain, Instrument, Profile, ScaleProfile } from '../instruments/types.js';
import { DOMAINS, onRange, valueRange } from '../instruments/types.js';
import { keyedScore, scaleProfileOf, scoreAnswers } from '../instruments/scoring.js';
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
  /** Target per targeted scale (those mapped to a Big Five domain), on the instrument's value range. */
  target: ScaleProfile;
  /** Measured score per scale of the instrument. */
  measured: Record<string, Estimate>;
  /** Mean absolute error of measured vs target over the targeted scales. */
  mae: Estimate;
  /** Share of non-neutral targets whose measured score is on the target's side of the midpoint. */
  directionHitRate: number;
  /**
   * Fraction of the way from the target to the unconditioned default that the measured
   * profile sits (over the targeted scales): 0 = on target, 1 = indistinguishable from the
   * default. Projection of (measured - target) on (default - target); null when target and
   * default are too close to tell.
   */
  defaultPull: number | null;
  /**
   * Adoption: where the measured profile sits on the way from the unconditioned default (0)
   * to the target (1), with a bootstrap interval over items (resampled within each scale);
   * null without a default or when target and default are too close to tell.
   */
  adoption: Estimate | null;
  /** SD across administrations (repetitions and prompt variants) of each scale score; NaN with one administration (no spread to report). */
  spread: Record<string, number>;
  administrations: number;
  missingAnswers: number;
  /** Probability mass on the answer options (option-probability scoring only). */
  coverage: Coverage | null;
}

/** What a report needs to know of the instrument's shape to present its numbers. */
export interface ScaleInfo {
  id: string;
  name: string;
  domain?: Domain;
}

export interface FidelityReport {
  method: string;
  /** The instrument's scales (targeted ones carry their domain) and its value range. */
  scales: ScaleInfo[];
  range: { min: number; max: number };
  baseline: ScaleProfile | null;
  personas: PersonaFidelity[];
  /** Across personas, per targeted scale: Spearman rank correlation of measured vs target. */
  rankCorrelation: Record<string, number>;
  meanDefaultPull: Estimate | null;
  meanMae: Estimate;
  reliability: Record<string, { alpha: number; omega: number; rows: number }>;
}

/** The midpoint of the 1..5 item scale. */
export const MIDPOINT = 3;
/** Below this distance (points on the 1..5 scale; scaled to an instrument's range) between target and default, default pull is undefined. */
export const MIN_PULL_DISTANCE = 0.5;

/** Default pull is the other side of the target position: 1 − ⟨m − d, t − d⟩ / |t − d|² = ⟨m − t, d − t⟩ / |d − t|². Over the target's keys; `minDistance` in the profile's units. */
export function defaultPull<K extends string>(measured: Record<K, number>, target: Record<K, number>, baseline: Record<K, number>, minDistance = MIN_PULL_DISTANCE): number | null {
  if (Math.hypot(...(Object.keys(target) as K[]).map((d) => baseline[d] - target[d])) < minDistance) return null;
  return 1 - targetPosition(measured, target, baseline);
}

/** Per administration, the keyed score of each item keyed on `scale` (NaN where missing). */
function keyedMatrix(instrument: Instrument, sheets: readonly Administration[], scale: string): number[][] {
  const keyed = instrument.items.flatMap((it) => it.keys.filter((k) => k.scale === scale).map((k) => ({ id: it.id, k })));
  const { min, max } = valueRange(instrument);
  return sheets.map((s) => keyed.map(({ id, k }) => {
    const a = s.answers[id];
    return a === null || a === undefined ? Number.NaN : keyedScore(k, a, max, min);
  }));
}

/**
 * A persona's target on the instrument's value range: its Big Five levels (1..5) on the scales
 * mapped to a domain, and its levels on other scales by id (`scales`), in the instrument's order.
 */
export function scaleTarget(instrument: Instrument, target: Profile, scales: Record<string, number> = {}): ScaleProfile {
  const range = valueRange(instrument);
  return Object.fromEntries(instrument.scales.flatMap((s) => {
    const level = s.domain ? target[s.domain] : scales[s.id];
    return level === undefined ? [] : [[s.id, onRange(level, range)]];
  }));
}

/** Targets and measured scores across the personas with a target on a scale. */
function pairsOn(personas: readonly PersonaFidelity[], id: string): [number[], number[]] {
  const withTarget = personas.filter((p) => p.target[id] !== undefined);
  return [withTarget.map((p) => p.target[id]!), withTarget.map((p) => p.measured[id]!.value)];
}

/** The instrument's scales as a report shows them. */
export const scaleInfo = (instrument: Instrument): ScaleInfo[] => instrument.scales.map((s) => ({ id: s.id, name: s.name, ...(s.domain ? { domain: s.domain } : {}) }));

export function personaFidelity(instrument: Instrument, sheets: readonly Administration[], target: ScaleProfile, baseline: ScaleProfile | null, seed = 1, minCoverage = 0): PersonaFidelity {
  const first = sheets[0];
  if (!first) throw new RangeError('personaFidelity: no administrations');
  const range = valueRange(instrument);
  const unit = (range.max - range.min) / 4;
  const profiles = sheets.map((s) => scaleProfileOf(scoreAnswers(instrument, s.answers)));
  const measured: Record<string, Estimate> = {};
  const spread: Record<string, number> = {};
  const itemMeansBy: Record<string, number[]> = {};
  for (const { id } of instrument.scales) {
    // Interval over items (the unit of measurement error), pooled across repetitions.
    const matrix = keyedMatrix(instrument, sheets, id);
    const itemMeans = matrix[0]!.map((_, j) => mean(finite(matrix.map((r) => r[j]!))));
    itemMeansBy[id] = finite(itemMeans);
    const est = bootstrapMean(finite(itemMeans), { seed: `${first.personaId}/${id}/${seed}` });
    measured[id] = { ...est, value: mean(finite(profiles.map((p) => p[id]!))) };
    spread[id] = sheets.length > 1 ? sd(finite(profiles.map((p) => p[id]!))) : Number.NaN;
  }
  const targeted = Object.keys(target);
  const point: ScaleProfile = Object.fromEntries(targeted.map((d) => [d, measured[d]!.value]));
  const absErr = targeted.map((d) => Math.abs(point[d]! - target[d]!));
  const midpoint = (range.min + range.max) / 2;
  const nonNeutral = targeted.filter((d) => target[d] !== midpoint);
  const hits = nonNeutral.filter((d) => Math.sign(point[d]! - midpoint) === Math.sign(target[d]! - midpoint)).length;
  // Counted over the items administered (a sheet holds a key, possibly null, for each).
  const missingAnswers = sheets.reduce((n, s) => n + Object.values(s.answers).filter((a) => a === null).length, 0);
  const base = baseline ? Object.fromEntries(targeted.map((d) => [d, baseline[d]!])) : null;
  return {
    personaId: first.personaId,
    method: first.method,
    target,
    measured,
    mae: bootstrapMean(absErr, { seed: `${first.personaId}/mae/${seed}` }),
    directionHitRate: nonNeutral.length ? hits / nonNeutral.length : Number.NaN,
    defaultPull: base ? defaultPull(point, target, base, MIN_PULL_DISTANCE * unit) : null,
    adoption: base ? adoptionEstimate(point, itemMeansBy, target, base, `${first.personaId}/adoption/${seed}`, MIN_PULL_DISTANCE * unit) : null,
    spread,
    administrations: sheets.length,
    missingAnswers,
    coverage: coverageOf(sheets, minCoverage),
  };
}

/** Adoption with a percentile-bootstrap interval: items resampled within each targeted scale, the profile and its position recomputed. */
function adoptionEstimate(point: ScaleProfile, itemMeans: Record<string, number[]>, target: ScaleProfile, baseline: ScaleProfile, seed: string, minDistance: number): Estimate | null {
  if (defaultPull(point, target, baseline, minDistance) === null) return null;
  const value = targetPosition(point, target, baseline);
  const rng = createRng(seed);
  const draws: number[] = [];
  const targeted = Object.keys(target);
  for (let b = 0; b < 1000; b++) {
    const profile: ScaleProfile = {};
    for (const d of targeted) {
      const xs = itemMeans[d]!;
      let s = 0;
      for (let i = 0; i < xs.length; i++) s += xs[rng.int(xs.length)]!;
      profile[d] = xs.length ? s / xs.length : Number.NaN;
    }
    const v = targetPosition(profile, target, baseline);
    if (Number.isFinite(v)) draws.push(v);
  }
  const n = Math.min(...targeted.map((d) => itemMeans[d]!.length));
  return draws.length ? { value, lo: quantile(draws, 0.025), hi: quantile(draws, 0.975), n } : { value, lo: Number.NaN, hi: Number.NaN, n };
}

/** A persona's measured scores as a plain scale profile. */
export function measuredProfile(p: PersonaFidelity): ScaleProfile {
  return Object.fromEntries(Object.entries(p.measured).map(([d, e]) => [d, e.value]));
}

/** The Big Five profile of scale scores: each domain's scale, NaN where the instrument has none. */
export function domainProfile(scales: readonly ScaleInfo[], profile: ScaleProfile): Profile {
  return Object.fromEntries(DOMAINS.map((d) => {
    const s = scales.find((x) => x.domain === d);
    return [d, s ? (profile[s.id] ?? Number.NaN) : Number.NaN];
  })) as Profile;
}

/** Mean profile of the unconditioned baseline's administrations. */
export function baselineProfile(instrument: Instrument, sheets: readonly Administration[]): ScaleProfile | null {
  if (sheets.length === 0) return null;
  const profiles = sheets.map((s) => scaleProfileOf(scoreAnswers(instrument, s.answers)));
  return Object.fromEntries(instrument.scales.map(({ id }) => [id, mean(finite(profiles.map((p) => p[id]!)))]));
}

export function fidelityReport(
  instrument: Instrument,
  method: string,
  personaSheets: ReadonlyMap<string, readonly Administration[]>,
  /** Per persona, its target on the instrument's scales and range (scaleTarget). */
  targets: ReadonlyMap<string, ScaleProfile>,
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
  const targeted = instrument.scales.filter((s) => personas.some((p) => p.target[s.id] !== undefined));
  const rankCorrelation = Object.fromEntries(targeted.map(({ id }) => [id, personas.filter((p) => p.target[id] !== undefined).length >= 3 ? spearman(...pairsOn(personas, id)) : Number.NaN]));
  const pulls = personas.map((p) => p.defaultPull).filter((x): x is number => x !== null);
  const allSheets = [...personaSheets.values()].flat();
  const reliability = Object.fromEntries(instrument.scales.map(({ id }) => {
    const m = keyedMatrix(instrument, allSheets, id);
    return [id, { alpha: cronbachAlpha(m), omega: mcdonaldOmega(m), rows: m.length }];
  }));
  return {
    method,
    scales: scaleInfo(instrument),
    range: valueRange(instrument),
    baseline,
    personas,
    rankCorrelation,
    meanDefaultPull: pulls.length ? bootstrap(pulls, mean, { seed: `pull/${method}` }) : null,
    meanMae: bootstrap(personas.map((p) => p.mae.value), mean, { seed: `mae/${method}` }),
    reliability,
  };
}
