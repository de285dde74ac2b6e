import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadSuite } from '../src/suite/load.js';
import { runSuite } from '../src/runner/run.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { SHARED, cli, tempDir, twinsSuiteFile } from './helpers.js';

const HUMAN = join(SHARED, 'data', 'human');


test('twins on sim: known accuracy, variance compression and amplification are recovered (0.05, 0.05, 0.1); baselines and the retest ceiling sit beside them', async (tc) => {
  const file = twinsSuiteFile(['sim:twinAccuracy=0.6', 'sim:twinCompression=0.5', 'sim:twinAmplification=1.5', 'sim:'], '  respondents: 400\n  styles: [demographics+answers]\n  seed: 3\n');
  const r = await runSuite(loadSuite(file), { outDir: tempDir(), suitePath: file });
  assert.equal(r.counters.errors, 0);
  const t = r.analysis.twins!;
  assert.equal(t.people, 400);
  assert.equal(t.heldOutItems, 30);
  assert.ok(Math.abs(t.ceiling.value - 0.813) < 0.005);
  assert.match(t.ceiling.source, /computed from .*epiR\.csv \(474 people\)/);
  const [acc, comp, amp, perfect] = t.results;
  tc.diagnostic(`seed 3, 400 people: accuracy ${acc!.individual.accuracy.toFixed(3)} (planted 0.6), compression ${comp!.compression.overall.toFixed(3)} (0.5), amplification ${amp!.effects.filter((e) => /^[NA]:/.test(e.effect)).map((e) => `${e.effect.slice(0, 1)} ${e.amplification.toFixed(2)}`).join(', ')} (1.5)`);
  assert.ok(Math.abs(acc!.individual.accuracy - 0.6) < 0.05, `accuracy ${acc!.individual.accuracy}`);
  assert.ok(Math.abs(acc!.individual.normalizedAccuracy - 0.6 / t.ceiling.value) < 0.07);
  assert.ok(Math.abs(comp!.compression.overall - 0.5) < 0.05, `compression ${comp!.compression.overall}`);
  for (const g of ['female', 'male']) assert.ok(Math.abs(comp!.compression.byGroup[g]! - 0.5) < 0.05, `${g}: ${comp!.compression.byGroup[g]}`);
  for (const domain of ['N', 'A']) {
    const e = amp!.effects.find((x) => x.effect.startsWith(`${domain}:`))!;
    assert.ok(e.realD > 0.2, `${domain}: women higher (${e.realD})`);
    assert.ok(Math.abs(e.amplification - 1.5) < 0.1, `${domain}: amplification ${e.amplification}`);
    assert.ok(e.replicated);
  }
  // A perfect twin (sim: aims at the real answer it is given beside the request, never in it). What
  // this checks is the join: each stored answer is matched back to its person and item (a shifted
  // or mixed-up join would score below 1), and the population metrics of a perfect copy are exact.
  assert.equal(perfect!.individual.accuracy, 1);
  assert.ok(Math.abs(perfect!.compression.overall - 1) < 1e-9);
  assert.ok(perfect!.structure > 0.999);
  // Baselines on the same split: the order the README reports, and below the perfect twin.
  const [pop, demo, knn] = t.baselines;
  assert.deepEqual(t.baselines.map((b) => b.baseline), ['population item means', 'demographic cell means', 'nearest neighbours on the given items']);
  assert.ok(knn!.individual.mae < demo!.individual.mae && demo!.individual.mae <= pop!.individual.mae + 1e-9);
  assert.ok(pop!.compression.overall < 1e-9, 'a constant predictor has no spread');
  assert.ok(t.replication.every((x) => x.rate.value >= 0 && x.rate.value <= 1));
  assert.ok(t.load.cleanedCovariates['age outside 10..100 set missing']! > 0, 'the loader report travels with the analysis');
});

test('twins on engine: the same suite runs end to end on a random-weight model (plumbing), is stored, and re-runs from the store', async () => {
  const model = makeModel(familyConfig('qwen2', { layers: 2 }));
  const file = twinsSuiteFile([`engine:${model.dir}`], '  respondents: 3\n  held_out_items: 4\n  given_per_domain: 2\n');
  const out = tempDir();
  const first = await runSuite(loadSuite(file), { outDir: out, suitePath: file });
  assert.equal(first.counters.errors, 0);
  assert.equal(first.counters.calls, 3 * 3 * 4, 'people x styles x items');
  const t = first.analysis.twins!;
  assert.deepEqual(t.results.map((x) => x.style), ['demographics', 'demographics+answers', 'description']);
  assert.ok(t.results.every((x) => Number.isFinite(x.individual.mae) && x.individual.answers === 12));
  const again = cli(['run', file, '--out', out, '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\(resumed\) · calls this time 0/);
});

test('a twins block naming a missing data file or an unknown covariate fails before any call', () => {
  const missing = twinsSuiteFile(['sim:']).replace('twins.yaml', 'twins.yaml');
  writeFileSync(missing, `name: twins
instrument: { id: ipip-neo-120 }
fidelity: false
personas: [{ id: unused, name: Unused, target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }]
twins:
  dataset: { layout: big5-osp, file: nowhere/data.csv }
models: ["sim:"]
`);
  const out = join(tempDir(), 'out');
  const r = cli(['run', missing, '--out', out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /nowhere\/data\.csv: cannot read \(ENOENT\)$/);
  const badCov = twinsSuiteFile(['sim:'], '  covariates: [shoe_size]\n');
  const r2 = cli(['run', badCov, '--out', out]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /twins\.covariates: "shoe_size" is not a covariate of big5-osp/);
});

test('twins with a generic column map: the psychTools bfi table (1..6, gender 1/2 labelled) runs with its own keying; a perfect sim twin is exact', async () => {
  const dir = tempDir();
  const file = join(dir, 'bfi.yaml');
  const keys: Record<string, 'plus' | 'minus'> = { A1: 'minus', C4: 'minus', C5: 'minus', E1: 'minus', E2: 'minus', O2: 'minus', O5: 'minus' };
  const items = ['A', 'C', 'E', 'N', 'O'].flatMap((d) => [1, 2, 3, 4, 5].map((i) => `      - { column: ${d}${i}, text: "item ${d}${i}", domain: ${d}, keyed: ${keys[`${d}${i}`] ?? 'plus'} }`)).join('\n');
  writeFileSync(file, `name: bfi-twins
instrument: { id: ipip-neo-120 }
fidelity: false
personas: [{ id: unused, name: Unused, target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }]
twins:
  dataset:
    layout: generic
    file: ${join(HUMAN, 'psychtools_bfi', 'bfi.csv')}
    scale: { min: 1, max: 6 }
    items:
${items}
    covariates:
      - { column: gender, kind: category, labels: { "1": male, "2": female } }
      - { column: age, kind: number, min: 10, max: 100 }
      - { column: education, kind: number }
  given_per_domain: 2
  respondents: 200
  styles: [demographics+answers]
  ceiling: { value: 0.8 }
models: ["sim:", "sim:twinCompression=0.5"]
`);
  const r = await runSuite(loadSuite(file), { outDir: tempDir(), suitePath: file });
  assert.equal(r.counters.errors, 0);
  const t = r.analysis.twins!;
  assert.equal(t.dataset, 'generic');
  assert.equal(t.heldOutItems, 15);
  assert.deepEqual(t.ceiling, { value: 0.8, source: 'configured' });
  assert.equal(t.results[0]!.individual.accuracy, 1);
  assert.ok(Math.abs(t.results[1]!.compression.overall - 0.5) < 0.05);
  assert.ok(Math.abs(t.results[0]!.meanShift.female!) < 1e-9, 'a perfect twin has no group bias');
  assert.ok((t.load.missingAnswers['empty or NA'] ?? 0) > 0, 'bfi has NA answers, counted');
  const e = t.results[0]!.effects.find((x) => x.effect.startsWith('A:'))!;
  assert.ok(e.realD > 0.2, `women higher in agreeableness in bfi too: d = ${e.realD}`);
});

test('twins: a wrong retest file fails before any call, naming the file', async () => {
  const bad = join(tempDir(), 'not-a-retest.csv');
  writeFileSync(bad, 'a,b\n1,2\n');
  const file = twinsSuiteFile(['sim:']).replace(/$/, '');
  const text = (await import('node:fs')).readFileSync(file, 'utf8').replace(join(HUMAN, 'psychtools_epiR', 'epiR.csv'), bad);
  writeFileSync(file, text);
  const out = tempDir();
  await assert.rejects(runSuite(loadSuite(file), { outDir: out, suitePath: file }), (err: Error) => err.message.includes('not-a-retest.csv'));
  assert.equal((await import('./helpers.js')).storedCallCount(out), 0, 'no call was made');
});
