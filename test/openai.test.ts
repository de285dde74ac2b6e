import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeOpenAI, type FakeServer } from './fake-openai-server.js';
import { createBackend } from '../src/backends/registry.js';
import { runSuite } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { RunStore } from '../src/store/store.js';
import { allFileText, cliAsync, tempDir } from './helpers.js';

let server: FakeServer;
const KEY = 'sk-test-DO-NOT-LEAK-4f9a1c2e7b';
before(async () => { server = await startFakeOpenAI(); });
after(async () => { await server.close(); });

function suiteFor(model: string, extra: Record<string, unknown> = {}) {
  return suiteSchema.parse({
    name: `openai-${model}`,
    instrument: { id: 'ipip-neo-120', items: 5, samples: 2 },
    personas: [{ id: 'p1', name: 'Pat', description: 'A tester.', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    baseline: false,
    models: [{ id: `openai:${model}`, baseURL: server.url, apiKeyEnv: 'TEST_OPENAI_KEY', timeoutMs: 300, ...extra }],
    run: { concurrency: 2, maxAttempts: 3, backoffMs: 5, timeoutMs: 300 },
  });
}

test('openai: option probabilities from top_logprobs over real HTTP, normalised over the options', async () => {
  const backend = await createBackend({ id: 'openai:probs', baseURL: server.url, apiKeyEnv: 'TEST_OPENAI_KEY' }, { env: { TEST_OPENAI_KEY: KEY } });
  const r = await backend.optionProbs!({ messages: [{ role: 'user', content: 'rate' }], options: ['1', '2', '3', '4', '5'] });
  // Mass: "4" .5 + " 4" .1 = .6, "2" .2, "5" .1; the off-format "I" is excluded; coverage .9.
  const expected = [0, 0.2, 0, 0.6, 0.1].map((p) => p / 0.9);
  r.probs.forEach((p, i) => assert.ok(Math.abs(p - expected[i]!) < 1e-9, `option ${i + 1}: ${p}`));
  assert.ok(Math.abs(r.coverage - 0.9) < 1e-9);
  assert.equal(server.authHeaders.at(-1), `Bearer ${KEY}`); // the key is sent to the server...
});

test('openai: a 429 is retried with backoff and succeeds; the retry is recorded', async () => {
  const out = tempDir();
  const r = await runSuite(suiteFor('flaky'), { outDir: out, env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(r.counters.errors, 0);
  assert.ok(r.counters.retries >= 5, `retries ${r.counters.retries}`);
  const store = new RunStore(out);
  const errs = store.errors(r.runId);
  store.close();
  assert.ok(errs.length >= 5 && errs.every((e) => !e.final && /429/.test(e.error)));
  const p = r.analysis.models[0]!.methods[0]!.personas[0]!;
  assert.ok(Number.isFinite(p.measured.O.value));
});

for (const [model, pattern] of [['broken', /500/], ['slow', /no response within 300 ms|timed out/i], ['malformed', /malformed|JSON/i]] as const) {
  test(`openai: ${model} server ends in recorded final errors and missing answers, never a crash or a silent zero`, async () => {
    const out = tempDir();
    const r = await runSuite(suiteFor(model), { outDir: out, env: { TEST_OPENAI_KEY: KEY } });
    assert.equal(r.counters.errors, 5);
    assert.equal(r.counters.calls, 0);
    const store = new RunStore(out);
    const errs = store.errors(r.runId);
    assert.equal(store.getRun(r.runId)!.status, 'failed');
    store.close();
    assert.equal(errs.filter((e) => e.final).length, 5);
    assert.ok(errs.every((e) => pattern.test(e.error)), errs[0]?.error);
    const p = r.analysis.models[0]!.methods[0]!.personas[0]!;
    assert.equal(p.missingAnswers, 5);
    assert.ok(Number.isNaN(p.measured.N.value), 'no answers must not score as a number');
  });
}

test('no API key or Authorization header reaches the store, logs or reports', async () => {
  const out = tempDir();
  const file = join(tempDir(), 'suite.yaml');
  writeFileSync(file, `name: secret-check
instrument: { id: ipip-neo-120, items: 4, samples: 2 }
personas:
  - { id: p1, name: Pat, description: A tester, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
models:
  - { id: "openai:probs", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY }
  - { id: "openai:chatonly", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY, logprobs: false }
  - { id: "openai:broken", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY }
run: { maxAttempts: 2, backoffMs: 1 }
`);
  const before = server.authHeaders.length;
  const r = await cliAsync(['run', file, '--out', out], { env: { TEST_OPENAI_KEY: KEY } });
  assert.ok(server.authHeaders.length > before);
  assert.ok(server.authHeaders.slice(before).every((h) => h === `Bearer ${KEY}`));
  assert.equal(r.code, 1, r.stderr); // the broken model's items failed
  const texts = [...allFileText(out), { path: 'stdout', text: r.stdout }, { path: 'stderr', text: r.stderr }];
  assert.ok(texts.length >= 5);
  for (const { path, text } of texts) {
    assert.ok(!text.includes(KEY), `key found in ${path}`);
    assert.ok(!text.includes(KEY.slice(3, 20)), `part of the key found in ${path}`);
    assert.ok(!/authorization|bearer/i.test(text), `authorization header found in ${path}`);
  }
});
