// Plain descriptive statistics. Pure functions over arrays; NaN-free inputs expected
// unless a function says otherwise (the paired ones drop incomplete pairs).

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample variance (n - 1). */
export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

export function sd(xs: readonly number[]): number {
  return Math.sqrt(variance(xs));
}

/** Fewer complete pairs than this and a correlation is not reported (two points always give ±1). */
export const MIN_PAIRS = 3;

/** The pairs where both values are finite: a missing value drops its pair, never the statistic. */
export function completePairs(xs: readonly number[], ys: readonly number[]): { xs: number[]; ys: number[]; n: number } {
  if (xs.length !== ys.length) throw new RangeError('paired statistics: arrays differ in length');
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (Number.isFinite(xs[i]!) && Number.isFinite(ys[i]!)) {
      a.push(xs[i]!);
      b.push(ys[i]!);
    }
  }
  return { xs: a, ys: b, n: a.length };
}

/** Pearson's r over the complete pairs; NaN with fewer than MIN_PAIRS of them or no spread. */
export function pearson(xsIn: readonly number[], ysIn: readonly number[]): number {
  const { xs, ys, n } = completePairs(xsIn, ysIn);
  if (n < MIN_PAIRS) return Number.NaN;
  const mx = mean(xs);
  const my = mean(ys);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  // A constant column (up to rounding in its mean) has no correlation with anything.
  if (sxx <= 1e-20 * n || syy <= 1e-20 * n) return Number.NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** Ranks with ties given their average rank (1-based). */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => ({ x, i })).sort((a, b) => a.x - b.x);
  const out = new Array<number>(xs.length);
  let k = 0;
  while (k < order.length) {
    let j = k;
    while (j + 1 < order.length && order[j + 1]!.x === order[k]!.x) j++;
    const r = (k + j) / 2 + 1;
    for (let t = k; t <= j; t++) out[order[t]!.i] = r;
    k = j + 1;
  }
  return out;
}

/** Spearman's ρ over the complete pairs (ranked after incomplete pairs are dropped); NaN with fewer than MIN_PAIRS. */
export function spearman(xsIn: readonly number[], ysIn: readonly number[]): number {
  const { xs, ys } = completePairs(xsIn, ysIn);
  return pearson(ranks(xs), ranks(ys));
}

/** Linear-interpolated quantile (type 7, as R's default) of unsorted values. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

export function finite(xs: readonly number[]): number[] {
  return xs.filter((x) => Number.isFinite(x));
}

export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/**
 * Cohen's d, a minus b, with the pooled SD. NaN when the groups have no spread: a
 * constant predictor's (rounded) scores must not yield an effect size.
 */
export function cohensD(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let ss = 0;
  for (const x of a) ss += (x - ma) ** 2;
  for (const x of b) ss += (x - mb) ** 2;
  const pooled = Math.sqrt(ss / (a.length + b.length - 2));
  return pooled > 1e-9 ? (ma - mb) / pooled : Number.NaN;
}
