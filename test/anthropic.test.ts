// The anthropic: backend against a local server speaking the Messages API (POST
// /v1/messages, the key as x-api-key or a bearer token, anthropic-version), on loopback: a successful call with the
// system prompt and sampling settings as the API takes them, an overloaded server (529)
// retried until it answers, a 400 that is not retried, and a suite run end to end.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBackend } from '../src/backends/registry.js';
import { BackendError } from '../src/backends/types.js';
import { runSuite } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { RunStore } from '../src/store/store.js';
import { allFileText, tempDir } from './helpers.js';

const KEY = 'sk-ant-test-DO-NOT-LEAK-51c0';
interface Seen {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];
const overloadedOnce = new Set<string>();
let server: Server;
let url = '';

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'request-id': 'req_test' });
        res.end(JSON.stringify(value));
      };
      const error = (status: number, type: string, message: string) => json(status, { type: 'error', error: { type, message } });
      if (req.url !== '/v1/messages' || req.method !== 'POST') return error(404, 'not_found_error', `no route ${req.url}`);
      // The API takes the key as x-api-key or as a bearer token (the SDK in use sends the latter).
      if (req.headers['x-api-key'] !== KEY && req.headers.authorization !== `Bearer ${KEY}`) return error(401, 'authentication_error', 'invalid x-api-key');
      if (!req.headers['anthropic-version']) return error(400, 'invalid_request_error', 'anthropic-version header is required');
      const model = String(body.model);
      if (model === 'bad-request') return error(400, 'invalid_request_error', 'max_tokens: must be positive');
      if (model === 'overloaded' && !overloadedOnce.has(raw)) {
        overloadedOnce.add(raw);
        return error(529, 'overloaded_error', 'Overloaded');
      }
      const messages = body.messages as { role: string; content: string }[];
      const last = messages.at(-1)!.content;
      // An inventory item gets a digit; anything else an echo of the system prompt's first word.
      const text = /1\s*=|Answer with a number/i.test(last) ? '4' : `ok ${String(body.system ?? '').split(' ')[0]}`;
      json(200, { id: 'msg_1', type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

test('anthropic: a call reaches the Messages API with its key, version, system prompt and sampling, and its text and usage come back', async () => {
  const backend = await createBackend({ id: 'anthropic:claude-test', baseURL: url, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }, { env: { TEST_ANTHROPIC_KEY: KEY } });
  const r = await backend.chat({ messages: [{ role: 'system', content: 'Marlow speaks.' }, { role: 'user', content: 'Hello?' }], sampling: { temperature: 0.3, maxTokens: 40, stop: ['\n\n'] } });
  assert.equal(r.text, 'ok Marlow');
  assert.deepEqual(r.usage, { inputTokens: 12, outputTokens: 1 });
  const s = seen.at(-1)!;
  assert.ok(s.headers['x-api-key'] === KEY || s.headers.authorization === `Bearer ${KEY}`, 'the key is sent');
  assert.ok(s.headers['anthropic-version']);
  assert.equal(s.body.system, 'Marlow speaks.');
  assert.deepEqual(s.body.messages, [{ role: 'user', content: 'Hello?' }]);
  assert.equal(s.body.temperature, 0.3);
  assert.equal(s.body.max_tokens, 40);
  assert.deepEqual(s.body.stop_sequences, ['\n\n']);
  assert.equal(backend.capabilities.optionProbs, false, 'no logprobs: inventories are sampled');
});

test('anthropic: 529 overloaded is retryable, 400 is not; a suite runs through it with the retries recorded and no key stored', async () => {
  const backend = await createBackend({ id: 'anthropic:bad-request', baseURL: url, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }, { env: { TEST_ANTHROPIC_KEY: KEY } });
  await assert.rejects(backend.chat({ messages: [{ role: 'user', content: 'x' }] }), (e: unknown) => e instanceof BackendError && !e.retriable && e.status === 400 && /max_tokens: must be positive/.test(e.message));
  const overloaded = await createBackend({ id: 'anthropic:overloaded', baseURL: url, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }, { env: { TEST_ANTHROPIC_KEY: KEY } });
  await assert.rejects(overloaded.chat({ messages: [{ role: 'user', content: 'once' }] }), (e: unknown) => e instanceof BackendError && e.retriable && e.status === 529);

  const out = tempDir();
  const suite = suiteSchema.parse({
    name: 'anthropic-suite',
    instrument: { id: 'ipip-neo-120', items: 4, samples: 2 },
    personas: [{ id: 'p1', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    baseline: false,
    models: [{ id: 'anthropic:overloaded', baseURL: url, apiKeyEnv: 'TEST_ANTHROPIC_KEY' }],
    run: { concurrency: 2, maxAttempts: 3, backoffMs: 1 },
  });
  const overloadsBefore = overloadedOnce.size;
  const r = await runSuite(suite, { outDir: out, env: { TEST_ANTHROPIC_KEY: KEY } });
  assert.equal(r.counters.errors, 0);
  const overloads = overloadedOnce.size - overloadsBefore;
  assert.ok(overloads >= 4, `${overloads} distinct requests were overloaded`);
  assert.equal(r.counters.retries, overloads, 'each distinct request was overloaded once, retried, then answered');
  const persona = r.analysis.models![0]!.methods[0]!.personas[0]!;
  assert.equal(persona.missingAnswers, 0);
  const store = new RunStore(out);
  try {
    assert.ok(store.errors(r.runId).every((e) => /529|Overloaded/.test(e.error) && !e.final));
  } finally {
    store.close();
  }
  for (const { path, text } of allFileText(out)) assert.ok(!text.includes(KEY), `key found in ${path}`);
});
