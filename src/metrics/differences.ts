// Differences between two independent runs (B − A) with 95% intervals. The two runs are
// independent samples, so a difference's interval combines the two estimates' own
// intervals under a normal approximation: se = (hi − lo) / (2 · 1.96),
// se(B − A) = sqrt(se_A² + se_B²). Proportions (consistency rates) use the Wald standard
// error sqrt(p(1 − p)/n) of each side.

import type { Estimate } from './bootstrap.js';

/** An estimate's value and 95% bounds (the bootstrap's Estimate without its n). */
export type Interval = Pick<Estimate, 'value' | 'lo' | 'hi'>;

const Z = 1.959964;

const seOf = (e: Interval): number => (Number.isFinite(e.lo) && Number.isFinite(e.hi) ? (e.hi - e.lo) / (2 * Z) : Number.NaN);

/** B − A with a 95% interval from the two sides' intervals (independent runs). */
export function independentDifference(a: Interval, b: Interval): Interval {
  const value = b.value - a.value;
  const se = Math.hypot(seOf(a), seOf(b));
  return { value, lo: value - Z * se, hi: value + Z * se };
}

/** B − A for two proportions observed on na and nb trials (Wald interval). */
export function proportionDifference(pa: number, na: number, pb: number, nb: number): Interval {
  const value = pb - pa;
  const se = na > 0 && nb > 0 ? Math.sqrt((pa * (1 - pa)) / na + (pb * (1 - pb)) / nb) : Number.NaN;
  return { value, lo: value - Z * se, hi: value + Z * se };
}
