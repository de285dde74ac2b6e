// How long a report takes, and how big it gets, for a run of at least 10,000 model calls.
// The run is the stickiness example on the simulated panel with fidelity switched on and
// three conversations per family (every call stored, as with a real model); the report is
// then rendered from the store alone, in process and through the CLI, as a user would.
//   npm run bench:report
// Targets: under 10 s to render, under 10 MB of HTML.

import { mkdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSuite } from '../src/suite/load.js';
import { suiteSchema } from '../src/suite/schema.js';
import { analyzeRun, runSuite } from '../src/runner/run.js';
import { RunStore } from '../src/store/store.js';
import { renderHtml } from '../src/report/html.js';
import { startViewer } from '../src/viewer/server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'bench', 'out', 'report');
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const example = loadSuite(join(ROOT, 'examples', 'stickiness.yaml'));
const suite = suiteSchema.parse({ ...example, name: 'report-benchmark', fidelity: true, models: ['sim:'], stickiness: { ...example.stickiness!, conversations: 3 } });
let t = performance.now();
const run = await runSuite(suite, { outDir: OUT });
const runSeconds = (performance.now() - t) / 1000;

const store = new RunStore(OUT);
t = performance.now();
const analysis = analyzeRun(store, run.runId);
const analyzeSeconds = (performance.now() - t) / 1000;
t = performance.now();
const html = await renderHtml(analysis);
const renderSeconds = (performance.now() - t) / 1000;
store.close();

// The command a user types, timed end to end (process start, store, analysis, charts, file).
const file = join(OUT, 'report.html');
t = performance.now();
const cli = spawnSync(process.execPath, [join(ROOT, 'bin', 'persona-probe.js'), 'report', run.runId, '--dir', OUT, '--out', file], { encoding: 'utf8' });
const cliSeconds = (performance.now() - t) / 1000;
if (cli.status !== 0) throw new Error(cli.stderr);
const bytes = statSync(file).size;

// The viewer's page for the same run: first view (analysis + render) and a repeat (analysis cached).
const viewer = await startViewer({ dir: OUT });
const timed = async (path: string) => {
  const s = performance.now();
  const res = await fetch(new URL(path, viewer.url));
  await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (performance.now() - s) / 1000;
};
const viewFirst = await timed(`/run/${run.runId}`);
const viewAgain = await timed(`/run/${run.runId}`);
await viewer.close();

const conversations = analysis.stickiness!.conditions.reduce((n, c) => n + c.conversations.length, 0);
const mb = bytes / 1e6;
console.log(`run ${run.runId}: ${analysis.cost.tasks} model calls stored (${analysis.cost.calls} distinct), ${conversations} transcripts, ${analysis.models![0]!.methods[0]!.personas.length} personas; simulated in ${runSeconds.toFixed(1)} s`);
console.log('');
console.log('| measure | value | target | value / target |');
console.log('|---|---|---|---|');
console.log(`| \`persona-probe report RUN --out report.html\` (wall clock, new process) | ${cliSeconds.toFixed(2)} s | < 10 s | ${(cliSeconds / 10).toFixed(2)} |`);
console.log(`| of which: analysis from the store (in process) | ${analyzeSeconds.toFixed(2)} s | | |`);
console.log(`| of which: HTML with charts (in process) | ${renderSeconds.toFixed(2)} s | | |`);
console.log(`| HTML size | ${mb.toFixed(2)} MB | < 10 MB | ${(mb / 10).toFixed(2)} |`);
console.log(`| viewer run page, first view | ${viewFirst.toFixed(2)} s | | |`);
console.log(`| viewer run page, again (analysis cached) | ${viewAgain.toFixed(2)} s | | |`);
if (analysis.cost.tasks < 10_000) throw new Error(`the benchmark run has only ${analysis.cost.tasks} calls; it must have at least 10,000`);
if (html.length === 0) throw new Error('empty report');
