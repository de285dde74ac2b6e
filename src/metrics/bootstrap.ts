import { createRng } from '../util/rng.js';
import { mean, quantile } from './stats.js';

export interface Estimate {
  value: number;
  /** Percentile bootstrap 95% interval. */
  lo: number;
  hi: number;
  n: number;
}

/**
 * Percentile bootstrap of a statistic over resampled units (seeded, so intervals
 * are reproducible). `units` are whatever is independent: personas, items, seeds.
 */
export function bootstrap<T>(units: readonly T[], statistic: (sample: readonly T[]) => number, options: { iterations?: number; seed?: number | string } = {}): Estimate {
  const value = statistic(units);
  const n = units.length;
  if (n < 2) return { value, lo: Number.NaN, hi: Number.NaN, n };
  const rng = createRng(options.seed ?? 12345);
  const iterations = options.iterations ?? 2000;
  const stats: number[] = [];
  const sample = new Array<T>(n);
  for (let b = 0; b < iterations; b++) {
    for (let i = 0; i < n; i++) sample[i] = units[rng.int(n)]!;
    const s = statistic(sample);
    if (Number.isFinite(s)) stats.push(s);
  }
  return { value, lo: quantile(stats, 0.025), hi: quantile(stats, 0.975), n };
}

export function bootstrapMean(xs: readonly number[], options: { iterations?: number; seed?: number | string } = {}): Estimate {
  return bootstrap(xs, mean, options);
}
