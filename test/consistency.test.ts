import { test } from 'node:test';
import assert from 'node:assert/strict';
import { suiteSchema, type SuiteInput } from '../src/suite/schema.js';
import { runSuite } from '../src/runner/run.js';
import { consistentObjects, icc1, leakedMarkers, lineToLineConsistency } from '../src/metrics/consistency.js';
import { twentyQuestionsSet } from '../src/instruments/twenty-questions.js';
import { SIM_DEFAULT_PROFILE } from '../src/backends/sim.js';
import { DOMAINS } from '../src/instruments/types.js';
import { tempDir } from './helpers.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { summaryText } from '../src/cli/summary.js';

type PersonaInput = SuiteInput['personas'][number];
const persona = (id: string, target: PersonaInput['target'], sim: PersonaInput['sim'] = {}, facts: PersonaInput['facts'] = []): PersonaInput => ({ id, name: `Persona ${id}`, description: `Backstory of ${id}.`, target, facts, sim });

test('ICC(1,1) and ICC(1,k) reproduce Shrout & Fleiss (1979), table 2: .17 and .44', () => {
  const rows = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
  ];
  const r = icc1(rows);
  assert.equal(r.single.toFixed(2), '0.17');
  assert.equal(r.average.toFixed(2), '0.44');
  assert.ok(Number.isNaN(icc1([[1, 2]]).single), 'one subject: undefined');
});

test('consistency metric helpers: line pairs, consistent objects, leaked markers', () => {
  assert.deepEqual(lineToLineConsistency([[0], [1, 0], [0, 0, 0.5]]), { value: 1 - 1.5 / 6, pairs: 6 });
  const set = twentyQuestionsSet();
  assert.ok(set.questions.length >= 20 && set.objects.length >= 20);
  const cat = set.objects.find((o) => o.name === 'cat')!;
  assert.deepEqual(consistentObjects(set.objects, cat.answers), ['cat']);
  assert.deepEqual(consistentObjects(set.objects, cat.answers.map((a, q) => (q === 0 ? !a : a))), [], 'cat answers with "not alive" fit nothing');
  assert.ok(consistentObjects(set.objects, set.questions.map(() => null)).length === set.objects.length);
  const leaks = leakedMarkers('My cat Pistache says hi, unlike Ilkant.', ['Tromsø'], new Map([['a', ['Pistache']], ['c', ['Ilka']]]));
  assert.deepEqual(leaks, [{ from: 'a', marker: 'Pistache' }], 'whole words only');
});

test('parameter recovery: prompt-to-line, line-to-line and Q&A consistency recover known contradiction rates within 0.05', async () => {
  const rates = [
    { backstory: 0, line: 0, qa: 0 },
    { backstory: 0.1, line: 0.05, qa: 0.2 },
    { backstory: 0.25, line: 0.15, qa: 0.4 },
    { backstory: 0.4, line: 0.3, qa: 0.1 },
  ];
  const input: SuiteInput = {
    name: 'dialogue-recovery',
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas: rates.map((r, i) => persona(`d${i}`, { O: 3, C: 3, E: 3, A: 3, N: 3 }, { contradictions: r })),
    judges: [{ id: 'j', model: 'sim:seed=2', repeats: 1 }],
    consistency: { judge: 'j', dialogue: { turns: 10, conversations: 60, qa: { every: 2, questions: 4, generator: 'j' } } },
    models: ['sim:seed=2'],
  };
  const r = await runSuite(suiteSchema.parse(input), { outDir: tempDir() });
  assert.equal(r.counters.errors, 0);
  const rows = r.analysis.consistency!.dialogue!;
  assert.equal(rows.length, 4);
  for (const row of rows) {
    assert.ok(row.truth, 'simulated rows carry their truth');
    assert.equal(row.promptToLine.lines, 600);
    assert.equal(row.lineToLine.pairs, 60 * 45);
    assert.equal(row.qa!.asked, 60 * 5 * 4);
    assert.equal(row.judgeFailures, 0);
    assert.ok(Math.abs(row.promptToLine.value - row.truth!.promptToLine) <= 0.05, `${row.persona} P2L ${row.promptToLine.value} vs ${row.truth!.promptToLine}`);
    assert.ok(Math.abs(row.lineToLine.value - row.truth!.lineToLine) <= 0.05, `${row.persona} L2L ${row.lineToLine.value} vs ${row.truth!.lineToLine}`);
    assert.ok(Math.abs(row.qa!.accuracy - row.truth!.qa) <= 0.05, `${row.persona} Q&A ${row.qa!.accuracy} vs ${row.truth!.qa}`);
  }
  assert.equal(rows[0]!.promptToLine.value, 1);
  assert.equal(rows[0]!.lineToLine.value, 1);
});

function partsSuite(leakRate: number): SuiteInput {
  return {
    name: `consistency-parts-${leakRate}`,
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas: [
      persona('ann', { O: 4.5, C: 2, E: 4.5, A: 2, N: 4 }, { behavior: 1, commitment_flip: 0 }, [{ text: 'Your cat is called Pistache.', marker: 'Pistache' }]),
      persona('bob', { O: 1.5, C: 4.5, E: 1.5, A: 3, N: 1.5 }, { behavior: 0.5, commitment_flip: 0.3 }, [{ text: 'You grew up in Tromsø.', marker: 'Tromsø' }]),
      persona('cy', { O: 4, C: 3, E: 2, A: 4.5, N: 3 }, { behavior: 1, commitment_flip: 0 }, [{ text: 'Your sister Ilka flies planes.', marker: 'Ilka' }]),
      persona('dee', { O: 2, C: 2, E: 3.5, A: 1.5, N: 2 }, { behavior: 1, commitment_flip: 0 }, [{ text: 'You keep bees on a roof in Porto.', marker: 'Porto' }]),
    ],
    judges: [{ id: 'j', model: 'sim:judgeNoise=0.25', temperature: 1, repeats: 3 }],
    consistency: { judge: 'j', regeneration: { seeds: 6, items_per_domain: 6 }, tenancy: { turns: 6 }, self_report: { turns: 4, items_per_domain: 6 }, twenty_questions: { games: 4 } },
    models: [`sim:leakRate=${leakRate},noise=0,itemNoise=0.2`],
  };
}

test('multi-tenancy: an injected leak is detected (the fact of the persona served just before) and none is reported without one', async () => {
  const leaky = (await runSuite(suiteSchema.parse(partsSuite(0.5)), { outDir: tempDir() })).analysis.consistency!.tenancy!.rows;
  const clean = (await runSuite(suiteSchema.parse(partsSuite(0)), { outDir: tempDir() })).analysis.consistency!.tenancy!.rows;
  const shared = leaky.flatMap((r) => r.leaksShared.map((l) => ({ ...l, persona: r.persona })));
  assert.ok(shared.length >= 4, `${shared.length} leaks found in shared mode`);
  // Interleaved round-robin: a persona can only leak from the one served right before it.
  const order = ['ann', 'bob', 'cy', 'dee'];
  for (const l of shared) if (!(l.persona === 'ann' && l.turn === 0)) assert.equal(l.from, order[(order.indexOf(l.persona) + 3) % 4], JSON.stringify(l));
  assert.ok(leaky.reduce((n, r) => n + r.shifted, 0) > 0, 'leaks make shared replies differ from alone ones');
  // Alone, a persona follows itself except at its first turn, so leaks are rarer.
  assert.ok(leaky.reduce((n, r) => n + r.leaksAlone.length, 0) < shared.length);
  for (const r of clean) {
    assert.equal(r.turns, 6);
    assert.equal(r.shifted, 0);
    assert.deepEqual([r.leaksShared, r.leaksAlone], [[], []]);
  }
});

test('twenty questions flags an inconsistent answerer and passes consistent ones; self-report vs behavior recovers the known gap; regeneration ICC tracks persona separation', async () => {
  const c = (await runSuite(suiteSchema.parse(partsSuite(0)), { outDir: tempDir() })).analysis.consistency!;
  const tq = new Map(c.twentyQuestions!.rows.map((r) => [r.persona, r]));
  for (const id of ['ann', 'cy', 'dee']) {
    const r = tq.get(id)!;
    assert.deepEqual([r.games, r.consistent, r.revealConsistent, r.unparsed], [4, 4, 4, 0], id);
  }
  const bob = tq.get('bob')!;
  assert.equal(bob.games, 4);
  assert.equal(bob.consistent, 0, `flips at 0.3 leave no object: ${bob.candidates}`);

  // behavior = 1: the judge sees the self-reported persona (gap ~ 0); behavior = 0.5: half-way to the default.
  for (const row of c.selfReport!.rows) {
    assert.ok(row.judged, row.persona);
    const behavior = row.persona === 'bob' ? 0.5 : 1;
    for (const d of DOMAINS) {
      const expected = (behavior - 1) * (row.self[d] - SIM_DEFAULT_PROFILE[d]);
      assert.ok(Math.abs(row.judged![d] - row.self[d] - expected) < 0.3, `${row.persona} ${d}: gap ${row.judged![d] - row.self[d]} vs ${expected}`);
    }
  }
  assert.ok(c.selfReport!.byDomain.filter((r) => r.correlation > 0.8).length >= 4, JSON.stringify(c.selfReport!.byDomain.map((r) => r.correlation)));

  const spreads = c.regeneration!.rows.flatMap((r) => DOMAINS.map((d) => r.spread[d]));
  assert.ok(spreads.every((x) => x > 0), 'sampled regenerations vary');
  assert.ok(c.regeneration!.icc.filter((r) => r.single > 0.6).length >= 4, JSON.stringify(c.regeneration!.icc.map((r) => r.single)));
  const same = (await runSuite(suiteSchema.parse({ ...partsSuite(0), name: 'same-targets', personas: partsSuite(0).personas.map((p) => ({ ...p, target: { O: 3, C: 3, E: 3, A: 3, N: 3 } })) }), { outDir: tempDir() })).analysis.consistency!;
  assert.ok(same.regeneration!.icc.every((r) => r.single < 0.35), `identical personas: ICC ${same.regeneration!.icc.map((r) => r.single)}`);
});

function oneContextSuite(model: string): SuiteInput {
  const base = partsSuite(0);
  return { ...base, name: 'one-context', consistency: { tenancy: { turns: 4, items_per_domain: 6 } }, models: [model] };
}

test('several personas in one context: a planted leak of facts and a planted carry-over of traits are found in the group scene and across handovers, and none without them', async (t) => {
  const leaky = (await runSuite(suiteSchema.parse(oneContextSuite('sim:leakRate=0.5,carryover=0.5,noise=0,itemNoise=0.2')), { outDir: tempDir() })).analysis.consistency!.tenancy!;
  const clean = (await runSuite(suiteSchema.parse(oneContextSuite('sim:noise=0,itemNoise=0.2')), { outDir: tempDir() })).analysis.consistency!.tenancy!;
  assert.equal(leaky.group.length, 4);
  assert.equal(leaky.handover.length, 4, 'ann → bob → cy → dee → ann');
  const groupLeaks = leaky.group.reduce((n, r) => n + r.leaks.length, 0);
  const handoverLeaks = leaky.handover.reduce((n, r) => n + r.leaks.length, 0);
  assert.ok(groupLeaks >= 4, `${groupLeaks} leaks in the group scene`);
  assert.ok(handoverLeaks >= 4, `${handoverLeaks} leaks after handovers`);
  // After a handover only the first persona's facts count as a leak, and they are its own markers.
  const markerOf: Record<string, string> = { ann: 'Pistache', bob: 'Tromsø', cy: 'Ilka', dee: 'Porto' };
  for (const r of leaky.handover) for (const l of r.leaks) assert.deepEqual([l.from, l.marker], [r.from, markerOf[r.from]]);
  // Half of the first persona's traits carry over (planted carryover = 0.5).
  t.diagnostic(`carry-over (planted 0.5): ${leaky.handover.map((r) => r.carryover.toFixed(2)).join(', ')}; without: ${clean.handover.map((r) => r.carryover.toFixed(2)).join(', ')}; leaks ${groupLeaks} (group), ${handoverLeaks} (handovers)`);
  for (const r of leaky.handover) assert.ok(Math.abs(r.carryover - 0.5) < 0.15, `${r.from} → ${r.to}: carry-over ${r.carryover}`);
  for (const r of clean.group) assert.deepEqual(r.leaks, []);
  for (const r of clean.handover) {
    assert.deepEqual(r.leaks, []);
    assert.ok(Math.abs(r.carryover) < 0.1, `${r.from} → ${r.to}: carry-over ${r.carryover} without any planted`);
    assert.equal(r.lines, 4 + 1);
  }
  // The simulated panel keeps state (one instance, several tenants): its separate-conversation rows are a finding.
  assert.deepEqual(clean.stateless, []);
  // A stateless backend's separate conversations cannot touch: reported as trivially clean.
  const engine = `engine:${makeModel(familyConfig('llama', { layers: 1 })).dir}`;
  const onEngine = await runSuite(suiteSchema.parse({ ...oneContextSuite(engine), instrument: { id: 'ipip-neo-120', min_coverage: 0 }, consistency: { max_tokens: 4, tenancy: { turns: 1, one_context: false } } }), { outDir: tempDir() });
  assert.deepEqual(onEngine.analysis.consistency!.tenancy!.stateless, [engine]);
  assert.match(summaryText(onEngine.analysis), /tenancy engine:.* \(the backend keeps no state: trivially clean\)/);
});
