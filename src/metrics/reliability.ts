import { mean, variance } from './stats.js';

/**
 * Cronbach's alpha from a respondents x items matrix of keyed scores (rows with a
 * missing value are dropped: alpha is defined on complete cases).
 * alpha = k/(k-1) * (1 - sum(item variances) / variance(total)).
 */
export function cronbachAlpha(matrix: readonly (readonly number[])[]): number {
  const rows = completeRows(matrix);
  const k = rows[0]?.length ?? 0;
  if (rows.length < 2 || k < 2) return Number.NaN;
  let itemVar = 0;
  for (let j = 0; j < k; j++) itemVar += variance(rows.map((r) => r[j]!));
  const totalVar = variance(rows.map((r) => r.reduce((a, b) => a + b, 0)));
  if (!(totalVar > 0)) return Number.NaN;
  return (k / (k - 1)) * (1 - itemVar / totalVar);
}

/**
 * McDonald's omega (total) from a one-factor model fitted to the item correlation
 * matrix by iterated principal-axis factoring:
 * omega = (sum lambda)^2 / ((sum lambda)^2 + sum(1 - lambda^2)), standardized items.
 */
export function mcdonaldOmega(matrix: readonly (readonly number[])[]): number {
  const rows = completeRows(matrix);
  const k = rows[0]?.length ?? 0;
  if (rows.length < 3 || k < 2) return Number.NaN;
  const r = correlationMatrix(rows);
  if (!r) return Number.NaN;
  const loadings = oneFactorLoadings(r);
  const sumL = loadings.reduce((a, b) => a + b, 0);
  const uniq = loadings.reduce((a, l) => a + Math.max(0, 1 - l * l), 0);
  return (sumL * sumL) / (sumL * sumL + uniq);
}

function completeRows(matrix: readonly (readonly number[])[]): number[][] {
  return matrix.filter((r) => r.every((x) => Number.isFinite(x))).map((r) => [...r]);
}

/** Pearson correlation matrix of columns; null when a column is constant. */
export function correlationMatrix(rows: readonly (readonly number[])[]): number[][] | null {
  const k = rows[0]?.length ?? 0;
  const cols = Array.from({ length: k }, (_, j) => rows.map((r) => r[j]!));
  const means = cols.map(mean);
  const sds = cols.map((c) => Math.sqrt(variance(c)));
  if (sds.some((s) => !(s > 0))) return null;
  const n = rows.length;
  const out = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (cols[a]![i]! - means[a]!) * (cols[b]![i]! - means[b]!);
      const v = s / (n - 1) / (sds[a]! * sds[b]!);
      out[a]![b] = v;
      out[b]![a] = v;
    }
  }
  return out;
}

/** Leading eigenvector of a symmetric matrix by power iteration, with its eigenvalue. */
export function leadingEigen(m: readonly (readonly number[])[], iterations = 500): { value: number; vector: number[] } {
  const k = m.length;
  let v = new Array<number>(k).fill(1 / Math.sqrt(k));
  let value = 0;
  for (let it = 0; it < iterations; it++) {
    const w = m.map((row) => row.reduce((s, x, j) => s + x * v[j]!, 0));
    const norm = Math.sqrt(w.reduce((s, x) => s + x * x, 0));
    if (norm === 0) break;
    const next = w.map((x) => x / norm);
    value = norm;
    const delta = next.reduce((s, x, j) => s + Math.abs(x - v[j]!), 0);
    v = next;
    if (delta < 1e-12) break;
  }
  return { value, vector: v };
}

/** One-factor loadings by iterated principal-axis factoring (communalities start at squared multiple correlation approximated by max |r|). */
export function oneFactorLoadings(r: readonly (readonly number[])[], iterations = 100): number[] {
  const k = r.length;
  let h2 = r.map((row, i) => Math.max(...row.filter((_, j) => j !== i).map(Math.abs)));
  let loadings = new Array<number>(k).fill(0);
  for (let it = 0; it < iterations; it++) {
    const reduced = r.map((row, i) => row.map((x, j) => (i === j ? h2[i]! : x)));
    const { value, vector } = leadingEigen(reduced);
    const sign = vector.reduce((s, x) => s + x, 0) < 0 ? -1 : 1;
    loadings = vector.map((x) => sign * x * Math.sqrt(Math.max(value, 0)));
    const next = loadings.map((l) => Math.min(0.999, l * l));
    const delta = next.reduce((s, x, i) => s + Math.abs(x - h2[i]!), 0);
    h2 = next;
    if (delta < 1e-9) break;
  }
  return loadings;
}

/** Cronbach's α and McDonald's ω of a scale over the respondents who answered every item (n says how many). */
export function scaleReliability(rows: readonly (readonly (number | null)[])[]): { n: number; alpha: number; omega: number } {
  const complete = rows.filter((r): r is number[] => r.every((v) => v !== null && Number.isFinite(v)));
  return { n: complete.length, alpha: cronbachAlpha(complete), omega: mcdonaldOmega(complete) };
}
