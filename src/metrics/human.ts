// Statistics on real human answers: the test-retest ceiling, group differences, honest
// baselines for predicting a person's held-out answers, and individual-level scores of
// any predictor. Pure functions over loaded datasets.

import type { Domain } from '../instruments/types.js';
import { DOMAINS } from '../instruments/types.js';
import { domainScore, type HumanDataset, type Respondent, type RetestSet } from '../datasets/human.js';
import { createRng } from '../util/rng.js';
import { cohensD, mean, pearson, sd } from './stats.js';

/** The human ceiling: how often people give the same answer twice, and scale test-retest correlations. */
export function retestCeiling(set: RetestSet): { itemAgreement: number; personAgreement: number; scales: Record<string, number>; people: number } {
  let same = 0;
  let both = 0;
  const perPerson: number[] = [];
  for (const p of set.pairs) {
    let s = 0;
    let n = 0;
    p.first.forEach((a, i) => {
      const b = p.second[i];
      if (a === null || b === null || b === undefined) return;
      n++;
      if (a === b) s++;
    });
    same += s;
    both += n;
    if (n) perPerson.push(s / n);
  }
  const index = new Map(set.items.map((it, i) => [it.id, i]));
  const scaleScore = (answers: (boolean | null)[], keys: { id: string; reversed: boolean }[]) => {
    let s = 0;
    for (const k of keys) {
      const a = answers[index.get(k.id)!];
      if (a === null || a === undefined) return Number.NaN;
      s += a !== k.reversed ? 1 : 0;
    }
    return s;
  };
  const scales: Record<string, number> = {};
  for (const [name, keys] of Object.entries(set.scales)) {
    const pairs = set.pairs.map((p) => [scaleScore(p.first, keys), scaleScore(p.second, keys)] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
    scales[name] = pearson(pairs.map((x) => x[0]), pairs.map((x) => x[1]));
  }
  return { itemAgreement: both ? same / both : Number.NaN, personAgreement: mean(perPerson), scales, people: set.pairs.length };
}

export interface GroupDifference {
  domain: Domain;
  /** Cohen's d, group A minus group B, pooled SD. */
  d: number;
  meanA: number;
  meanB: number;
  nA: number;
  nB: number;
}

/** Standardised mean differences in domain scores between two values of a covariate. */
export function groupDifferences(ds: HumanDataset, people: readonly Respondent[], covariate: string, a: string | number, b: string | number): GroupDifference[] {
  return DOMAINS.map((domain) => {
    const scores = (v: string | number) => people.filter((p) => p.covariates[covariate] === v).map((p) => domainScore(ds, p.answers, domain)).filter((x): x is number => x !== null);
    const xa = scores(a);
    const xb = scores(b);
    return { domain, d: cohensD(xa, xb), meanA: mean(xa), meanB: mean(xb), nA: xa.length, nB: xb.length };
  });
}

/** A seeded split of people into train and test. */
export function splitPeople<T>(people: readonly T[], testCount: number, seed: number): { train: T[]; test: T[] } {
  const order = people.map((_, i) => i);
  const rng = createRng(`split/${seed}`);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const testSet = new Set(order.slice(0, testCount));
  return { train: people.filter((_, i) => !testSet.has(i)), test: people.filter((_, i) => testSet.has(i)) };
}

/** Which items are given to the predictor (known answers) and which are held out: `given` per domain, seeded. */
export function splitItems(ds: HumanDataset, givenPerDomain: number, seed: number): { given: number[]; heldOut: number[] } {
  const rng = createRng(`items/${seed}`);
  const given: number[] = [];
  for (const d of DOMAINS) {
    const idx = ds.items.map((it, i) => ({ it, i })).filter(({ it }) => it.domain === d).map(({ i }) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    given.push(...idx.slice(0, givenPerDomain));
  }
  const g = new Set(given);
  return { given: given.sort((a, b) => a - b), heldOut: ds.items.map((_, i) => i).filter((i) => !g.has(i) && ds.items[i]!.domain !== null) };
}

/** Predicts a person's held-out answers (expected values on the answer scale). */
export type Predictor = (person: Respondent, heldOut: readonly number[]) => number[];

export function populationMeansBaseline(train: readonly Respondent[], items: number): Predictor {
  const means = Array.from({ length: items }, (_, j) => mean(train.map((p) => p.answers[j]).filter((x): x is number => x !== null && x !== undefined)));
  return (_p, heldOut) => heldOut.map((j) => means[j]!);
}

/** Item means within the person's demographic cell (falling back to the population mean for small cells). */
export function demographicMeansBaseline(train: readonly Respondent[], items: number, cellOf: (p: Respondent) => string | null, minCell = 30): Predictor {
  const pop = populationMeansBaseline(train, items);
  const cells = new Map<string, Respondent[]>();
  for (const p of train) {
    const c = cellOf(p);
    if (c !== null) cells.set(c, [...(cells.get(c) ?? []), p]);
  }
  const cellMeans = new Map([...cells].filter(([, ps]) => ps.length >= minCell).map(([c, ps]) => [c, populationMeansBaseline(ps, items)]));
  return (p, heldOut) => (cellMeans.get(cellOf(p) ?? '') ?? pop)(p, heldOut);
}

/** The demographic cell of the baseline: the group covariate crossed with an age band (young < 25, mid < 40, older). */
export function demographicCell(group: string): (p: Respondent) => string | null {
  return (p) => {
    const g = p.covariates[group];
    const a = p.covariates.age as number | null;
    return g && a ? `${g}/${a < 25 ? 'young' : a < 40 ? 'mid' : 'older'}` : null;
  };
}

/** The three baselines every twin is compared with, fitted on `train`. */
export function baselinePredictors(train: readonly Respondent[], items: number, given: readonly number[], group: string): [string, Predictor][] {
  return [
    ['population item means', populationMeansBaseline(train, items)],
    ['demographic cell means', demographicMeansBaseline(train, items, demographicCell(group))],
    ['nearest neighbours on the given items', nearestNeighbourBaseline(train, items, given)],
  ];
}

/** k nearest neighbours on the given items (Euclidean over the ones both answered); their mean held-out answers. */
export function nearestNeighbourBaseline(train: readonly Respondent[], items: number, given: readonly number[], k = 25): Predictor {
  const pop = populationMeansBaseline(train, items);
  return (p, heldOut) => {
    const best: { d: number; q: Respondent }[] = [];
    for (const q of train) {
      let s = 0;
      let n = 0;
      for (const j of given) {
        const a = p.answers[j];
        const b = q.answers[j];
        if (a === null || b === null || a === undefined || b === undefined) continue;
        s += (a - b) ** 2;
        n++;
      }
      if (!n) continue;
      const d = Math.sqrt(s / n);
      if (best.length < k || d < best[best.length - 1]!.d) {
        best.push({ d, q });
        best.sort((x, y) => x.d - y.d);
        if (best.length > k) best.pop();
      }
    }
    const fallback = pop(p, heldOut);
    return heldOut.map((j, i) => {
      const xs = best.map((b) => b.q.answers[j]).filter((x): x is number => x !== null && x !== undefined);
      return xs.length ? mean(xs) : fallback[i]!;
    });
  };
}

export interface IndividualScores {
  /** Share of held-out answers predicted exactly (prediction rounded to the nearest option). */
  accuracy: number;
  mae: number;
  /** Mean over people of the correlation between their predicted and real held-out answers. */
  personCorrelation: number;
  people: number;
  answers: number;
}

export function scorePredictor(predict: Predictor, test: readonly Respondent[], heldOut: readonly number[], scale: { min: number; max: number }): IndividualScores {
  let exact = 0;
  let abs = 0;
  let n = 0;
  const rs: number[] = [];
  for (const p of test) {
    const pred = predict(p, heldOut);
    const xs: number[] = [];
    const ys: number[] = [];
    heldOut.forEach((j, i) => {
      const a = p.answers[j];
      if (a === null || a === undefined) return;
      const y = pred[i]!;
      const rounded = Math.min(scale.max, Math.max(scale.min, Math.round(y)));
      if (rounded === a) exact++;
      abs += Math.abs(y - a);
      n++;
      xs.push(y);
      ys.push(a);
    });
    const r = pearson(xs, ys);
    if (Number.isFinite(r)) rs.push(r);
  }
  return { accuracy: n ? exact / n : Number.NaN, mae: n ? abs / n : Number.NaN, personCorrelation: mean(rs), people: test.length, answers: n };
}

/** Pearson correlation matrix of columns (pairwise complete). */
export function correlationMatrix(rows: readonly (readonly (number | null)[])[]): number[][] {
  const k = rows[0]?.length ?? 0;
  const out = Array.from({ length: k }, () => new Array<number>(k).fill(1));
  for (let a = 0; a < k; a++)
    for (let b = a + 1; b < k; b++) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (const r of rows) {
        const x = r[a];
        const y = r[b];
        if (x === null || y === null || x === undefined || y === undefined) continue;
        xs.push(x);
        ys.push(y);
      }
      out[a]![b] = out[b]![a] = pearson(xs, ys);
    }
  return out;
}

/** Recovery of the inter-item correlation structure: the correlation of the two matrices' off-diagonal entries. */
export function structureRecovery(simulated: number[][], real: number[][]): number {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let a = 0; a < real.length; a++)
    for (let b = a + 1; b < real.length; b++) {
      const x = simulated[a]![b]!;
      const y = real[a]![b]!;
      if (Number.isFinite(x) && Number.isFinite(y)) {
        xs.push(x);
        ys.push(y);
      }
    }
  return pearson(xs, ys);
}

/** Tucker's congruence coefficient of two loading vectors. */
export function tuckerCongruence(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! ** 2;
    bb += b[i]! ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/**
 * Loadings of the top `factors` principal components of a correlation matrix (eigenvectors
 * scaled by the square root of their eigenvalues), varimax-rotated. Items x factors.
 */
export function varimaxLoadings(corr: number[][], factors: number): number[][] {
  const n = corr.length;
  const m = corr.map((r) => [...r]);
  const loadings: number[][] = Array.from({ length: n }, () => []);
  const rng = createRng('loadings');
  for (let f = 0; f < factors; f++) {
    let v = Array.from({ length: n }, () => rng.normal());
    let lambda = 0;
    for (let it = 0; it < 500; it++) {
      const w = m.map((row) => row.reduce((s, x, j) => s + x * v[j]!, 0));
      const len = Math.hypot(...w);
      v = w.map((x) => x / len);
      lambda = len;
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i]![j]! -= lambda * v[i]! * v[j]!;
    v.forEach((x, i) => loadings[i]!.push(x * Math.sqrt(lambda)));
  }
  // Varimax (Kaiser), pairwise rotations until stable.
  for (let sweep = 0; sweep < 100; sweep++) {
    let moved = 0;
    for (let p = 0; p < factors; p++)
      for (let q = p + 1; q < factors; q++) {
        let A = 0;
        let B = 0;
        let C = 0;
        let D = 0;
        for (let i = 0; i < n; i++) {
          const x = loadings[i]![p]!;
          const y = loadings[i]![q]!;
          const u = x * x - y * y;
          const w = 2 * x * y;
          A += u;
          B += w;
          C += u * u - w * w;
          D += 2 * u * w;
        }
        const phi = Math.atan2(D - (2 * A * B) / n, C - (A * A - B * B) / n) / 4;
        if (Math.abs(phi) < 1e-10) continue;
        moved++;
        const [c, s] = [Math.cos(phi), Math.sin(phi)];
        for (let i = 0; i < n; i++) {
          const x = loadings[i]![p]!;
          const y = loadings[i]![q]!;
          loadings[i]![p] = c * x + s * y;
          loadings[i]![q] = -s * x + c * y;
        }
      }
    if (!moved) break;
  }
  return loadings;
}

/** Per factor of `real`, the best |congruence| with any factor of `simulated` (greedy one-to-one matching). */
export function matchedCongruence(simulated: number[][], real: number[][]): number[] {
  const k = real[0]!.length;
  const col = (m: number[][], j: number) => m.map((r) => r[j]!);
  const used = new Set<number>();
  const out: number[] = [];
  const pairs: { i: number; j: number; c: number }[] = [];
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) pairs.push({ i, j, c: Math.abs(tuckerCongruence(col(real, i), col(simulated, j))) });
  pairs.sort((a, b) => b.c - a.c);
  const done = new Set<number>();
  for (const p of pairs) {
    if (done.has(p.i) || used.has(p.j)) continue;
    out[p.i] = p.c;
    done.add(p.i);
    used.add(p.j);
  }
  return out;
}

export interface EffectReplication {
  effect: string;
  realD: number;
  simulatedD: number;
  /** Same sign (and the real effect is not ~0). */
  replicated: boolean;
  /** simulated d / real d: above 1, the simulation exaggerates the difference (identity-congruent bias). */
  amplification: number;
}

export function effectReplication(effect: string, realD: number, simulatedD: number): EffectReplication {
  return { effect, realD, simulatedD, replicated: Math.sign(realD) === Math.sign(simulatedD) && Math.abs(realD) > 0.05, amplification: simulatedD / realD };
}

/** Variance compression of one item across a group: SD of simulated answers / SD of real answers. */
export function varianceCompression(simulated: readonly number[], real: readonly number[]): number {
  return sd(simulated) / sd(real);
}
