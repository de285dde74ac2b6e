// The IPIP 50-item markers read from the BIG5 data set's codebook: administered to a model and
// placed among the same data set's people on the same 50 items.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { getInstrument } from '../src/instruments/index.js';
import { DOMAINS } from '../src/instruments/types.js';
import { big5CodebookItems } from '../src/datasets/human.js';
import { runSuite } from '../src/runner/run.js';
import { loadSuite } from '../src/suite/load.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { SHARED, tempDir } from './helpers.js';

const BIG5 = join(SHARED, 'data', 'human', 'big5_osp_19719');

const suiteText = (dir: string, model: string, extra = '') => `name: ipip-50
instrument: { id: ipip-50, file: ${relative(dir, join(BIG5, 'codebook.txt'))}, min_coverage: 0${extra} }
personas:
  - { id: ada, name: Ada, target: { O: 5, C: 4, E: 1, A: 3, N: 2 } }
  - { id: bo, name: Bo, target: { O: 1, C: 2, E: 5, A: 4, N: 4 } }
models: ['${model}']
norms: { dataset: { layout: big5-osp, file: ${relative(dir, join(BIG5, 'data.csv'))} } }
`;

test('ipip-50 is read from the BIG5 codebook (50 items, 10 per domain, the keys the people were scored with) and refused without its file', () => {
  const inst = getInstrument('ipip-50', undefined, join(BIG5, 'codebook.txt'));
  assert.equal(inst.items.length, 50);
  for (const d of DOMAINS) assert.equal(inst.items.filter((i) => i.domain === d).length, 10);
  assert.deepEqual(inst.items.map((i) => [i.id, i.keyed]), big5CodebookItems(join(BIG5, 'codebook.txt')).map((i) => [i.id, i.keyed]));
  assert.equal(inst.items.find((i) => i.id === 'E1')!.text, 'I am the life of the party.');
  assert.throws(() => getInstrument('ipip-50'), /give instrument\.file/);
  const dir = tempDir();
  const file = join(dir, 's.yaml');
  writeFileSync(file, suiteText(dir, 'sim:').replace(/file: [^,]*codebook\.txt/, 'file: nowhere/codebook.txt'));
  assert.throws(() => loadSuite(file), /s\.yaml:2.*instrument\.file.*nowhere\/codebook\.txt: cannot read \(ENOENT\)/);
});

test('a suite on ipip-50 runs on sim: (targets recovered, reliability computed) and is placed among the BIG5 people on the same items', async () => {
  const dir = tempDir();
  const file = join(dir, 's.yaml');
  writeFileSync(file, suiteText(dir, 'sim:'));
  const r = await runSuite(loadSuite(file), { outDir: join(dir, 'out'), suitePath: file });
  assert.equal(r.counters.errors, 0);
  const method = r.analysis.models![0]!.methods[0]!;
  // The simulated panel finds each item by its text and answers toward the target: E high for Bo, low for Ada.
  const [ada, bo] = method.personas;
  assert.ok(ada!.measured.E!.value < 2.5 && bo!.measured.E!.value > 3.5, `E: ${ada!.measured.E!.value}, ${bo!.measured.E!.value}`);
  assert.ok(Number.isFinite(method.reliability.E!.alpha));
  assert.match(r.analysis.norms!.note, /the same 50 items, the same wording and answer scale/);
  assert.equal(r.analysis.norms!.people, 19718);
});

test('a suite on ipip-50 runs on engine: (random weights) with the codebook texts in its requests', async () => {
  const model = makeModel(familyConfig('llama', { layers: 2 }));
  const dir = tempDir();
  const file = join(dir, 's.yaml');
  writeFileSync(file, suiteText(dir, `engine:${model.dir}`, ', items: 10'));
  const r = await runSuite(loadSuite(file), { outDir: join(dir, 'out'), suitePath: file });
  assert.equal(r.counters.errors, 0);
  assert.equal(r.counters.calls, 30);
  assert.ok(r.analysis.models![0]!.methods[0]!.personas[0]!.coverage!.items === 10);
});
