// Persona-vector math. Pure functions over activation vectors (plain number arrays,
// float64): difference of means, projections, separation, and the first principal
// component of paired differences (as repeng's pca_diff does).

import { createRng } from '../util/rng.js';
import { cohensD } from './stats.js';

export type Vec = readonly number[];

export function meanOf(rows: readonly Vec[]): number[] {
  if (rows.length === 0) throw new RangeError('mean of no vectors');
  const out = new Array<number>(rows[0]!.length).fill(0);
  for (const r of rows) for (let i = 0; i < out.length; i++) out[i]! += r[i]!;
  return out.map((x) => x / rows.length);
}

/** mean(positive) - mean(negative). */
export function differenceOfMeans(positive: readonly Vec[], negative: readonly Vec[]): number[] {
  const p = meanOf(positive);
  const n = meanOf(negative);
  return p.map((x, i) => x - n[i]!);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: Vec): number {
  return Math.sqrt(dot(a, a));
}

export function unit(a: Vec): number[] {
  const n = norm(a);
  if (!(n > 0)) throw new RangeError('a zero vector has no direction');
  return a.map((x) => x / n);
}

/** Projection of each row on the unit vector of `direction`. */
export function projections(rows: readonly Vec[], direction: Vec): number[] {
  const u = unit(direction);
  return rows.map((r) => dot(r, u));
}

/**
 * First principal component of the rows after centring (unit length), by power
 * iteration on the n x n Gram matrix (n rows is much smaller than the width).
 * The sign is arbitrary; callers orient it.
 */
export function firstPrincipalComponent(rows: readonly Vec[], iterations = 500, seed = 1): number[] {
  const n = rows.length;
  if (n < 2) throw new RangeError('PCA needs at least two rows');
  const mean = meanOf(rows);
  const centred = rows.map((r) => r.map((x, i) => x - mean[i]!));
  const gram = centred.map((a) => centred.map((b) => dot(a, b)));
  const rng = createRng(seed);
  let v = Array.from({ length: n }, () => rng.normal());
  for (let it = 0; it < iterations; it++) {
    const next = gram.map((row) => dot(row, v));
    const len = norm(next);
    if (!(len > 0)) break;
    const done = next.every((x, i) => Math.abs(x / len - v[i]!) < 1e-13);
    v = next.map((x) => x / len);
    if (done) break;
  }
  // The component in activation space is X^T v (a left singular vector of the Gram side).
  const width = rows[0]!.length;
  const pc = new Array<number>(width).fill(0);
  for (let k = 0; k < n; k++) for (let i = 0; i < width; i++) pc[i]! += centred[k]![i]! * v[k]!;
  return unit(pc);
}

/** Flip a direction so that `reference` projects positively on it. */
export function orient(direction: Vec, reference: Vec): number[] {
  return dot(direction, reference) < 0 ? direction.map((x) => -x) : [...direction];
}

export function cosine(a: Vec, b: Vec): number {
  return dot(a, b) / (norm(a) * norm(b));
}

/**
 * The top k principal components of the rows (centred), by power iteration with
 * deflation on the n x n Gram matrix, with the share of variance each explains.
 */
export function principalComponents(rows: readonly Vec[], k: number, seed = 1): { components: number[][]; explained: number[]; mean: number[] } {
  const n = rows.length;
  if (n < 2) throw new RangeError('PCA needs at least two rows');
  const mean = meanOf(rows);
  const centred = rows.map((r) => r.map((x, i) => x - mean[i]!));
  const gram = centred.map((a) => centred.map((b) => dot(a, b)));
  const total = gram.reduce((s, row, i) => s + row[i]!, 0);
  const rng = createRng(seed);
  const components: number[][] = [];
  const explained: number[] = [];
  for (let c = 0; c < Math.min(k, n - 1); c++) {
    let v = Array.from({ length: n }, () => rng.normal());
    let lambda = 0;
    for (let it = 0; it < 1000; it++) {
      const next = gram.map((row) => dot(row, v));
      const len = norm(next);
      if (!(len > 0)) break;
      const w = next.map((x) => x / len);
      const done = w.every((x, i) => Math.abs(x - v[i]!) < 1e-12);
      v = w;
      lambda = len;
      if (done) break;
    }
    // Deflate: G <- G - lambda v v^T.
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i]![j]! -= lambda * v[i]! * v[j]!;
    const width = rows[0]!.length;
    const pc = new Array<number>(width).fill(0);
    for (let r = 0; r < n; r++) for (let i = 0; i < width; i++) pc[i]! += centred[r]![i]! * v[r]!;
    if (!(norm(pc) > 0)) break;
    components.push(unit(pc));
    explained.push(total > 0 ? lambda / total : Number.NaN);
  }
  return { components, explained, mean };
}

/** Linear-interpolated percentile (0..100). */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * (p / 100);
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * ((s[Math.ceil(h)] ?? s[lo]!) - s[lo]!);
}

/** Held-out separation: Cohen's d of the test rows projected on the training rows' difference of means. */
export function heldOutSeparation(trainPos: readonly Vec[], trainNeg: readonly Vec[], testPos: readonly Vec[], testNeg: readonly Vec[]): number {
  if (!trainPos.length || !trainNeg.length || !testPos.length || !testNeg.length) return Number.NaN;
  const diff = differenceOfMeans(trainPos, trainNeg);
  if (!(norm(diff) > 0)) return Number.NaN;
  return cohensD(projections(testPos, diff), projections(testNeg, diff));
}

export interface SeparationNull {
  /** The 95th percentile of held-out separation with the positive/negative labels permuted. */
  d95: number;
  permutations: number;
  /** Share of permutations whose separation reached the observed one (a permutation p-value, with +1 smoothing). */
  p: number;
}

/**
 * What held-out separation looks like when the labels mean nothing: the positive and
 * negative labels are shuffled among the training rows and among the test rows (the
 * same sample sizes), a direction is fitted and scored exactly as the real one, many
 * times. With few samples in high dimension a difference of means separates anything
 * somewhat; a layer is worth recommending only when its separation clears this.
 */
export function separationNull(trainPos: readonly Vec[], trainNeg: readonly Vec[], testPos: readonly Vec[], testNeg: readonly Vec[], observed: number, options: { permutations?: number; seed?: string } = {}): SeparationNull {
  const P = options.permutations ?? 200;
  const rng = createRng(options.seed ?? 'separation-null');
  const shuffled = (pos: readonly Vec[], neg: readonly Vec[]): [Vec[], Vec[]] => {
    const all = [...pos, ...neg];
    for (let i = all.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    return [all.slice(0, pos.length), all.slice(pos.length)];
  };
  const ds: number[] = [];
  let reached = 0;
  for (let k = 0; k < P; k++) {
    const [tp, tn] = shuffled(trainPos, trainNeg);
    const [hp, hn] = shuffled(testPos, testNeg);
    const d = heldOutSeparation(tp, tn, hp, hn);
    if (!Number.isFinite(d)) continue;
    ds.push(d);
    if (d >= observed) reached++;
  }
  return { d95: ds.length ? percentile(ds, 95) : Number.NaN, permutations: ds.length, p: (reached + 1) / (ds.length + 1) };
}

export interface LabelledRow {
  /** The unit that carries the label: the instruction pair the answer was generated under. */
  group: number;
  positive: boolean;
  heldOut: boolean;
  v: Vec;
}

export interface InstructionNull {
  /** The 95th percentile of held-out separation over the 2^(G-1) distinct assignments. */
  d95: number;
  /** Share of assignments whose separation reached the observed one (the true assignment among them): at least 1/2^(G-1). */
  p: number;
}

/** With the 5 instruction pairs a trait has, the true assignment must beat all 15 other ones: p = 1/16. */
export const INSTRUCTION_ALPHA = 1 / 16;

/**
 * The null at the level of the unit that carries the label. Every answer of one
 * instruction pair shares that pair's two texts, so any two texts that differ separate
 * the answers, trait or no trait (a random-weight model does). Under the null that
 * "positive" means nothing, the two sides of each pair are exchangeable: the sides are
 * swapped pair by pair, in every distinct assignment (2^(G-1) for G pairs: swapping every
 * pair at once only turns the refitted direction round, and gives the same separation),
 * and the direction is refitted and scored exactly as the real one. A direction that is
 * the trait is shared by all pairs and only the true assignment lines it up; differences
 * peculiar to each pair's wording line up as well under any assignment.
 */
export function instructionNull(rows: readonly LabelledRow[], observed: number): InstructionNull {
  const groups = [...new Set(rows.map((r) => r.group))].sort((a, b) => a - b);
  const G = groups.length;
  // Every assignment is scored: a trait has 5 pairs (16 assignments); this many would be 4,096.
  if (G > 13) throw new RangeError(`instructionNull: ${G} groups would be ${2 ** (G - 1)} assignments`);
  const index = new Map(groups.map((g, i) => [g, i]));
  const masks: number[][] = [];
  // The first group is never swapped: the other half of the assignments mirror these.
  for (let m = 0; m < 2 ** Math.max(0, G - 1); m++) masks.push(groups.map((_, i) => (i === 0 ? 0 : (m >> (i - 1)) & 1)));
  const ds: number[] = [];
  let reached = 0;
  for (const mask of masks) {
    const side = (r: LabelledRow) => r.positive !== (mask[index.get(r.group)!] === 1);
    const pick = (held: boolean, pos: boolean) => rows.filter((r) => r.heldOut === held && side(r) === pos).map((r) => r.v);
    const d = heldOutSeparation(pick(false, true), pick(false, false), pick(true, true), pick(true, false));
    if (!Number.isFinite(d)) continue;
    ds.push(d);
    if (d >= observed - 1e-9 * Math.abs(observed)) reached++;
  }
  return { d95: ds.length ? percentile(ds, 95) : Number.NaN, p: ds.length ? reached / ds.length : Number.NaN };
}
