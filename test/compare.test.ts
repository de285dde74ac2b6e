// The side-by-side page's intervals: B − A of two independent runs' estimates, checked
// against the formula and for coverage of a known true difference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { independentDifference, proportionDifference } from '../src/metrics/differences.js';
import { createRng } from '../src/util/rng.js';

const Z = 1.959964;
const around = (value: number, se: number) => ({ value, lo: value - Z * se, hi: value + Z * se });

test('independentDifference: B − A with se = sqrt(seA² + seB²) read back from each 95% interval', () => {
  const d = independentDifference(around(1, 0.3), around(1.5, 0.4));
  assert.ok(Math.abs(d.value - 0.5) < 1e-12);
  assert.ok(Math.abs(d.lo - (0.5 - Z * 0.5)) < 1e-9);
  assert.ok(Math.abs(d.hi - (0.5 + Z * 0.5)) < 1e-9);
  const undefinedSide = independentDifference({ value: 1, lo: Number.NaN, hi: Number.NaN }, around(2, 0.1));
  assert.equal(undefinedSide.value, 1);
  assert.ok(Number.isNaN(undefinedSide.lo), 'no interval is invented when a side has none');
});

test('the difference intervals cover a known true difference about 95% of the time', () => {
  const rng = createRng('compare-coverage');
  const reps = 2000;
  let meansCovered = 0;
  let ratesCovered = 0;
  for (let r = 0; r < reps; r++) {
    // Two runs measuring means 3.0 and 3.4 (sd 1), with 40 and 60 observations.
    const sample = (mu: number, n: number) => Array.from({ length: n }, () => mu + rng.normal());
    const estimate = (xs: number[]) => {
      const m = xs.reduce((s, x) => s + x, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
      return around(m, sd / Math.sqrt(xs.length));
    };
    const d = independentDifference(estimate(sample(3.0, 40)), estimate(sample(3.4, 60)));
    if (d.lo <= 0.4 && 0.4 <= d.hi) meansCovered++;
    // Two consistency rates, 0.8 on 400 lines and 0.7 on 300.
    const hits = (p: number, n: number) => Array.from({ length: n }, () => (rng.next() < p ? 1 : 0)).reduce<number>((s, x) => s + x, 0);
    const pd = proportionDifference(hits(0.8, 400) / 400, 400, hits(0.7, 300) / 300, 300);
    if (pd.lo <= -0.1 + 1e-12 && -0.1 - 1e-12 <= pd.hi) ratesCovered++;
  }
  for (const [name, covered] of [['means', meansCovered], ['rates', ratesCovered]] as const) {
    const coverage = covered / reps;
    assert.ok(coverage > 0.93 && coverage < 0.97, `${name}: coverage ${coverage}`);
  }
});
