// Instruments that carry their own shape: any scales, option counts and values, keys on more
// than one scale. The EPI, BFI-25 and SPI-135 are built from psychTools' files beside the human
// data; a YAML instrument is validated with file:line errors; each runs end to end on sim: and
// on engine: (random weights) with scores, reliability and reports.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { getInstrument } from '../src/instruments/index.js';
import { scoreAnswers } from '../src/instruments/scoring.js';
import { parseYamlInstrument } from '../src/instruments/yaml-instrument.js';
import { inferGroupKeys } from '../src/datasets/human.js';
import { readTable, column } from '../src/datasets/table.js';
import { runSuite } from '../src/runner/run.js';
import { loadSuite } from '../src/suite/load.js';
import { writeReport } from '../src/report/export.js';
import { summaryText } from '../src/cli/summary.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { SHARED, tempDir } from './helpers.js';

const HUMAN = join(SHARED, 'data', 'human');
const EPI = join(HUMAN, 'psychtools_epiR', 'epi.dictionary.csv');
const BFI = join(HUMAN, 'psychtools_bfi', 'bfi.dictionary.csv');
const SPI = join(HUMAN, 'psychtools_spi', 'spi.dictionary.csv');

/** The acceptance's YAML instrument: 7 options with their own values (−3..3), 3 scales (two mapped to a domain, one not). */
const SEVEN = `id: warmth-3
name: Three scales on seven points
language: en
licence: CC0-1.0
source: persona-probe's own test items
frame: { statement: 'Statement: "{text}"', question: How much do you agree?, reply: Reply with the number of your answer only. }
options:
  - { label: Strongly disagree, value: -3 }
  - { label: Disagree, value: -2 }
  - { label: Somewhat disagree, value: -1 }
  - { label: Neither agree nor disagree, value: 0 }
  - { label: Somewhat agree, value: 1 }
  - { label: Agree, value: 2 }
  - { label: Strongly agree, value: 3 }
scales:
  - { id: warmth, name: Warmth, domain: A }
  - { id: sparkle, name: Sparkle, domain: E }
  - { id: candour, name: Candour }
items:
  - { id: w1, text: I make people feel welcome wherever I am., scale: warmth }
  - { id: w2, text: I am quick to comfort someone who is upset., scale: warmth }
  - { id: w3, text: I find other people's problems tiresome., scale: warmth, keyed: minus }
  - { id: w4, text: I go out of my way to help a stranger., scale: warmth, also: [{ scale: candour }] }
  - { id: s1, text: I am the first to start a conversation at a party., scale: sparkle }
  - { id: s2, text: I love being the centre of attention., scale: sparkle }
  - { id: s3, text: I prefer a quiet evening alone to a crowd., scale: sparkle, keyed: minus }
  - { id: c1, text: I say what I think even when it is unwelcome., scale: candour }
  - { id: c2, text: I keep my real opinions to myself., scale: candour, keyed: minus }
  - { id: c3, text: I admit my mistakes openly., scale: candour }
`;

test('the EPI, BFI-25 and SPI-135 are built from psychTools\' dictionaries and keys, with their own scales and options', () => {
  const epi = getInstrument('epi', undefined, EPI);
  assert.deepEqual(epi.scales.map((s) => [s.id, s.domain ?? null]), [['E', 'E'], ['N', 'N'], ['L', null], ['Imp', null], ['Soc', null]]);
  assert.deepEqual(epi.options, ['Yes', 'No']);
  assert.deepEqual(epi.values, [1, 0]);
  // Every key of epi.keys.csv is an item's key, and nothing else is.
  const keys = readTable(join(HUMAN, 'psychtools_epiR', 'epi.keys.csv'));
  const expected = keys.rows.map((r) => `${r[column(keys, 'item')]}/${r[column(keys, 'scale')]}/${r[column(keys, 'reversed')] === '1' ? 'minus' : 'plus'}`).sort();
  assert.deepEqual(epi.items.flatMap((it) => it.keys.map((k) => `${it.id}/${k.scale}/${k.keyed}`)).sort(), expected);
  assert.equal(epi.items.find((i) => i.id === 'V1')!.text, 'Do you often long for excitement?');
  // Impulsivity and Sociability items are also E items: one answer scores on both.
  assert.deepEqual(epi.items.find((i) => i.id === 'V1')!.keys.map((k) => k.scale), ['E', 'Imp']);

  const bfi = getInstrument('bfi-25', undefined, BFI);
  assert.equal(bfi.items.length, 25);
  assert.equal(bfi.options.length, 6);
  assert.deepEqual(bfi.scales.map((s) => s.id), ['O', 'C', 'E', 'A', 'N']);
  assert.equal(bfi.items.find((i) => i.id === 'A1')!.keyed, 'minus');

  const spi = getInstrument('spi-135', undefined, SPI);
  assert.equal(spi.items.length, 135);
  assert.equal(spi.scales.length, 32, '27 narrow factors and the Big Five');
  assert.equal(spi.scales.filter((s) => !s.domain).length, 27);
  for (const s of spi.scales.filter((x) => !x.domain)) assert.equal(spi.items.filter((i) => i.keys[0]!.scale === s.id).length, 5, s.id);
  assert.equal(spi.items.filter((i) => i.domain).length, 70);
  assert.match(spi.notes!.join(' '), /inferred/);
  for (const [id, file] of [['epi', EPI], ['bfi-25', BFI], ['spi-135', SPI]] as const) {
    assert.throws(() => getInstrument(id), /give instrument\.file/);
    assert.throws(() => getInstrument(id, 'de', file), /English only/);
  }
  assert.throws(() => getInstrument('epi', undefined, BFI), /must be psychTools' epi\.dictionary\.csv/);
});

test('key inference (used for the SPI, which ships no key file) recovers the BFI\'s published keys from the BFI\'s 2,800 people', () => {
  const bfi = getInstrument('bfi-25', undefined, BFI);
  const data = readTable(join(HUMAN, 'psychtools_bfi', 'bfi.csv'));
  const cols = bfi.items.map((it) => column(data, it.id));
  const rows = data.rows.map((r) => cols.map((c) => (r[c] === 'NA' || r[c] === '' ? null : Number(r[c]))));
  const groups = bfi.scales.map((s) => bfi.items.flatMap((it, j) => (it.keys[0]!.scale === s.id ? [j] : [])));
  const inferred = inferGroupKeys(rows, groups);
  const published = groups.map((g) => g.map((j) => bfi.items[j]!.keyed));
  assert.deepEqual(inferred, published);
  assert.ok(published.flat().filter((k) => k === 'minus').length >= 5, 'the BFI has reverse-keyed items to recover');
});

test('an EPI answer sheet scores as the share of keyed answers; real people\'s sheets match a direct count from the key file', () => {
  const epi = getInstrument('epi', undefined, EPI);
  const data = readTable(join(HUMAN, 'psychtools_epiR', 'epi.csv'));
  const keys = readTable(join(HUMAN, 'psychtools_epiR', 'epi.keys.csv'));
  let checked = 0;
  for (const row of data.rows.slice(0, 200)) {
    // psychTools codes 1 = yes, 2 = no; the instrument's values are yes 1, no 0.
    const answers = Object.fromEntries(epi.items.map((it) => {
      const raw = row[column(data, it.id)]!;
      return [it.id, raw === '1' ? 1 : raw === '2' ? 0 : null];
    }));
    const scores = scoreAnswers(epi, answers);
    for (const scale of ['E', 'N', 'L']) {
      const ks = keys.rows.filter((r) => r[0] === scale);
      const answered = ks.filter((k) => answers[k[1]!] !== null);
      if (answered.length !== ks.length) continue;
      const direct = answered.filter((k) => (answers[k[1]!] === 1) === (k[2] === '0')).length / answered.length;
      assert.ok(Math.abs(scores.scales[scale]!.score! - direct) < 1e-12, `${scale}: ${scores.scales[scale]!.score} vs ${direct}`);
      checked++;
    }
  }
  assert.ok(checked > 300, `${checked} scale scores checked`);
});

test('a YAML instrument is validated with file:line errors', () => {
  const bad = (edit: (s: string) => string, pattern: RegExp) => assert.throws(() => parseYamlInstrument(edit(SEVEN), 'inst.yaml'), pattern);
  const line = (needle: string) => SEVEN.split('\n').findIndex((l) => l.includes(needle)) + 1;
  bad((s) => s.replace('scale: sparkle, keyed: minus', 'scale: sparkel, keyed: minus'), new RegExp(`inst\\.yaml:${line('s3')}: items\\[6\\]\\.scale: unknown scale "sparkel"`));
  bad((s) => s.replace('{ id: c3,', '{ id: c2,'), new RegExp(`inst\\.yaml:${line('c3')}: items\\[9\\]\\.id: duplicate item id "c2"`));
  bad((s) => s.replace('value: -2', 'value: -3'), /inst\.yaml:\d+: options: two options have one value/);
  bad((s) => s.replace('{ id: candour, name: Candour }', '{ id: candour, name: Candour, domain: A }'), new RegExp(`inst\\.yaml:${line('candour, name')}: scales\\[2\\]\\.domain: domain A is already measured`));
  bad((s) => s.replace('keyed: minus }', 'keyed: reversed }'), /inst\.yaml:\d+: items\[2\]\.keyed: /);
  bad((s) => s.replace('licence: CC0-1.0\n', ''), /inst\.yaml:1: \(top level\)|licence/);
  bad((s) => s.replace("statement: 'Statement: \"{text}\"'", "statement: 'Statement'"), /frame\.statement: the statement must contain \{text\}/);
  const inst = parseYamlInstrument(SEVEN, 'inst.yaml');
  assert.deepEqual(inst.values, [-3, -2, -1, 0, 1, 2, 3]);
  assert.deepEqual(inst.items.find((i) => i.id === 'w4')!.keys.map((k) => k.scale), ['warmth', 'candour']);
  // Scored on its own values: all "Strongly agree" gives 3 on plus-keyed items and −3 on minus-keyed ones.
  const s = scoreAnswers(inst, Object.fromEntries(inst.items.map((i) => [i.id, 3])));
  assert.equal(s.scales.warmth!.score, (3 + 3 - 3 + 3) / 4);
  assert.equal(s.scales.candour!.score, (3 - 3 + 3 + 3) / 4);
  assert.throws(() => scoreAnswers(inst, { w1: 4 }), /outside -3\.\.3/);
});

interface Shipped {
  id: string;
  file: string;
  /** Items administered on engine: (a quick run). */
  engineItems: number;
}

const shipped = (dir: string): Shipped[] => {
  const yamlFile = join(dir, 'warmth-3.yaml');
  writeFileSync(yamlFile, SEVEN);
  return [
    { id: 'epi', file: EPI, engineItems: 8 },
    { id: 'bfi-25', file: BFI, engineItems: 6 },
    { id: 'spi-135', file: SPI, engineItems: 6 },
    { id: 'warmth-3', file: yamlFile, engineItems: 10 },
  ];
};

const suiteFor = (dir: string, s: Shipped, model: string, extra = '') => `name: ${s.id}
instrument: { id: ${s.id}, file: ${relative(dir, s.file)}, min_coverage: 0${extra} }
personas:
  - { id: ada, name: Ada, target: { O: 5, C: 4, E: 1, A: 1, N: 2 } }
  - { id: bo, name: Bo, target: { O: 1, C: 2, E: 5, A: 5, N: 4 } }
  - { id: cy, name: Cy, target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }
models: ['${model}']
`;

test('each shipped instrument and a 7-option, 3-scale YAML instrument run end to end on sim: with scores per scale, reliability and reports', async () => {
  const dir = tempDir();
  for (const s of shipped(dir)) {
    const file = join(dir, `${s.id}.suite.yaml`);
    writeFileSync(file, suiteFor(dir, s, 'sim:'));
    const suite = loadSuite(file);
    const inst = getInstrument(s.id, undefined, suite.instrument.file);
    const r = await runSuite(suite, { outDir: join(dir, `out-${s.id}`), suitePath: file });
    assert.equal(r.counters.errors, 0, s.id);
    const method = r.analysis.models![0]!.methods[0]!;
    assert.deepEqual(method.scales.map((x) => x.id), inst.scales.map((x) => x.id), s.id);
    const { min, max } = method.range;
    const [ada, bo] = method.personas;
    for (const scale of inst.scales) {
      for (const p of method.personas) {
        const v = p.measured[scale.id]!.value;
        assert.ok(v >= min && v <= max, `${s.id} ${p.personaId} ${scale.id}: ${v} in ${min}..${max}`);
      }
      // Reliability over the 3 personas' sheets and the default's: defined where a scale has 2+ items.
      assert.ok(method.reliability[scale.id]!.rows === 3, `${s.id} ${scale.id} rows`);
    }
    // Targets apply to the scales mapped to a domain, on the instrument's range, and the panel follows them.
    const e = inst.scales.find((x) => x.domain === 'E')!;
    assert.equal(ada!.target[e.id], min);
    assert.equal(bo!.target[e.id], max);
    assert.ok(bo!.measured[e.id]!.value > ada!.measured[e.id]!.value, `${s.id}: E follows the targets`);
    for (const untargeted of inst.scales.filter((x) => !x.domain)) assert.equal(ada!.target[untargeted.id], undefined);
    assert.ok(Number.isFinite(ada!.mae.value) && ada!.defaultPull !== undefined);
    const files = await writeReport(r.analysis, join(dir, `report-${s.id}`));
    const html = readFileSync(files.html, 'utf8');
    for (const scale of inst.scales) assert.ok(html.includes(scale.id), `${s.id}: report shows ${scale.id}`);
    assert.match(html, new RegExp(`${min}\\.\\.${max} item scale`));
    const csv = readFileSync(files.csv.find((f) => f.endsWith('fidelity.csv'))!, 'utf8').trim().split('\n');
    assert.equal(csv.length, 1 + 3 * inst.scales.length, `${s.id}: a CSV row per persona and scale`);
    assert.match(summaryText(r.analysis), new RegExp(`Reliability α/ω: ${inst.scales[0]!.id} `));
  }
});

test('each shipped instrument and the YAML instrument run on engine: (random weights), asked with their own options', async () => {
  const model = makeModel(familyConfig('llama', { layers: 2 }));
  const dir = tempDir();
  for (const s of shipped(dir)) {
    const file = join(dir, `${s.id}.suite.yaml`);
    writeFileSync(file, suiteFor(dir, s, `engine:${model.dir}`, `, items: ${s.engineItems}`));
    const suite = loadSuite(file);
    const inst = getInstrument(s.id, undefined, suite.instrument.file);
    const r = await runSuite(suite, { outDir: join(dir, `out-${s.id}`), suitePath: file });
    assert.equal(r.counters.errors, 0, s.id);
    // 3 personas and the default, each item once (option probabilities).
    assert.equal(r.counters.calls, 4 * s.engineItems, s.id);
    const method = r.analysis.models![0]!.methods[0]!;
    const asked = method.personas[0]!;
    assert.equal(asked.coverage!.items, s.engineItems);
    const { min, max } = method.range;
    const measuredScales = inst.scales.filter((x) => Number.isFinite(asked.measured[x.id]!.value));
    assert.ok(measuredScales.length >= 1, `${s.id}: some scale measured`);
    for (const x of measuredScales) assert.ok(asked.measured[x.id]!.value >= min && asked.measured[x.id]!.value <= max);
    assert.ok(Object.keys(method.reliability).length === inst.scales.length);
    const files = await writeReport(r.analysis, join(dir, `report-${s.id}`));
    assert.ok(readFileSync(files.html, 'utf8').includes(inst.scales[0]!.id));
  }
});

test('a Big-Five-reading block refuses an instrument without all five domains, naming what it lacks', () => {
  const dir = tempDir();
  const file = join(dir, 's.yaml');
  writeFileSync(file, `${suiteFor(dir, { id: 'epi', file: EPI, engineItems: 0 }, 'sim:')}norms: { dataset: { layout: big5-osp, file: x.csv } }\n`);
  assert.throws(() => loadSuite(file), /s\.yaml:\d+: norms: the norms block reads a Big Five profile, and instrument epi has no scale for Openness, Conscientiousness, Agreeableness/);
  writeFileSync(file, suiteFor(dir, { id: 'epi', file: EPI, engineItems: 0 }, 'sim:', ', options: [a, b, c]'));
  assert.throws(() => loadSuite(file), /instrument\.options: 3 option labels for an instrument with 2 options/);
});

test('a persona targets a scale no Big Five domain maps to by its id: conditioning names it, the panel follows it, fidelity scores it', async () => {
  const dir = tempDir();
  const yamlFile = join(dir, 'warmth-3.yaml');
  writeFileSync(yamlFile, SEVEN);
  const file = join(dir, 's.yaml');
  const text = suiteFor(dir, { id: 'warmth-3', file: yamlFile, engineItems: 0 }, 'sim:')
    .replace('target: { O: 5, C: 4, E: 1, A: 1, N: 2 } }', 'target: { O: 5, C: 4, E: 1, A: 1, N: 2 }, scales: { candour: very high } }')
    .replace('target: { O: 1, C: 2, E: 5, A: 5, N: 4 } }', 'target: { O: 1, C: 2, E: 5, A: 5, N: 4 }, scales: { candour: 1 } }');
  writeFileSync(file, text);
  const suite = loadSuite(file);
  const { planFidelity } = await import('../src/probes/fidelity.js');
  const tasks = planFidelity({ suite, instrument: getInstrument('warmth-3', undefined, yamlFile), optionProbs: [true] });
  const system = (id: string) => tasks.find((t) => t.personaId === id)!.request.messages[0]!.content;
  assert.match(system('ada'), /very high in Candour/);
  assert.match(system('bo'), /extremely low in Candour/);
  assert.doesNotMatch(system('cy'), /Candour/);
  const r = await runSuite(suite, { outDir: join(dir, 'out'), suitePath: file });
  const method = r.analysis.models![0]!.methods[0]!;
  const [ada, bo, cy] = method.personas;
  // very high = 4.5 on 1..5 = 2.25 on −3..3; 1 = −3.
  assert.equal(ada!.target.candour, 2.25);
  assert.equal(bo!.target.candour, -3);
  assert.equal(cy!.target.candour, undefined);
  assert.ok(ada!.measured.candour!.value > bo!.measured.candour!.value + 1, `candour: ${ada!.measured.candour!.value} vs ${bo!.measured.candour!.value}`);
  assert.ok(Number.isNaN(method.rankCorrelation.candour!), 'two personas with a target: no rank correlation');
  // Refused at load: a scale the instrument lacks, and one a domain maps to.
  writeFileSync(file, text.replace('scales: { candour: 1 }', 'scales: { candor: 1 }'));
  assert.throws(() => loadSuite(file), /s\.yaml:\d+: personas\[1\]\.scales\.candor: instrument warmth-3 has no scale "candor" \(scales without a Big Five domain: candour\)/);
  writeFileSync(file, text.replace('scales: { candour: 1 }', 'scales: { warmth: 1 }'));
  assert.throws(() => loadSuite(file), /scale "warmth" measures A: its target is target\.A/);
});

test('norms on the people an instrument comes with: every EPI scale\'s percentile equals a direct count on epi.csv', async () => {
  const dir = tempDir();
  const file = join(dir, 's.yaml');
  writeFileSync(file, `${suiteFor(dir, { id: 'epi', file: EPI, engineItems: 0 }, 'sim:')}norms: { dataset: { layout: instrument }, nearest: 10 }\n`);
  const r = await runSuite(loadSuite(file), { outDir: join(dir, 'out'), suitePath: file });
  const n = r.analysis.norms!;
  assert.deepEqual(n.scales, ['E', 'N', 'L', 'Imp', 'Soc']);
  assert.equal(n.units, '0..1');
  // Directly from the data and the key file: each person's share of keyed answers per scale (people with every scale scored).
  const data = readTable(join(HUMAN, 'psychtools_epiR', 'epi.csv'));
  const keys = readTable(join(HUMAN, 'psychtools_epiR', 'epi.keys.csv'));
  const people = data.rows.map((row) => n.scales.map((scale) => {
    const ks = keys.rows.filter((k) => k[0] === scale);
    const answered = ks.filter((k) => ['1', '2'].includes(row[column(data, k[1]!)]!));
    return answered.length ? answered.filter((k) => (row[column(data, k[1]!)] === '1') === (k[2] === '0')).length / answered.length : Number.NaN;
  })).filter((p) => p.every(Number.isFinite));
  assert.equal(n.people, people.length);
  for (const row of n.rows) {
    n.scales.forEach((scale, j) => {
      const v = row.profile[scale]!;
      const below = people.filter((p) => p[j]! < v - 1e-12).length;
      const equal = people.filter((p) => Math.abs(p[j]! - v) <= 1e-12).length;
      assert.ok(Math.abs(row.percentile[scale]! - (100 * (below + equal / 2)) / people.length) < 1e-9, `${row.persona} ${scale}`);
    });
  }
  const [ada, bo] = ['ada', 'bo'].map((id) => n.rows.find((x) => x.persona === id)!);
  assert.ok(bo!.percentile.E! > ada!.percentile.E!, 'the extravert sits higher among real people');
  assert.match(summaryText(r.analysis), /Among [\d,]+ real people \(epi's people; percentile per scale/);
  // An instrument without people is refused at load, in one line.
  const yamlFile = join(dir, 'warmth-3.yaml');
  writeFileSync(yamlFile, SEVEN);
  writeFileSync(file, `${suiteFor(dir, { id: 'warmth-3', file: yamlFile, engineItems: 0 }, 'sim:')}norms: { dataset: { layout: instrument } }\n`);
  assert.throws(() => loadSuite(file), /norms\.dataset\.layout: instrument warmth-3 comes with no human data/);
});
