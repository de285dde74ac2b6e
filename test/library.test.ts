import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.js';

test("the library API is importable by package name: loadSuite + runSuite on the demo suite", async () => {
  const pp = await import('persona-probe');
  const suite = pp.loadSuite(join(ROOT, 'examples', 'demo.yaml'));
  assert.equal(suite.personas.length, 6);
  const small = pp.suiteSchema.parse({ ...suite, instrument: { ...suite.instrument, items: 10 }, repetitions: 1 });
  const r = await pp.runSuite(small, { outDir: tempDir() });
  assert.equal(r.analysis.models[0]!.methods.length, 2);
  assert.equal(r.counters.errors, 0);
});

test('the committed JSON Schema is the one the code exports', async () => {
  const pp = await import('persona-probe');
  assert.deepEqual(JSON.parse(readFileSync(join(ROOT, 'schema', 'suite.schema.json'), 'utf8')), pp.suiteJsonSchema());
});
