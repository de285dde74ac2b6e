// The probe registry: every probe runs through it, the generic code (runner, report, export,
// summary, comparison, viewer) names none of them, and a probe added in this file alone
// (plus one registerProbe call) is planned, run, stored, analyzed, reported, exported,
// summarized, compared and counted by a dry run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ROOT, tempDir } from './helpers.js';
import { PROBES, registerProbe } from '../src/probes/registry.js';
import type { PlannedTask, Probe } from '../src/probes/probe.js';
import { decodeChat } from '../src/backends/responses.js';
import { analyzeRun, runSuite } from '../src/runner/run.js';
import { dryRun } from '../src/runner/dry-run.js';
import { loadSuite } from '../src/suite/load.js';
import { summaryText } from '../src/cli/summary.js';
import { renderHtml } from '../src/report/html.js';
import { csvFiles, writeReport } from '../src/report/export.js';
import { compareRuns } from '../src/report/compare.js';
import { differencesSection } from '../src/report/compare-html.js';
import { RunStore } from '../src/store/store.js';
import { cliAsync } from './helpers.js';

// --- The toy probe: its whole definition -------------------------------------------------

interface EchoRow {
  persona: string;
  asked: number;
  replied: number;
  words: number;
}

declare module '../src/probes/probe.js' {
  interface ProbeResults {
    echo?: { rows: EchoRow[] };
  }
}

const echoSpec = z.object({ question: z.string().min(1), samples: z.number().int().min(1).max(5).default(1) }).strict();

/** One key builder, used where the call is made and where its answer is read. */
const echoKey = (persona: string, sample: number) => `echo|${persona}|s${sample}`;

const echoProbe: Probe<'echo', undefined, { persona: string; a: number; b: number }[]> = {
  key: 'echo',
  block: 'echo',
  title: 'Echo (a toy probe)',
  schema: echoSpec,
  enabled: (suite) => suite.probes?.echo !== undefined,
  plan: ({ suite }) => {
    const spec = echoSpec.parse(suite.probes!.echo);
    return suite.personas.flatMap((p) =>
      Array.from({ length: spec.samples }, (_, s): PlannedTask => ({
        key: echoKey(p.id, s),
        kind: 'chat',
        modelIndex: 0,
        request: { messages: [{ role: 'system', content: `You are ${p.name}.` }, { role: 'user', content: spec.question }], sampling: { temperature: 1, seed: s, maxTokens: 24 } },
      })),
    );
  },
  analyze: ({ suite, responses }) => {
    if (!suite.probes?.echo) return undefined;
    const spec = echoSpec.parse(suite.probes.echo);
    return {
      rows: suite.personas.map((p) => {
        const texts = Array.from({ length: spec.samples }, (_, s) => decodeChat(responses.get(echoKey(p.id, s)))?.text).filter((t): t is string => t !== undefined);
        return { persona: p.id, asked: spec.samples, replied: texts.length, words: texts.reduce((n, t) => n + t.split(/\s+/).filter(Boolean).length, 0) };
      }),
    };
  },
  sections: async (r) => [{ id: 'echo', title: 'Echo', html: `<p data-echo="${r.rows.length}">${r.rows.map((x) => `${x.persona}: ${x.replied}/${x.asked}`).join('; ')}</p>` }],
  console: (r) => r.rows.map((x) => `echo ${x.persona}: ${x.replied} of ${x.asked} replied, ${x.words} words`),
  csv: (r, run) => [{ file: 'echo.csv', text: `run,persona,replied\n${r.rows.map((x) => `${run.runId},${x.persona},${x.replied}`).join('\n')}\n` }],
  differences: (a, b) => a.rows.flatMap((x) => {
    const y = b.rows.find((r) => r.persona === x.persona);
    return y ? [{ persona: x.persona, a: x.words, b: y.words }] : [];
  }),
  differencesHtml: async (d) => `<h3>Echo</h3><p data-echo-diff="${d.length}"></p>`,
};

registerProbe(echoProbe);

const suiteText = (echo: string) => `name: echo-suite
instrument: { id: ipip-neo-120 }
fidelity: false
personas:
  - { id: ada, name: Ada, target: { O: 5, C: 4, E: 2, A: 3, N: 2 } }
  - { id: bo, name: Bo, target: { O: 2, C: 2, E: 5, A: 4, N: 3 } }
models: ['sim:']
probes:
${echo}
`;

test('a probe defined in one file and registered runs end to end: stored, analyzed, reported, exported, summarized, compared, counted', async () => {
  const dir = tempDir();
  const file = join(dir, 'echo.yaml');
  writeFileSync(file, suiteText('  echo: { question: "Who are you?", samples: 2 }'));
  const suite = loadSuite(file);
  const out = join(dir, 'out');
  const r = await runSuite(suite, { outDir: out, suitePath: file });
  assert.deepEqual(r.analysis.echo!.rows.map((x) => [x.persona, x.asked, x.replied]), [['ada', 2, 2], ['bo', 2, 2]]);
  assert.ok(r.analysis.echo!.rows.every((x) => x.words > 0), 'the replies were read back from the store');
  assert.equal(r.analysis.models, undefined, 'fidelity did not run, so it holds no result');
  assert.equal(r.counters.total, 4);
  // Re-rendered from the store alone, the same result.
  const store = new RunStore(out, { readOnly: true });
  try {
    assert.deepEqual(analyzeRun(store, r.runId).echo, r.analysis.echo);
  } finally {
    store.close();
  }
  assert.match(summaryText(r.analysis), /^echo ada: 2 of 2 replied, \d+ words$/m);
  assert.match(await renderHtml(r.analysis), /<section id="echo"><h2>Echo<\/h2><p data-echo="2">ada: 2\/2; bo: 2\/2<\/p>/);
  assert.match(await renderHtml(r.analysis), /<a href="#echo">Echo<\/a>/);
  assert.deepEqual(csvFiles(r.analysis).map((f) => f.file), ['echo.csv']);
  const files = await writeReport(r.analysis, join(dir, 'report'));
  assert.deepEqual(files.csv.map((p) => p.slice(dir.length)), ['/report/echo.csv']);
  assert.equal(readFileSync(files.csv[0]!, 'utf8').trim().split('\n').length, 3);
  const cmp = compareRuns(r.analysis, r.analysis);
  assert.deepEqual(cmp.parts.map((p) => p.probe), ['echo']);
  assert.match(await differencesSection(cmp), /<h3>Echo<\/h3><p data-echo-diff="2">/);
  const plan = await dryRun(suite, file);
  assert.deepEqual(plan.map((row) => [row.block, row.model, row.calls]), [['echo', 'sim:', 4]]);
  // The CLI's run command knows it too (it only iterates the registry): blocks, report files.
  const cli = await cliAsync(['run', file, '--dir', join(dir, 'cli'), '--quiet', '--dry-run']);
  assert.equal(cli.code, 2, 'the CLI is another process: the toy probe is not registered there, so its block is refused as bad input');
  assert.match(cli.stderr, /echo\.yaml:9: probes\.echo: no registered probe has the block echo/);
});

test("a probe's block is checked by its own schema when the suite loads, with the line; an unknown block and a taken key are refused", () => {
  const dir = tempDir();
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, suiteText('  echo:\n    question: ""'));
  assert.throws(() => loadSuite(bad), (err: Error) => /bad\.yaml:10.*probes\.echo\.question/.test(err.message));
  writeFileSync(bad, suiteText('  echo: { question: hi, sampels: 2 }'));
  assert.throws(() => loadSuite(bad), /probes\.echo.*sampels/);
  writeFileSync(bad, suiteText('  nope: {}'));
  assert.throws(() => loadSuite(bad), /probes\.nope: no registered probe has the block nope \(registered: echo\)/);
  assert.throws(() => registerProbe({ ...echoProbe }), /echo \(block echo\) collides with the registered probe echo/);
  assert.throws(() => registerProbe({ ...echoProbe, key: 'models' as 'echo', block: 'other' }), /collides with the registered probe models \(block fidelity\)/);
});

/** The generic code: it iterates the registry and names no probe. */
const GENERIC = ['runner', 'report/html.ts', 'report/export.ts', 'report/compare.ts', 'report/compare-html.ts', 'cli/summary.ts', 'viewer/server.ts'];

test('no probe is named in the runner, the report, the export, the summary, the comparison or the viewer', () => {
  const files = GENERIC.flatMap((g) => (g.endsWith('.ts') ? [join(ROOT, 'src', g)] : readdirSync(join(ROOT, 'src', g)).map((f) => join(ROOT, 'src', g, f))));
  assert.ok(files.length >= 10);
  const names = PROBES.flatMap((p) => [p.block, ...(p.key === 'models' ? [] : [p.key])]);
  assert.deepEqual([...new Set(names)].sort(), ['consistency', 'echo', 'fidelity', 'norms', 'stickiness', 'twins']);
  const hits = files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((line, i) => names.filter((n) => new RegExp(`\\b${n}\\b`, 'i').test(line)).map((n) => `${f.slice(ROOT.length + 1)}:${i + 1} names ${n}`)),
  );
  assert.deepEqual(hits, []);
});

test('nothing in the runner or the probes knows the simulation by type or by id: a backend declares what it reads (readsSuite, readsOracle, a truth source)', () => {
  const files = ['runner', 'probes'].flatMap((d) => readdirSync(join(ROOT, 'src', d)).map((f) => join(ROOT, 'src', d, f)));
  const hits = files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
      .filter((line) => /backends\/sim(-dialogue)?\.js|SimulatedPanel|instanceof Sim|['"`]sim:/.test(line))
      .map((line) => `${f.slice(ROOT.length + 1)}: ${line.trim().slice(0, 100)}`),
  );
  assert.deepEqual(hits, []);
});
