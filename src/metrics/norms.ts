// Human norms: where a measured profile sits among real people. Pure functions over the
// people's scores (one row per person: Big Five domains on 1..5, or an instrument's scales).


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

/** Mean Euclidean distance (over `keys`: the five domains, or an instrument's scales) from `profile` to its `k` nearest people. */
export function nearestDistance<K extends string>(profile: Record<K, number>, people: readonly Record<K, number>[], k: number, keys: readonly K[], skip?: Record<K, number>): number {
  const d: number[] = [];
  for (const p of people) {
    if (p === skip) continue;
    d.push(Math.hypot(...keys.map((x) => profile[x] - p[x])));
  }
  if (!d.length) return Number.NaN;
  d.sort((a, b) => a - b);
  const top = d.slice(0, Math.max(1, Math.min(k, d.length)));
  return top.reduce((a, b) => a + b, 0) / top.length;
}

export interface Norms<K extends string = string> {
  keys: readonly K[];
  people: Record<K, number>[];
  /** Per key, the people's scores sorted ascending. */
  sorted: Record<K, number[]>;
}

export function norms<K extends string>(people: Record<K, number>[], keys: readonly K[]): Norms<K> {
  const sorted = Object.fromEntries(keys.map((d) => [d, people.map((p) => p[d]).filter(Number.isFinite).sort((a, b) => a - b)])) as Record<K, number[]>;
  return { keys, people, sorted };
}

/** The typical k-nearest distance among the people themselves (median over a seeded sample of them): the yardstick for a profile's. */
export function typicalNearest<K extends string>(n: Norms<K>, k: number, sample = 500): number {
  const step = Math.max(1, Math.floor(n.people.length / sample));
  const ds: number[] = [];
  for (let i = 0; i < n.people.length; i += step) ds.push(nearestDistance(n.people[i]!, n.people, k, n.keys, n.people[i]));
  ds.sort((a, b) => a - b);
  return ds[Math.floor(ds.length / 2)] ?? Number.NaN;
}
