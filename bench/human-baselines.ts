// Baselines a human twin must beat, on real people (../shared/data/human), with a seeded
// held-out split: 500 test people; 4 items per domain given as the person's known answers;
// every other Big Five item predicted. Prints the individual-level table the README shows,
// the population-level variance compression of each baseline, and the human retest ceiling.
//   npm run bench:human

import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBig5, loadEpiRetest, loadSapa, type HumanDataset, type Respondent } from '../src/datasets/human.js';
import { correlationMatrix, demographicMeansBaseline, groupDifferences, nearestNeighbourBaseline, populationMeansBaseline, retestCeiling, scorePredictor, splitItems, splitPeople, structureRecovery, type Predictor } from '../src/metrics/human.js';
import { mean, sd } from '../src/metrics/stats.js';

const HUMAN = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', 'shared', 'data', 'human');
const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '—');

const cell = (p: Respondent) => {
  const g = p.covariates.gender ?? p.covariates.sex;
  const a = p.covariates.age as number | null;
  return g && a ? `${g}/${a < 25 ? 'young' : a < 40 ? 'mid' : 'older'}` : null;
};

/** Simulated SD / real SD of each held-out item across test people, averaged: 1 = no compression. */
function compression(predict: Predictor, people: Respondent[], heldOut: number[]): number {
  const preds = people.map((p) => predict(p, heldOut));
  return mean(heldOut.map((j, i) => {
    const real = people.map((p) => p.answers[j]).filter((x): x is number => x !== null);
    return sd(preds.map((r) => r[i]!)) / sd(real);
  }));
}

/** Correlation of the predicted and the real inter-item correlation matrices over the held-out items. */
function structure(predict: Predictor, people: Respondent[], heldOut: number[]): number {
  const preds = people.map((p) => predict(p, heldOut));
  return structureRecovery(correlationMatrix(preds), correlationMatrix(people.map((p) => heldOut.map((j) => p.answers[j] ?? null))));
}

const ceiling = retestCeiling(loadEpiRetest(join(HUMAN, 'psychtools_epiR', 'epiR.csv')));
console.log(`Human retest ceiling (EPI, ${ceiling.people} people, weeks apart): ${f(ceiling.itemAgreement)} of items answered the same; E r = ${f(ceiling.scales.E!, 2)}, N r = ${f(ceiling.scales.N!, 2)}\n`);
console.log('| data | baseline | exact accuracy | normalized accuracy | MAE | person r | variance compression | structure r |');
console.log('|---|---|---|---|---|---|---|---|');
for (const ds of [loadBig5(join(HUMAN, 'big5_osp_19719', 'data.csv')), loadSapa(join(HUMAN, 'psychtools_spi', 'spi.csv'))] as HumanDataset[]) {
  const { train, test } = splitPeople(ds.respondents, 500, 2026);
  const { given, heldOut } = splitItems(ds, 4, 2026);
  const started = performance.now();
  const baselines: [string, Predictor][] = [
    ['population item means', populationMeansBaseline(train, ds.items.length)],
    ['demographic cell means (sex x age band)', demographicMeansBaseline(train, ds.items.length, cell)],
    ['25 nearest neighbours on the given items', nearestNeighbourBaseline(train, ds.items.length, given)],
  ];
  for (const [name, p] of baselines) {
    const s = scorePredictor(p, test, heldOut, ds.scale);
    console.log(`| ${ds.name} (${ds.scale.min}-${ds.scale.max}, ${heldOut.length} held-out items) | ${name} | ${f(s.accuracy)} | ${f(s.accuracy / ceiling.itemAgreement)} | ${f(s.mae)} | ${f(s.personCorrelation)} | ${f(compression(p, test, heldOut))} | ${f(structure(p, test, heldOut))} |`);
  }
  const g = groupDifferences(ds, ds.respondents, ds.name === 'big5-osp' ? 'gender' : 'sex', 'female', 'male');
  console.error(`${ds.name}: ${train.length} train / ${test.length} test people; female - male d: ${g.map((x) => `${x.domain} ${f(x.d, 2)}`).join(', ')} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
console.log('\nNormalized accuracy divides by the EPI retest agreement (a yes/no inventory: a conservative ceiling for 5- and 6-point items, stated as such).');
