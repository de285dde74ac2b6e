import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { RunAnalysis } from '../src/runner/run.js';
import { join } from 'node:path';
import { startFakeOpenAI, type FakeServer } from './fake-openai-server.js';
import { createBackend } from '../src/backends/registry.js';
import { runSuite } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { RunStore } from '../src/store/store.js';
import { allFileText, cliAsync, tempDir } from './helpers.js';

let server: FakeServer;
const KEY = 'sk-test-DO-NOT-LEAK-4f9a1c2e7b';
const URL_KEY = 'urlkey-DO-NOT-LEAK-93be51';
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
  const p = r.analysis.models![0]!.methods[0]!.personas[0]!;
  assert.ok(Number.isFinite(p.measured.O!.value));
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
    const p = r.analysis.models![0]!.methods[0]!.personas[0]!;
    assert.equal(p.missingAnswers, 5);
    assert.ok(Number.isNaN(p.measured.N!.value), 'no answers must not score as a number');
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
  - { id: "openai:inurl", baseURL: "${server.url}?api-key=${URL_KEY}&deployment=d1", apiKeyEnv: TEST_OPENAI_KEY }
run: { maxAttempts: 2, backoffMs: 1 }
`);
  const before = server.authHeaders.length;
  const r = await cliAsync(['run', file, '--out', out], { env: { TEST_OPENAI_KEY: KEY } });
  assert.ok(server.authHeaders.length > before);
  // The key in the base URL is sent (as the query parameter it was), and the rest of the URL kept.
  const inUrl = server.urls.filter((u) => u.includes(`api-key=${URL_KEY}`));
  assert.ok(inUrl.length >= 4 && inUrl.every((u) => u.includes('deployment=d1')), server.urls.slice(-3).join(' '));
  assert.ok(server.authHeaders.slice(before).every((h) => h === `Bearer ${KEY}`));
  assert.equal(r.code, 1, r.stderr); // the broken model's items failed
  const texts = [...allFileText(out), { path: 'stdout', text: r.stdout }, { path: 'stderr', text: r.stderr }];
  assert.ok(texts.length >= 5);
  for (const { path, text } of texts) {
    assert.ok(!text.includes(URL_KEY), `the base URL's key found in ${path}`);
    assert.ok(!text.includes(KEY), `key found in ${path}`);
    assert.ok(!text.includes(KEY.slice(3, 20)), `part of the key found in ${path}`);
    assert.ok(!/authorization|bearer/i.test(text), `authorization header found in ${path}`);
  }
});

test('a base URL with a user name and password is refused in one line that shows neither; OPENAI_BASE_URL is checked the same way', async () => {
  const out = tempDir();
  const file = join(tempDir(), 'suite.yaml');
  const withUser = server.url.replace('http://', 'http://alice:pw-DO-NOT-LEAK-77@');
  writeFileSync(file, `name: userinfo
instrument: { id: ipip-neo-120, items: 2 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
models:
  - { id: "openai:probs", baseURL: "${withUser}", apiKeyEnv: TEST_OPENAI_KEY }
`);
  const before = server.requests.length;
  const r = await cliAsync(['run', file, '--out', out], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /openai:probs: baseURL: the base URL carries a user name or password/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  writeFileSync(file, `name: userinfo-env
instrument: { id: ipip-neo-120, items: 2 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
models: ["openai:probs"]
`);
  const env = await cliAsync(['run', file, '--out', out], { env: { TEST_OPENAI_KEY: KEY, OPENAI_API_KEY: KEY, OPENAI_BASE_URL: withUser } });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /OPENAI_BASE_URL: the base URL carries a user name or password/);
  for (const text of [r.stdout, r.stderr, env.stdout, env.stderr, ...allFileText(out).map((f) => f.text)]) {
    assert.ok(!text.includes('pw-DO-NOT-LEAK-77') && !text.includes('alice'), 'neither the user nor the password is shown or stored');
  }
  assert.equal(server.requests.length, before, 'no call was made');
});

test('coverage: a model that puts 5% of its mass on the options gets its items marked missing, and the console and report warn', async () => {
  const out = tempDir();
  const file = join(tempDir(), 'suite.yaml');
  writeFileSync(file, `name: coverage
instrument: { id: ipip-neo-120, items: 10 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
baseline: false
models:
  - { id: "openai:offformat", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY }
  - { id: "openai:probs", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY }
`);
  const r = await cliAsync(['run', file, '--dir', out], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /WARNING: openai:offformat answers mostly off-format for p1 \(method system-prompt\): 10 of 10 items put less than 0\.1 of their probability on the answer options \(mean 0\.050\); those items are missing, not scored\./);
  assert.doesNotMatch(r.stdout, /WARNING: openai:probs/, 'a model on format (90% on the options) gets no warning');
  const runId = /run ([0-9a-f]{12})/.exec(r.stdout)![1]!;
  const results = JSON.parse(readFileSync(join(out, 'reports', runId, 'results.json'), 'utf8')) as RunAnalysis;
  const off = results.models![0]!.methods[0]!.personas[0]!;
  assert.equal(off.missingAnswers, 10);
  assert.deepEqual(off.coverage, { mean: off.coverage!.mean, min: off.coverage!.min, below: 10, items: 10, threshold: 0.1 });
  assert.ok(Math.abs(off.coverage!.mean - 0.05) < 1e-9);
  assert.equal(results.models![1]!.methods[0]!.personas[0]!.missingAnswers, 0);
  const html = readFileSync(join(out, 'reports', runId, 'report.html'), 'utf8');
  assert.match(html, /Off-format answers<\/th><td[^>]*><strong class="warn">WARNING: openai:offformat answers mostly off-format/);
  // The threshold is a suite setting: 0 scores every item again (renormalised over the options).
  writeFileSync(file, readFileSync(file, 'utf8').replace('items: 10 }', 'items: 10, min_coverage: 0 }'));
  const lenient = await cliAsync(['run', file, '--dir', out], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(lenient.code, 0, lenient.stderr);
  assert.doesNotMatch(lenient.stdout, /WARNING/);
});

test('fail fast: a dead base URL stops the run before any call with the real cause; the same error 20 times in a row stops it too', async () => {
  // A port nothing listens on: bind one, then close it.
  const probe = (await import('node:net')).createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const out = tempDir();
  const file = join(tempDir(), 'suite.yaml');
  writeFileSync(file, `name: dead
instrument: { id: ipip-neo-120, items: 10 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
models:
  - { id: "openai:gpt-x", baseURL: "http://127.0.0.1:${port}/v1", apiKeyEnv: TEST_OPENAI_KEY }
`);
  const started = Date.now();
  const dead = await cliAsync(['run', file, '--dir', out, '--quiet'], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(dead.code, 2, dead.stderr);
  assert.match(dead.stderr, new RegExp(`openai:gpt-x@http://127\\.0\\.0\\.1:${port}/v1: cannot be used \\(openai: Connection error\\. \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)\\); no call was made`));
  assert.equal(dead.stderr.trim().split('\n').length, 1);
  assert.ok(Date.now() - started < 20_000, 'within seconds');
  const store = new RunStore(out, { readOnly: true });
  try {
    const run = store.listRuns()[0]!;
    assert.equal(store.errors(run.id).length, 0, 'no call attempted');
  } finally {
    store.close();
  }
  // A llamacpp: model to download from a host that cannot be reached: said in seconds, before any call.
  const offline = await cliAsync(['run', file, '--dir', tempDir(), '--quiet', '--model', 'llamacpp:https://no-such-host.invalid/model.gguf'], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(offline.code, 2, offline.stderr);
  assert.match(offline.stderr, /llamacpp: https:\/\/no-such-host\.invalid\/model\.gguf is not downloaded yet and no-such-host\.invalid cannot be reached/);
  // A server that is up but answers every call with a 500: stopped after 20 failures in a row, with the error.
  writeFileSync(file, readFileSync(file, 'utf8').replace(`http://127.0.0.1:${port}/v1`, server.url).replace('openai:gpt-x', 'openai:broken').replace('items: 10', 'items: 120'));
  const before = server.requests.filter((r) => r.model === 'broken').length;
  const broken = await cliAsync(['run', file, '--dir', tempDir(), '--quiet'], { env: { TEST_OPENAI_KEY: KEY } });
  assert.equal(broken.code, 2, broken.stderr);
  assert.match(broken.stderr, /openai:broken@.*: the last 20 calls failed with the same error, stopping the run: openai: 500 .*internal failure/);
  const made = server.requests.filter((r) => r.model === 'broken').length - before;
  assert.ok(made < 240 * 4 / 4, `${made} requests, not the 960 that 240 items x 4 attempts would make`);
});

test('--dry-run prints calls, tokens and cost per block and model and makes no call, writes nothing', async () => {
  const dir = tempDir();
  const file = join(dir, 'suite.yaml');
  writeFileSync(file, `name: plan
instrument: { id: ipip-neo-120, items: 10 }
personas:
  - { id: p1, name: Pat, description: A tester., target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
  - { id: p2, name: Sam, target: { O: 2, C: 2, E: 4, A: 3, N: 4 } }
models:
  - { id: "openai:probs", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY }
  - { id: "openai:chatonly", baseURL: "${server.url}", apiKeyEnv: TEST_OPENAI_KEY, logprobs: false }
`);
  const prices = join(dir, 'prices.json');
  writeFileSync(prices, JSON.stringify({ 'openai:probs': { input: 1, output: 2 }, openai: { input: 10, output: 20 } }));
  const before = server.requests.length;
  const out = join(dir, 'out');
  const r = await cliAsync(['run', file, '--dir', out, '--dry-run', '--prices', prices]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(server.requests.length, before, 'no request reached the server');
  assert.ok(!existsSync(out), 'nothing written');
  assert.match(r.stdout, /^DRY RUN of plan: nothing was called and nothing written\./);
  // Option probabilities: (2 personas + the default) x 10 items, one call each; sampling: x 5 samples, 24 tokens each.
  const probs = /^fidelity +openai:probs +30 +([\d,]+) +30 +([\d.]+)/m.exec(r.stdout)!;
  const sampled = /^fidelity +openai:chatonly +150 +([\d,]+) +3,600 +([\d.]+)/m.exec(r.stdout)!;
  assert.ok(probs && sampled, r.stdout);
  const tokens = (m: RegExpExecArray) => Number(m[1]!.replace(/,/g, ''));
  assert.equal(Number(probs[2]), Number(((tokens(probs) * 1 + 30 * 2) / 1e6).toFixed(2)), 'the model-specific price');
  assert.equal(Number(sampled[2]), Number(((tokens(sampled) * 10 + 3600 * 20) / 1e6).toFixed(2)), 'the backend-kind price');
  assert.match(r.stdout, /180 calls in all; estimated cost/);
});
