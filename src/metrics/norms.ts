// Human norms: where a measured Big Five profile sits among real people. Pure functions over
// the people's domain scores (one row per person, on the 1..5 scale).

import { DOMAINS, type Domain, type Profile } from '../instruments/types.js';

/** Mid-rank percentile of `value` among `sorted` (ascending): the share below plus half the share equal, × 100. */
export function percentileOf(value: number, sorted: readonly number[]): number {
  if (!sorted.length || !Number.isFinite(value)) return Number.NaN;
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  const below = lo;
  let equal = 0;
  for (let i = lo; i < sorted.length && sorted[i] === value; i++) equal++;
  return (100 * (below + equal / 2)) / sorted.length;
}

/** Mean Euclidean distance (over the five domains) from `profile` to its `k` nearest people. */
export function nearestDistance(profile: Profile, people: readonly Profile[], k: number, skip?: Profile): number {
  const d: number[] = [];
  for (const p of people) {
    if (p === skip) continue;
    d.push(Math.hypot(...DOMAINS.map((x) => profile[x] - p[x])));
  }
  if (!d.length) return Number.NaN;
  d.sort((a, b) => a - b);
  const top = d.slice(0, Math.max(1, Math.min(k, d.length)));
  return top.reduce((a, b) => a + b, 0) / top.length;
}

export interface Norms {
  people: Profile[];
  /** Per domain, the people's scores sorted ascending. */
  sorted: Record<Domain, number[]>;
}

export function norms(people: Profile[]): Norms {
  const sorted = Object.fromEntries(DOMAINS.map((d) => [d, people.map((p) => p[d]).filter(Number.isFinite).sort((a, b) => a - b)])) as Record<Domain, number[]>;
  return { people, sorted };
}

/** The typical k-nearest distance among the people themselves (median over a seeded sample of them): the yardstick for a profile's. */
export function typicalNearest(n: Norms, k: number, sample = 500): number {
  const step = Math.max(1, Math.floor(n.people.length / sample));
  const ds: number[] = [];
  for (let i = 0; i < n.people.length; i += step) ds.push(nearestDistance(n.people[i]!, n.people, k, n.people[i]));
  ds.sort((a, b) => a - b);
  return ds[Math.floor(ds.length / 2)] ?? Number.NaN;
}
