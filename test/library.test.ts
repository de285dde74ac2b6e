import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.js';
import { familyConfig, makeModel } from './engine-helpers.js';

test("the library API is importable by package name: loadSuite + runSuite on the demo suite", async () => {
  const pp = await import('persona-probe');
  const suite = pp.loadSuite(join(ROOT, 'examples', 'demo.yaml'));
  assert.equal(suite.personas.length, 6);
  const small = pp.suiteSchema.parse({ ...suite, instrument: { ...suite.instrument, items: 10 }, repetitions: 1 });
  const r = await pp.runSuite(small, { outDir: tempDir() });
  assert.equal(r.analysis.models![0]!.methods.length, 2);
  assert.equal(r.counters.errors, 0);
  // A verdict per persona and method, with its adoption interval.
  assert.equal(r.analysis.verdicts.length, 6 * 2);
  assert.ok(r.analysis.verdicts.every((v) => v.adoptionSource === 'fidelity' && /of the way from the default to the target/.test(v.line)));
});

test('the committed JSON Schema is the one the code exports', async () => {
  const pp = await import('persona-probe');
  assert.deepEqual(JSON.parse(readFileSync(join(ROOT, 'schema', 'suite.schema.json'), 'utf8')), pp.suiteJsonSchema());
});

test("the README's engine library example runs as written, importing from 'persona-probe'", async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /```js\n(import \{ Engine[\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'the README has the library example');
  // Inside the package folder, so 'persona-probe' resolves to this package as it would for a user.
  const file = join(ROOT, 'dist', `readme-example-${process.pid}.mjs`);
  writeFileSync(file, block);
  const { dir } = makeModel(familyConfig('llama', { layers: 2 }));
  try {
    const r = spawnSync(process.execPath, [file], { env: { ...process.env, MODEL_DIR: dir }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [vocab, width] = r.stdout.trim().split(' ');
    assert.equal(Number(vocab), 49152);
    assert.equal(Number(width), 64);
  } finally {
    rmSync(file, { force: true });
  }
  // Every name the README lists for the mechanism API is exported.
  const pp = (await import('persona-probe')) as Record<string, unknown>;
  for (const name of ['Engine', 'collectActivations', 'addIntervention', 'capIntervention', 'extractVectors', 'buildAxis', 'sweepSteering', 'startServer', 'readVectorFile', 'writeVectorFile', 'loadInterventionFile', 'resolveHooks']) {
    assert.equal(typeof pp[name], 'function', `${name} is exported`);
  }
});
