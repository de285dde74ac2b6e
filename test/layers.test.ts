// Layers point one way: commands -> runner -> probes -> suite -> metrics -> models and data
// -> util. A module may import its own layer or any layer below it, never one above.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { ROOT } from './helpers.js';

const SRC = join(ROOT, 'src');

/** Rank per top-level folder (or file); a few files sit in a layer of their own, with the reason. */
const LAYERS: [string, number, string][] = [
  ['util', 0, 'helpers with no project imports'],
  ['metrics/stats.ts', 0, 'basic statistics (a correlation, a mean), used by loaders too'],
  ['instruments', 1, 'models and data'],
  ['datasets', 1, 'models and data'],
  ['store', 1, 'models and data'],
  ['backends', 1, 'models and data'],
  ['engine', 1, 'models and data'],
  ['present', 1, 'HTML and chart helpers: escaping, tables, figures'],
  ['metrics', 2, 'pure functions over answers'],
  ['suite', 3, 'the suite: schema, levels, model references'],
  ['probes', 4, 'plans, execution through a ProbeContext, analysis'],
  ['runner', 5, 'runs suites: the store-backed call, the probe context'],
  ['suite/load.ts', 6, 'loading a suite file checks it against the attack library and backend ids'],
  ['commands', 6, "the mechanism commands' orchestration"],
  ['report', 6, 'pages from analyses'],
  ['viewer', 6, 'serves report pages'],
  ['server', 6, 'serves a model'],
  ['cli', 7, 'the command line'],
  ['index.ts', 7, 'the library entry point'],
];

function rankOf(rel: string): number {
  const match = LAYERS.filter(([p]) => rel === p || rel.startsWith(`${p}/`)).sort((a, b) => b[0].length - a[0].length)[0];
  if (!match) throw new Error(`${rel} belongs to no layer: add it to LAYERS`);
  return match[1];
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file, static and dynamic, as paths under src/ (.ts). */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gm), ...text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, normalize(join(dirname(file), s))).replace(/\.js$/, '.ts'));
}

function violations(edges: readonly [string, string][]): string[] {
  return edges.filter(([from, to]) => rankOf(to) > rankOf(from)).map(([from, to]) => `${from} (layer ${rankOf(from)}) imports ${to} (layer ${rankOf(to)})`);
}

test('layers point one way: no module imports a layer above its own', () => {
  const edges = sources(SRC).flatMap((file) => importsOf(file).map((to): [string, string] => [relative(SRC, file), to]));
  assert.ok(edges.length > 300, `${edges.length} imports read`);
  assert.deepEqual(violations(edges), []);
});

test('the layer check fails on an upward import, and on a module in no layer', () => {
  // probes importing the runner is the arrow that used to run both ways; metrics importing a probe would be another.
  assert.deepEqual(violations([['probes/dialogue.ts', 'runner/context.ts'], ['metrics/fidelity.ts', 'probes/fidelity.ts'], ['runner/run.ts', 'probes/fidelity.ts']]), [
    'probes/dialogue.ts (layer 4) imports runner/context.ts (layer 5)',
    'metrics/fidelity.ts (layer 2) imports probes/fidelity.ts (layer 4)',
  ]);
  assert.throws(() => violations([['nowhere/x.ts', 'util/hash.ts']]), /belongs to no layer/);
});
