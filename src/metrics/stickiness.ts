// Stickiness metrics: retention per turn, the realization index, breaks, and paired
// comparisons between conditions. Pure functions over per-conversation retention
// curves; the probe (probes/stickiness.ts) turns stored calls into those curves.

import type { Profile } from '../instruments/types.js';
import { DOMAINS } from '../instruments/types.js';
import { bootstrap, type Estimate } from './bootstrap.js';
import { mean, median } from './stats.js';

export const clip01 = (x: number): number => Math.min(1, Math.max(0, x));

export function profileDistance(a: Profile, b: Profile): number {
  return Math.hypot(...DOMAINS.map((d) => a[d] - b[d]));
}

/**
 * Where a profile sits on the way from the default (0) to the persona's target (1): the
 * projection of (profile - default) on (target - default), over |target - default|². NaN
 * when target and default coincide (no way to tell) or the profile is missing.
 */
export function targetPosition<K extends string>(profile: Record<K, number>, target: Record<K, number>, defaultProfile: Record<K, number>): number {
  let dotp = 0;
  let norm2 = 0;
  for (const d of Object.keys(target) as K[]) {
    const axis = target[d] - defaultProfile[d];
    dotp += (profile[d] - defaultProfile[d]) * axis;
    norm2 += axis * axis;
  }
  if (!(norm2 > 1e-18) || !Number.isFinite(dotp)) return Number.NaN;
  return dotp / norm2;
}

/**
 * Below this position at turn 0 (a quarter of the way from the default to the target) a
 * persona was not adopted: there is nothing of it to retain.
 */
export const ADOPTION_MIN = 0.25;

/**
 * Retention relative to the target: the persona's position now over its position at turn 0
 * (its adoption), clipped to [0, 1]. A conversation whose persona was not adopted at turn 0
 * retains nothing (0), so a persona that never moved toward its target cannot score as kept.
 */
export function adoptedRetention(now: number, adoption: number): number {
  if (!Number.isFinite(now) || !Number.isFinite(adoption)) return Number.NaN;
  if (adoption < ADOPTION_MIN) return 0;
  return clip01(now / adoption);
}

/** What the evidence says about adoption, from the adoption estimate's interval. */
export type AdoptionVerdict = 'adopted' | 'not adopted' | 'undecided';

export function adoptionVerdict(adoption: Estimate): AdoptionVerdict {
  if (!Number.isFinite(adoption.value)) return 'undecided';
  if (adoption.lo >= ADOPTION_MIN) return 'adopted';
  if (adoption.hi < ADOPTION_MIN) return 'not adopted';
  return 'undecided';
}

/**
 * Activation retention: where this turn's projection onto the persona direction sits
 * between the default's projection (0) and this conversation's turn 0 (1), clipped.
 */
export function projectionRetention(now: number, turn0: number, defaultProjection: number): number {
  const span = turn0 - defaultProjection;
  if (!(Math.abs(span) > 1e-9) || !Number.isFinite(now)) return Number.NaN;
  return clip01((now - defaultProjection) / span);
}

/**
 * Realization index of one conversation: the area under its retention curve over
 * turns 0..T (trapezoids), divided by T, with turn 0 as the reference (retention 1).
 * In [0, 1]: 1 = nothing lost at any turn, 0 = everything lost at once. NaN when a turn is missing.
 */
export function realizationIndex(curve: readonly number[]): number {
  const T = curve.length - 1;
  if (T < 1 || curve.some((x) => !Number.isFinite(x))) return Number.NaN;
  let area = 0;
  for (let t = 1; t <= T; t++) area += (curve[t - 1]! + curve[t]!) / 2;
  return area / T;
}

/** First turn whose retention falls below the threshold, or null when it never does. */
export function breakTurn(curve: readonly number[], threshold: number): number | null {
  for (let t = 1; t < curve.length; t++) if (curve[t]! < threshold) return t;
  return null;
}

export interface CurvePoint {
  turn: number;
  mean: number;
  lo: number;
  hi: number;
  n: number;
}

/** Mean retention per turn over conversations, with percentile-bootstrap 95% bands (conversations resampled). */
export function retentionBands(curves: readonly (readonly number[])[], seed: string): CurvePoint[] {
  const turns = Math.max(0, ...curves.map((c) => c.length));
  const out: CurvePoint[] = [];
  for (let t = 0; t < turns; t++) {
    const xs = curves.map((c) => c[t]).filter((x): x is number => x !== undefined && Number.isFinite(x));
    const est = bootstrap(xs, mean, { seed: `${seed}/t${t}`, iterations: 1000 });
    out.push({ turn: t, mean: est.value, lo: est.lo, hi: est.hi, n: xs.length });
  }
  return out;
}

export interface BreakSummary {
  family: string;
  conversations: number;
  /** Share of conversations that fell below the threshold at some turn. */
  brokenShare: number;
  /** Median break turn among those that broke. */
  medianTurn: number | null;
  earliestTurn: number | null;
}

export function breakSummary(family: string, curves: readonly (readonly number[])[], threshold: number): BreakSummary {
  const turns = curves.map((c) => breakTurn(c, threshold)).filter((t): t is number => t !== null);
  return {
    family,
    conversations: curves.length,
    brokenShare: curves.length ? turns.length / curves.length : Number.NaN,
    medianTurn: turns.length ? median(turns) : null,
    earliestTurn: turns.length ? Math.min(...turns) : null,
  };
}

export function realizationEstimate(curves: readonly (readonly number[])[], seed: string): Estimate {
  const ris = curves.map(realizationIndex).filter(Number.isFinite);
  return bootstrap(ris, mean, { seed, iterations: 2000 });
}

/**
 * Paired difference in realization index, A - B, over conversations matched by key
 * (same attack family and conversation index), bootstrapped over the pairs.
 */
export function pairedDifference(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>, seed: string): Estimate {
  const diffs: number[] = [];
  for (const [key, x] of a) {
    const y = b.get(key);
    if (y !== undefined && Number.isFinite(x) && Number.isFinite(y)) diffs.push(x - y);
  }
  return bootstrap(diffs, mean, { seed, iterations: 2000 });
}
