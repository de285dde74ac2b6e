import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cronbachAlpha, mcdonaldOmega } from '../src/metrics/reliability.js';
import { completePairs, spearman, pearson, quantile } from '../src/metrics/stats.js';
import { defaultPull } from '../src/metrics/fidelity.js';
import { bootstrapMean } from '../src/metrics/bootstrap.js';
import { createRng } from '../src/util/rng.js';

test("Cronbach's alpha matches a hand computation", () => {
  // 4 respondents x 3 items, worked by hand (sample variances, n - 1 = 3):
  //   item 1: 1,3,4,4 (mean 3, squares 4+0+1+1 = 6) -> 2; item 2: 2,3,4,3 (mean 3, 1+0+1+0 = 2) -> 2/3;
  //   item 3: 3,3,4,4 (mean 3.5, 4 x 0.25 = 1) -> 1/3. Sum of item variances: 3.
  //   totals 6, 9, 12, 11 (mean 9.5, 12.25+0.25+6.25+2.25 = 21) -> 7.
  //   alpha = k/(k-1) (1 - 3/7) = 1.5 x 4/7 = 6/7.
  const m = [[1, 2, 3], [3, 3, 3], [4, 4, 4], [4, 3, 4]];
  assert.ok(Math.abs(cronbachAlpha(m) - 6 / 7) < 1e-12, `alpha ${cronbachAlpha(m)}`);
  // Two identical items are perfectly consistent: alpha 1.
  assert.ok(Math.abs(cronbachAlpha([[1, 1], [2, 2], [4, 4]]) - 1) < 1e-12);
});

test('omega equals alpha for parallel items, exceeds it for congeneric ones, and tracks the true loadings', () => {
  const rng = createRng(5);
  const loadings = [0.9, 0.8, 0.7, 0.4, 0.3];
  const rows = Array.from({ length: 4000 }, () => {
    const f = rng.normal();
    return loadings.map((l) => l * f + Math.sqrt(1 - l * l) * rng.normal());
  });
  const sumL = loadings.reduce((a, b) => a + b);
  const trueOmega = sumL ** 2 / (sumL ** 2 + loadings.reduce((a, l) => a + 1 - l * l, 0));
  const omega = mcdonaldOmega(rows);
  assert.ok(Math.abs(omega - trueOmega) < 0.02, `omega ${omega} vs true ${trueOmega}`);
  assert.ok(omega > cronbachAlpha(rows));
  const parallel = Array.from({ length: 4000 }, () => { const f = rng.normal(); return [0, 1, 2, 3].map(() => 0.7 * f + Math.sqrt(0.51) * rng.normal()); });
  assert.ok(Math.abs(mcdonaldOmega(parallel) - cronbachAlpha(parallel)) < 0.01);
});

test('rank statistics and quantiles', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 100]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 7]) - 0.9933992677987828) < 1e-12);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantile([1, 2, 3, 4], 0.25), 1.75);
});

test('correlations drop incomplete pairs and say nothing below three complete pairs', () => {
  // All missing: no statistic (it used to be 1).
  assert.ok(Number.isNaN(spearman([1, 2, 3, 4], [Number.NaN, Number.NaN, Number.NaN, Number.NaN])));
  // [4, NaN, 2, 1] against [1, 2, 3, 4]: the complete pairs (1,4), (3,2), (4,1) are perfectly discordant.
  assert.equal(spearman([1, 2, 3, 4], [4, Number.NaN, 2, 1]), -1);
  assert.equal(pearson([1, 2, Number.POSITIVE_INFINITY, 4], [2, 4, 5, 8]), pearson([1, 2, 4], [2, 4, 8]));
  assert.ok(Number.isNaN(pearson([1, 2, Number.NaN], [3, 1, 2])), 'two complete pairs are not a correlation');
  assert.deepEqual(completePairs([1, Number.NaN, 3], [4, 5, Number.NaN]), { xs: [1], ys: [4], n: 1 });
});

test('default pull: 0 on target, 1 at the default, fractions in between, undefined when they coincide', () => {
  const target = { O: 2, C: 2, E: 2, A: 2, N: 4 };
  const base = { O: 4, C: 4, E: 4, A: 4, N: 2 };
  assert.equal(defaultPull(target, target, base), 0);
  assert.equal(defaultPull(base, target, base), 1);
  assert.ok(Math.abs(defaultPull({ O: 2.5, C: 2.5, E: 2.5, A: 2.5, N: 3.5 }, target, base)! - 0.25) < 1e-12);
  assert.equal(defaultPull(target, target, { ...target, O: 2.1 }), null);
});

test('bootstrap interval covers the mean and is seeded', () => {
  const xs = Array.from({ length: 50 }, (_, i) => i % 7);
  const a = bootstrapMean(xs, { seed: 3 });
  const b = bootstrapMean(xs, { seed: 3 });
  assert.deepEqual(a, b);
  assert.ok(a.lo < a.value && a.value < a.hi);
});
