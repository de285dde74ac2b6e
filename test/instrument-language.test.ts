// The IPIP-NEO-120 in the languages its package carries: items, options and the item frame
// in the language, the same ids and keys as the English, and runs on sim: and engine:.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getInstrument } from '../src/instruments/index.js';
import { ipipLanguages } from '../src/instruments/ipip-neo-120.js';
import { DOMAINS } from '../src/instruments/types.js';
import { itemPrompt, defaultVariant } from '../src/probes/fidelity.js';
import { runSuite } from '../src/runner/run.js';
import { loadSuite } from '../src/suite/load.js';
import { suiteSchema } from '../src/suite/schema.js';
import { RunStore } from '../src/store/store.js';
import { summaryText } from '../src/cli/summary.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { tempDir } from './helpers.js';

const LANGUAGES = ['de', 'es', 'ja'];

test('the IPIP-NEO-120 in German, Spanish and Japanese: the package texts, the same ids and keys as the English, and a frame in the language', () => {
  const en = getInstrument('ipip-neo-120');
  assert.equal(en.language, 'en');
  for (const language of LANGUAGES) {
    const inst = getInstrument('ipip-neo-120', language);
    assert.equal(inst.language, language);
    assert.equal(inst.items.length, 120);
    assert.deepEqual(inst.items.map((i) => [i.id, i.domain, i.facet, i.keyed]), en.items.map((i) => [i.id, i.domain, i.facet, i.keyed]));
    // Every item text is the language's own (none is the English one), and the five options too.
    assert.equal(inst.items.filter((i, k) => i.text === en.items[k]!.text).length, 0, `${language}: items in English`);
    assert.equal(inst.options.length, 5);
    assert.equal(inst.options.filter((o) => en.options.includes(o)).length, 0);
    const prompt = itemPrompt(inst.items[0]!, inst.options, defaultVariant(inst), inst.frame);
    assert.ok(prompt.includes(inst.items[0]!.text) && prompt.includes(inst.options[4]!), prompt);
    assert.doesNotMatch(prompt, /Statement|accurately|Reply with/, `${language}: English frame words in ${prompt}`);
  }
  assert.ok(ipipLanguages().length >= 8, ipipLanguages().join(','));
  // The English prompt is the one every stored run was asked with, byte for byte.
  assert.equal(itemPrompt(en.items[0]!, en.options, defaultVariant(en), en.frame), 'Statement: "Worry about things."\nHow accurately does this statement describe you?\n1 = Very Inaccurate\n2 = Moderately Inaccurate\n3 = Neither Accurate Nor Inaccurate\n4 = Moderately Accurate\n5 = Very Accurate\nReply with the number of your answer only.');
});

const suiteYaml = (language: string | undefined, model: string, items = 120) => `name: lang-${language ?? 'en'}
instrument: { id: ipip-neo-120${language ? `, language: ${language}` : ''}, items: ${items}, min_coverage: 0 }
personas:
  - { id: ada, name: Ada, target: { O: 5, C: 4, E: 1, A: 3, N: 2 } }
  - { id: bo, name: Bo, target: { O: 1, C: 2, E: 5, A: 4, N: 4 } }
models: ['${model}']
`;

test('a suite in German, Spanish or Japanese runs on sim: and scores exactly as in English (the panel finds each item by its translated text)', async () => {
  const dir = tempDir();
  const runIn = async (language: string | undefined) => {
    const file = join(dir, `${language ?? 'en'}.yaml`);
    writeFileSync(file, suiteYaml(language, 'sim:'));
    const r = await runSuite(loadSuite(file), { outDir: join(dir, 'out'), suitePath: file });
    assert.equal(r.counters.errors, 0);
    return r;
  };
  const en = await runIn(undefined);
  const measured = (r: Awaited<ReturnType<typeof runIn>>) => r.analysis.models![0]!.methods[0]!.personas.map((p) => DOMAINS.map((d) => p.measured[d]!.value));
  for (const language of LANGUAGES) {
    const r = await runIn(language);
    assert.notEqual(r.runId, en.runId);
    const notes = r.analysis.models![0]!.instrumentNotes ?? [];
    if (language === 'es') {
      // The package's Spanish gives E4 and E5 one text: the panel, reading the text, answers both as one
      // item, so E moves and nothing else does; the run says so.
      assert.equal(notes.length, 1);
      assert.match(notes[0]!, /^ipip-neo-120 \(es\): items E4 \+ \(\w+\) and E5 \+ \(\w+\) have the same text in this translation \("Creo que soy una persona activa y vigorosa"\)/);
      assert.match(summaryText(r.analysis), /^NOTE: ipip-neo-120 \(es\): items E4/m);
      const [a, b] = [measured(r), measured(en)];
      assert.deepEqual(a.map((row) => row.filter((_, i) => DOMAINS[i] !== 'E')), b.map((row) => row.filter((_, i) => DOMAINS[i] !== 'E')));
      assert.notDeepEqual(a, b);
    } else {
      assert.deepEqual(notes, []);
      assert.deepEqual(measured(r), measured(en), `${language}: the same answers as the English run`);
    }
    assert.ok(Number.isFinite(r.analysis.models![0]!.methods[0]!.reliability.E!.alpha));
    // What was sent is the language's text.
    const store = new RunStore(join(dir, 'out'), { readOnly: true });
    try {
      const inst = getInstrument('ipip-neo-120', language);
      const request = JSON.stringify(store.taskRequest(r.runId, `m0|system-prompt|ada|r0|standard|${inst.items[3]!.id}`));
      assert.ok(request.includes(JSON.stringify(inst.items[3]!.text).slice(1, -1)) && request.includes(JSON.stringify(inst.frame.question).slice(1, -1)), request);
    } finally {
      store.close();
    }
  }
});

test('a Japanese suite runs on engine: (random weights) with the Japanese prompt tokenized; a language without items or frame is refused with file and line', async () => {
  const model = makeModel(familyConfig('llama', { layers: 2 }));
  const dir = tempDir();
  const file = join(dir, 'ja.yaml');
  writeFileSync(file, suiteYaml('ja', `engine:${model.dir}`, 10));
  const r = await runSuite(loadSuite(file), { outDir: join(dir, 'out'), suitePath: file });
  assert.equal(r.counters.errors, 0);
  assert.equal(r.counters.calls, 30);
  const persona = r.analysis.models![0]!.methods[0]!.personas[0]!;
  assert.ok(DOMAINS.some((d) => Number.isFinite(persona.measured[d]!.value)));
  assert.ok(persona.coverage && persona.coverage.items === 10);

  writeFileSync(file, suiteYaml('xx', 'sim:'));
  assert.throws(() => loadSuite(file), /ja\.yaml:2.*instrument\.language.*no language "xx" in @bigfive-org\/questions/);
  writeFileSync(file, suiteYaml('ss', 'sim:'));
  assert.throws(() => loadSuite(file), /instrument\.language.*"ss" has items but no item frame here yet/);
  // Given as an object (no file), the same check.
  await assert.rejects(runSuite(suiteSchema.parse({ name: 'x', instrument: { id: 'ipip-neo-120', language: 'xx' }, personas: [{ id: 'a', name: 'A', target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }] }), { outDir: join(dir, 'o2') }), /no language "xx"/);
});
