import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadBig5, loadEpiRetest, loadSapa } from '../src/datasets/human.js';
import { readTable } from '../src/datasets/table.js';
import { demographicCell, demographicMeansBaseline, groupDifferences, nearestNeighbourBaseline, populationMeansBaseline, retestCeiling, scorePredictor, splitItems, splitPeople } from '../src/metrics/human.js';
import { SHARED, tempDir } from './helpers.js';

const HUMAN = join(SHARED, 'data', 'human');

test('the EPI retest ceiling reproduces the data: about 81% of items answered the same, E about .82, N about .79', () => {
  const set = loadEpiRetest(join(HUMAN, 'psychtools_epiR', 'epiR.csv'));
  assert.equal(set.pairs.length, 474, 'ids repeat across studies: people are matched on (study, id)');
  assert.equal(set.items.length, 57);
  const c = retestCeiling(set);
  assert.ok(Math.abs(c.itemAgreement - 0.813) < 0.01, `agreement ${c.itemAgreement}`);
  assert.ok(Math.abs(c.scales.E! - 0.82) < 0.03, `E ${c.scales.E}`);
  assert.ok(Math.abs(c.scales.N! - 0.79) < 0.03, `N ${c.scales.N}`);
  assert.ok(c.scales.L! < c.scales.E!, 'the lie scale is the least stable, as documented (.66)');
  assert.ok((set.report.missingAnswers['empty or NA'] ?? 0) > 0, 'missing answers are counted');
});

test('BIG5 loader: 0 = missed, impossible ages, tab separation with CRLF; N keyed as neuroticism; women score higher in N and A (d 0.3 to 0.45)', () => {
  const ds = loadBig5(join(HUMAN, 'big5_osp_19719', 'data.csv'));
  assert.equal(ds.report.rowsRead, 19719);
  assert.equal(ds.report.rowsKept + Object.values(ds.report.droppedRows).reduce((a, b) => a + b, 0), 19719);
  assert.equal(ds.report.cleanedCovariates['age outside 10..100 set missing'], 83);
  assert.ok((ds.report.missingAnswers['0 = missed'] ?? 0) > 0);
  assert.ok(ds.respondents.every((p) => p.covariates.age === null || ((p.covariates.age as number) >= 10 && (p.covariates.age as number) <= 100)));
  assert.equal(ds.items.find((i) => i.id === 'N1')!.keyed, 'plus', '"I get stressed out easily" scores up on neuroticism');
  assert.equal(ds.items.find((i) => i.id === 'N2')!.keyed, 'minus');
  const diffs = new Map(groupDifferences(ds, ds.respondents, 'gender', 'female', 'male').map((g) => [g.domain, g]));
  for (const d of ['N', 'A'] as const) {
    const g = diffs.get(d)!;
    assert.ok(g.d >= 0.25 && g.d <= 0.5, `${d}: d = ${g.d}`);
    assert.ok(g.nA > 5000 && g.nB > 5000);
  }
});

test('SAPA loader: 70 Big Five items on 1..6, keying inferred and reported; the same gender differences appear', () => {
  const ds = loadSapa(join(HUMAN, 'psychtools_spi', 'spi.csv'));
  assert.equal(ds.items.length, 70);
  assert.equal(ds.respondents.length, 4000);
  // Items whose wording is reversed come out reverse-keyed.
  for (const id of ['q_4296', 'q_904']) assert.equal(ds.items.find((i) => i.id === id)!.keyed, 'minus', id);
  assert.match(ds.report.notes.join(' '), /reverse-keyed: .*q_4296/);
  const diffs = new Map(groupDifferences(ds, ds.respondents, 'sex', 'female', 'male').map((g) => [g.domain, g.d]));
  assert.ok(diffs.get('N')! > 0.25 && diffs.get('A')! > 0.25, JSON.stringify([...diffs]));
});

test('baselines on a seeded held-out split of real people: nearest neighbours beat demographic and population means', () => {
  for (const ds of [loadBig5(join(HUMAN, 'big5_osp_19719', 'data.csv')), loadSapa(join(HUMAN, 'psychtools_spi', 'spi.csv'))]) {
    const { train, test: people } = splitPeople(ds.respondents, 200, 7);
    const { given, heldOut } = splitItems(ds, 4, 7);
    assert.equal(given.length, 20);
    const pop = scorePredictor(populationMeansBaseline(train, ds.items.length), people, heldOut, ds.scale);
    const demo = scorePredictor(demographicMeansBaseline(train, ds.items.length, demographicCell(ds.name === 'big5-osp' ? 'gender' : 'sex')), people, heldOut, ds.scale);
    const knn = scorePredictor(nearestNeighbourBaseline(train, ds.items.length, given), people, heldOut, ds.scale);
    assert.ok(knn.mae < demo.mae && demo.mae <= pop.mae + 1e-9, `${ds.name}: MAE knn ${knn.mae}, demo ${demo.mae}, pop ${pop.mae}`);
    assert.ok(knn.accuracy > pop.accuracy && knn.personCorrelation > pop.personCorrelation);
    assert.ok(pop.accuracy > 0.2 && pop.accuracy < 0.5, `${ds.name}: population-mean accuracy ${pop.accuracy}`);
  }
});

test('a malformed table or a missing column is a one-line error naming the file', () => {
  const dir = tempDir();
  const bad = join(dir, 'data.csv');
  writeFileSync(bad, 'a,b,c\r\n1,2,3\r\n4,5\r\n');
  assert.throws(() => readTable(bad), /data\.csv:3: 2 fields where the header has 3/);
  writeFileSync(bad, 'race\tage\n1\t20\n');
  writeFileSync(join(dir, 'codebook.txt'), 'E1\tI am the life of the party.(+)\n');
  assert.throws(() => loadBig5(bad), /codebook\.txt: expected 50 items in the BIG5 codebook, found 1/);
});

test('population metrics on real BIG5 answers: two halves of the people recover each other (structure r > .95, five-factor congruence > .95); simulated twins with known accuracy, compression and amplification are recovered', async () => {
  const { correlationMatrix, structureRecovery, varimaxLoadings, matchedCongruence, effectReplication, varianceCompression } = await import('../src/metrics/human.js');
  const { domainScore } = await import('../src/datasets/human.js');
  const { createRng } = await import('../src/util/rng.js');
  const { mean } = await import('../src/metrics/stats.js');
  const ds = loadBig5(join(HUMAN, 'big5_osp_19719', 'data.csv'));
  const a = ds.respondents.slice(0, 3000);
  const b = ds.respondents.slice(3000, 6000);
  const ca = correlationMatrix(a.map((p) => p.answers));
  const cb = correlationMatrix(b.map((p) => p.answers));
  assert.ok(structureRecovery(cb, ca) > 0.95);
  const la = varimaxLoadings(ca, 5);
  // The five rotated factors are the five domains: each domain's items load mostly on one factor.
  for (const d of ['E', 'N', 'A', 'C', 'O'] as const) {
    const idx = ds.items.map((it, i) => (it.domain === d ? i : -1)).filter((i) => i >= 0);
    const avg = [0, 1, 2, 3, 4].map((f) => mean(idx.map((i) => Math.abs(la[i]![f]!))));
    const sorted = [...avg].sort((x, y) => y - x);
    assert.ok(sorted[0]! > 2 * sorted[1]!, `${d}: ${avg.map((x) => x.toFixed(2))}`);
  }
  assert.ok(matchedCongruence(varimaxLoadings(cb, 5), la).every((c) => c > 0.95));

  // Simulated twins built from real people with known properties.
  const rng = createRng('twins');
  const people = ds.respondents.slice(0, 4000).filter((p) => p.covariates.gender === 'female' || p.covariates.gender === 'male');
  const items = ds.items.map((_, j) => j);
  const itemMean = items.map((j) => mean(people.map((p) => p.answers[j]).filter((x): x is number => x !== null)));
  // A twin that gives the real answer with a known probability (else another option): the project's
  // scorer (scorePredictor, which rounds, clamps and skips missing answers) must find that accuracy.
  for (const accuracy of [0.35, 0.6, 0.85]) {
    const twin = (p: (typeof people)[number], heldOut: readonly number[]) =>
      heldOut.map((j) => {
        const real = p.answers[j] ?? 3;
        const wrong = [1, 2, 3, 4, 5].filter((x) => x !== real);
        return rng.next() < accuracy ? real : wrong[rng.int(4)]!;
      });
    const scored = scorePredictor(twin, people, items, ds.scale);
    assert.equal(scored.answers, people.reduce((n, p) => n + p.answers.filter((x) => x !== null && x !== undefined).length, 0), 'every real answer scored once');
    assert.ok(Math.abs(scored.accuracy - accuracy) < 0.02, `accuracy ${scored.accuracy} vs ${accuracy}`);
  }
  for (const c of [0.3, 0.6, 0.9]) {
    const ratios = items.map((j) => {
      const real = people.map((p) => p.answers[j]).filter((x): x is number => x !== null);
      const twin = real.map((x) => itemMean[j]! + c * (x - itemMean[j]!) + 0.05 * rng.normal());
      return varianceCompression(twin, real);
    });
    assert.ok(Math.abs(mean(ratios) - c) < 0.05, `compression ${mean(ratios)} vs ${c}`);
  }
  const byGender = (g: string) => people.filter((p) => p.covariates.gender === g);
  const groupMeans = new Map(['female', 'male'].map((g) => [g, items.map((j) => mean(byGender(g).map((p) => p.answers[j]).filter((x): x is number => x !== null)))]));
  for (const k of [0.5, 1, 2]) {
    // Each twin's answers move its group's offset from the grand mean by a factor k (identity-congruent bias when k > 1).
    const twins = people.map((p) => ({ ...p, answers: p.answers.map((x, j) => (x === null ? null : x + (k - 1) * (groupMeans.get(p.covariates.gender as string)![j]! - itemMean[j]!))) }));
    const d = (ps: typeof people) => {
      const f = ps.filter((p) => p.covariates.gender === 'female').map((p) => domainScore(ds, p.answers, 'N')!);
      const m = ps.filter((p) => p.covariates.gender === 'male').map((p) => domainScore(ds, p.answers, 'N')!);
      const pooled = Math.sqrt((f.reduce((s, x) => s + (x - mean(f)) ** 2, 0) + m.reduce((s, x) => s + (x - mean(m)) ** 2, 0)) / (f.length + m.length - 2));
      return (mean(f) - mean(m)) / pooled;
    };
    const r = effectReplication('N: female - male', d(people), d(twins));
    assert.ok(r.replicated);
    assert.ok(Math.abs(r.amplification - k) < 0.1, `amplification ${r.amplification} vs ${k}`);
  }
});

test('generic column map: quotes, CRLF, missing codes, out-of-range answers and ages, repeated ids, each counted; an unknown column is one line', async () => {
  const { loadGeneric } = await import('../src/datasets/human.js');
  const dir = tempDir();
  const file = join(dir, 'people.csv');
  writeFileSync(file, 'pid,age,sex,q1,q2,"q3"\r\n7,34,f,4,2,5\r\n7,250,m,0,-9,3\r\n8,NA,x,9,1,"2"\r\n9,41,f,0,0,0\r\n');
  const ds = loadGeneric({ file, id: 'pid', scale: { min: 1, max: 5 }, missing: [-9], items: [{ column: 'q1', text: 'I talk a lot.', domain: 'E' }, { column: 'q2', text: 'I am quiet.', domain: 'E', keyed: 'minus' }, { column: 'q3', text: 'I worry.', domain: 'N' }], covariates: [{ column: 'age', kind: 'number', min: 10, max: 100 }, { column: 'sex', kind: 'category', labels: { f: 'female', m: 'male' } }] });
  assert.deepEqual(ds.respondents.map((p) => p.id), ['7', '7#2', '8']);
  assert.equal(ds.report.droppedRows['no answers'], 1);
  assert.deepEqual(ds.report.missingAnswers, { '0 = missed': 4, 'missing code -9': 1, 'outside 1..5': 1 });
  assert.equal(ds.report.cleanedCovariates['age outside 10..100 set missing'], 1);
  assert.equal(ds.report.cleanedCovariates['repeated id made unique'], 1);
  assert.deepEqual(ds.respondents.map((p) => p.covariates.sex), ['female', 'male', 'x']);
  assert.deepEqual(ds.respondents[0]!.answers, [4, 2, 5]);
  assert.throws(() => loadGeneric({ file, scale: { min: 1, max: 5 }, items: [{ column: 'q9', text: 'x' }] }), /people\.csv: no column "q9" \(columns: pid, age, sex, q1, q2, q3\)/);
});

test('human norms: each measured profile and the default placed among the BIG5 people; percentiles and nearest distances equal a direct computation on the data', async (t) => {
  const { runSuite } = await import('../src/runner/run.js');
  const { suiteSchema } = await import('../src/suite/schema.js');
  const { summaryText } = await import('../src/cli/summary.js');
  const { renderHtml } = await import('../src/report/html.js');
  const { domainScore } = await import('../src/datasets/human.js');
  const file = join(HUMAN, 'big5_osp_19719', 'data.csv');
  const suite = suiteSchema.parse({
    name: 'norms',
    instrument: { id: 'ipip-neo-120', items: 30 },
    personas: [
      { id: 'loud', name: 'Kit', description: '', target: { O: 4, C: 2, E: 5, A: 3, N: 2 } },
      { id: 'calm', name: 'Lu', description: '', target: { O: 2, C: 5, E: 1, A: 4, N: 1 } },
    ],
    norms: { dataset: { layout: 'big5-osp', file }, nearest: 10 },
    models: ['sim:'],
  });
  const r = await runSuite(suite, { outDir: tempDir() });
  const n = r.analysis.norms!;
  // The people, straight from the data: every domain answered, on 1..5.
  const ds = loadBig5(file);
  const people = ds.respondents.map((p) => DOMAINS_LIST.map((d) => domainScore(ds, p.answers, d))).filter((s) => s.every((x) => x !== null)) as number[][];
  assert.equal(n.people, people.length);
  assert.equal(n.rows.length, 3, 'two personas and the default');
  assert.ok(n.rows.some((row) => row.persona === '(default)'));
  for (const row of n.rows) {
    DOMAINS_LIST.forEach((d, j) => {
      const v = row.profile[d]!;
      const below = people.filter((p) => p[j]! < v).length;
      const equal = people.filter((p) => p[j] === v).length;
      assert.ok(Math.abs(row.percentile[d]! - (100 * (below + equal / 2)) / people.length) < 1e-9, `${row.persona} ${d}`);
    });
    const dists = people.map((p) => Math.hypot(...DOMAINS_LIST.map((d, j) => row.profile[d]! - p[j]!))).sort((a, b) => a - b);
    assert.ok(Math.abs(row.nearest - dists.slice(0, 10).reduce((a, b) => a + b, 0) / 10) < 1e-9, `${row.persona} nearest`);
  }
  const def = n.rows.find((x) => x.persona === '(default)')!;
  t.diagnostic(`simulated default among ${n.people} people: ${DOMAINS_LIST.map((d) => `${d} ${def.percentile[d]!.toFixed(0)}`).join(', ')}; nearest ${def.nearest.toFixed(2)} (typical ${n.typical.toFixed(2)})`);
  const loud = n.rows.find((x) => x.persona === 'loud')!;
  const calm = n.rows.find((x) => x.persona === 'calm')!;
  assert.ok(loud.percentile.E! > calm.percentile.E!, 'the extravert sits higher among real people');
  assert.match(summaryText(r.analysis), /Among [\d,]+ real people \(big5-osp/);
  assert.match(await renderHtml(r.analysis), /Among real people/);
});

const DOMAINS_LIST = ['O', 'C', 'E', 'A', 'N'] as const;
