// Baselines a human twin must beat, on real people (../shared/data/human), with a seeded
// held-out split: 500 test people; 4 items per domain given as the person's known answers;
// every other Big Five item predicted. The split and the figures are the twins probe's own
// (splitPlan, evaluatePredictor), so the table is what a twins run reports beside a model.
//   npm run bench:human

import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { datasetScales, loadBig5, loadEpiRetest, loadSapa, type HumanDataset, type KeyedScale } from '../src/datasets/human.js';
import { scaleReliability } from '../src/metrics/reliability.js';
import { baselinePredictors, groupDifferences, retestCeiling } from '../src/metrics/human.js';
import { evaluatePredictor, splitPlan } from '../src/probes/twins.js';
import { getInstrument } from '../src/instruments/index.js';
import { valueRange } from '../src/instruments/types.js';
import { instrumentSheets } from '../src/instruments/people.js';

const HUMAN = resolve(dirname(fileURLToPath(import.meta.url)), '../../..', 'shared', 'data', 'human');
const f = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '—');

const ceiling = retestCeiling(loadEpiRetest(join(HUMAN, 'psychtools_epiR', 'epiR.csv')));
console.log(`Human retest ceiling (EPI, ${ceiling.people} people, weeks apart): ${f(ceiling.itemAgreement)} of items answered the same; E r = ${f(ceiling.scales.E!, 2)}, N r = ${f(ceiling.scales.N!, 2)}\n`);
console.log('| data | baseline | exact accuracy | normalized accuracy | MAE | person r | variance compression | structure r |');
console.log('|---|---|---|---|---|---|---|---|');
const datasets: [HumanDataset, string][] = [
  [loadBig5(join(HUMAN, 'big5_osp_19719', 'data.csv')), 'gender'],
  [loadSapa(join(HUMAN, 'psychtools_spi', 'spi.csv')), 'sex'],
];
for (const [ds, group] of datasets) {
  const started = performance.now();
  const plan = splitPlan(ds, { respondents: 500, givenPerDomain: 4, seed: 2026, labels: [], covariates: ['age', group], group });
  for (const [name, p] of baselinePredictors(plan.train, ds.items.length, plan.given, group)) {
    const r = evaluatePredictor(plan, p, ceiling.itemAgreement);
    console.log(`| ${ds.name} (${ds.scale.min}-${ds.scale.max}, ${plan.heldOut.length} held-out items) | ${name} | ${f(r.individual.accuracy)} | ${f(r.individual.normalizedAccuracy)} | ${f(r.individual.mae)} | ${f(r.individual.personCorrelation)} | ${f(r.compression.overall)} | ${f(r.structure)} |`);
  }
  const g = groupDifferences(ds, ds.respondents, group, 'female', 'male');
  console.error(`${ds.name}: ${plan.train.length} train / ${plan.test.length} test people; female - male d: ${g.map((x) => `${x.domain} ${f(x.d, 2)}`).join(', ')} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
console.log('\nNormalized accuracy divides by the EPI retest agreement (a yes/no inventory: a conservative ceiling for 5- and 6-point items, stated as such).');

// Reliability of each inventory on its own human data: Cronbach's alpha and McDonald's omega
// per scale, over the respondents who answered every item of it (n).
console.log('\n| data (items, answer range) | scale | items | people with every item | Cronbach α | McDonald ω |');
console.log('|---|---|---|---|---|---|');
const inventories: [string, KeyedScale[]][] = [
  ['IPIP 50-item Big-Five markers (big5_osp_19719, 1-5)', datasetScales(datasets[0]![0])],
];
for (const [name, scales] of inventories)
  for (const s of scales) {
    const r = scaleReliability(s.rows);
    console.log(`| ${name} | ${s.scale} | ${s.items.length} | ${r.n.toLocaleString('en-US')} | ${f(r.alpha, 2)} | ${f(r.omega, 2)} |`);
  }

// The shipped instruments as a model is asked them (the SPI's, the BFI-25's and the EPI's reliability is here) (items, keys and values from the instrument
// itself), on the people whose data they come with: every scale, the SPI's 27 narrow factors too.
console.log('\n| instrument (as administered) | scale | items | people with every item | Cronbach α | McDonald ω |');
console.log('|---|---|---|---|---|---|');
const shipped: [string, string][] = [
  ['epi', join(HUMAN, 'psychtools_epiR', 'epi.dictionary.csv')],
  ['bfi-25', join(HUMAN, 'psychtools_bfi', 'bfi.dictionary.csv')],
  ['spi-135', join(HUMAN, 'psychtools_spi', 'spi.dictionary.csv')],
];
for (const [id, dictionary] of shipped) {
  const inst = getInstrument(id, undefined, dictionary);
  const { min, max } = valueRange(inst);
  const sheets = instrumentSheets(inst);
  for (const scale of inst.scales) {
    const keyed = inst.items.flatMap((it) => it.keys.filter((k) => k.scale === scale.id).map((k) => ({ id: it.id, minus: k.keyed === 'minus' })));
    const rows = sheets.map((sheet) => keyed.map((k) => {
      const v = sheet[k.id];
      return v === null || v === undefined ? null : k.minus ? min + max - v : v;
    }));
    const r = scaleReliability(rows);
    console.log(`| ${id} | ${scale.id}${scale.domain && scale.domain !== scale.id ? ` (${scale.domain})` : ''} | ${keyed.length} | ${r.n.toLocaleString('en-US')} | ${f(r.alpha, 2)} | ${f(r.omega, 2)} |`);
  }
}
