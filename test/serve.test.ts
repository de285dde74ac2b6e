import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startServer, type RunningServer } from '../src/server/openai-server.js';
import { writeSafetensors } from '../src/engine/formats/safetensors.js';
import { writeVectorFile } from '../src/engine/formats/vector-files.js';
import { loadInterventionFile } from '../src/engine/interventions.js';
import { createBackend } from '../src/backends/registry.js';
import { runSuite } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { tempDir } from './helpers.js';

const config = familyConfig('qwen2', { layers: 2 });
const model = makeModel(config);
const d = config.hidden_size;
const dir = tempDir();
const TOKEN = 'pp-serve-secret-7c1d9e';
let server: RunningServer;
const v = Float32Array.from({ length: d }, (_, i) => Math.sin(i * 0.7));

before(async () => {
  writeSafetensors(join(dir, 'v.safetensors'), { v: { shape: [d], data: v } });
  writeFileSync(join(dir, 'steer.yaml'), '- hook: blocks.0.hook_resid_post\n  op: add\n  vector: { file: v.safetensors, tensor: v }\n  coef: 6\n');
  writeFileSync(join(dir, 'cap.yaml'), '- hook: blocks.1.hook_resid_post\n  op: cap\n  vector: { file: v.safetensors, tensor: v }\n  min: -0.5\n  max: 0.5\n');
  writeVectorFile(join(dir, 'brisk.safetensors'), { layers: new Map([[1, v]]), metadata: { trait: 'brisk', recommended_layer: '1' } });
  server = await startServer({ model: model.dir, name: 'tiny', aliases: { steered: join(dir, 'steer.yaml'), capped: join(dir, 'cap.yaml') }, vectorsDir: dir, token: TOKEN });
});
after(async () => server.close());

const client = (apiKey = TOKEN) => new OpenAI({ apiKey, baseURL: server.url, maxRetries: 0 });
const messages = [{ role: 'user' as const, content: 'Tell me about the sea.' }];

test('serve: binds loopback, lists its models, and gives the same tokens as the library for the same seed and interventions (plain, steered, capped, vector alias)', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  const models = await client().models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny', 'tiny+steered', 'tiny+capped']);
  await withEngine(model.dir, async (engine) => {
    const ids = engine.tokenizer.chatIds(messages);
    const cases: [string, ReturnType<typeof loadInterventionFile>][] = [
      ['tiny', []],
      ['tiny+steered', loadInterventionFile(join(dir, 'steer.yaml'), engine.spec)],
      ['tiny+capped', loadInterventionFile(join(dir, 'cap.yaml'), engine.spec)],
      ['tiny+brisk@5', [{ hook: 'blocks.1.hook_resid_post', op: 'add', vector: v, coef: 5, min: -Infinity, max: Infinity, positions: 'all' }]],
    ];
    const texts = new Set<string>();
    for (const [name, interventions] of cases) {
      const lib = await engine.generate(ids, { maxTokens: 12, temperature: 0.9, seed: 42, interventions });
      const res = await client().chat.completions.create({ model: name, messages, max_tokens: 12, temperature: 0.9, seed: 42 });
      assert.equal(res.choices[0]!.message.content, lib.text, name);
      assert.equal(res.usage!.completion_tokens, lib.tokens.length);
      texts.add(lib.text);
    }
    assert.equal(texts.size, 4, 'each intervention set changes the sample');
    // A capped run's captured projections never leave [min, max] at the capped layer.
    const cap = loadInterventionFile(join(dir, 'cap.yaml'), engine.spec);
    const u = Float32Array.from(v, (x) => x / Math.hypot(...v));
    let rows = 0;
    await engine.generate(ids, {
      maxTokens: 12, temperature: 0.9, seed: 42, interventions: cap, hooks: ['blocks.1.hook_resid_post'],
      onHooks: (hooks) => {
        const h = hooks.get('blocks.1.hook_resid_post')!;
        for (let t = 0; t < h.length / d; t++) {
          let p = 0;
          for (let i = 0; i < d; i++) p += h[t * d + i]! * u[i]!;
          assert.ok(p >= -0.5 - 1e-4 && p <= 0.5 + 1e-4, `projection ${p}`);
          rows++;
        }
      },
    });
    assert.ok(rows > ids.length);
  });
});

test('serve: streaming gives the same text as a plain response; logprobs carry top_logprobs; the openai: backend scores a suite through it exactly as the engine backend does', async () => {
  const plain = await client().chat.completions.create({ model: 'tiny+steered', messages, max_tokens: 10, temperature: 0.8, seed: 7, logprobs: true, top_logprobs: 3 });
  const stream = await client().chat.completions.create({ model: 'tiny+steered', messages, max_tokens: 10, temperature: 0.8, seed: 7, stream: true });
  let text = '';
  let finish: string | null = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, plain.choices[0]!.message.content);
  assert.equal(finish, plain.choices[0]!.finish_reason);
  const lp = plain.choices[0]!.logprobs!.content!;
  assert.equal(lp.length, plain.usage!.completion_tokens);
  for (const t of lp) {
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0]!.logprob >= t.top_logprobs[1]!.logprob && t.top_logprobs[1]!.logprob >= t.top_logprobs[2]!.logprob);
    assert.ok(t.logprob <= 0);
  }

  // The fidelity suite over openai: against this server equals the engine backend on the same weights.
  const suite = (id: string, extra: Record<string, unknown> = {}) => suiteSchema.parse({ name: 'via-server', instrument: { id: 'ipip-neo-120', items: 6, min_coverage: 0 }, personas: [{ id: 'p', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }], baseline: false, models: [{ id, ...extra }] });
  // A random model spreads its mass over the whole vocabulary, so ask for all of it (the server allows more than OpenAI's 20).
  const viaHttp = await runSuite(suite('openai:tiny', { baseURL: server.url, apiKeyEnv: 'PP_TEST_SERVE_TOKEN', topLogprobs: config.vocab_size }), { outDir: tempDir(), env: { PP_TEST_SERVE_TOKEN: TOKEN } });
  const direct = await runSuite(suite(`engine:${model.dir}`), { outDir: tempDir() });
  assert.equal(viaHttp.counters.errors, 0);
  const a = viaHttp.analysis.models![0]!.methods[0]!.personas[0]!.measured;
  const b = direct.analysis.models![0]!.methods[0]!.personas[0]!.measured;
  for (const dm of ['O', 'C', 'E', 'A', 'N'] as const) assert.ok(Math.abs(a[dm]!.value - b[dm]!.value) < 1e-4, `${dm}: ${a[dm]!.value} vs ${b[dm]!.value}`);
  const backend = await createBackend({ id: 'openai:tiny', baseURL: server.url, apiKeyEnv: 'PP_TEST_SERVE_TOKEN', topLogprobs: config.vocab_size }, { env: { PP_TEST_SERVE_TOKEN: TOKEN } });
  const engineBackend = await createBackend(`engine:${model.dir}`);
  const q = { messages: [{ role: 'user' as const, content: 'Rate 1-5: I like the sea.' }], options: ['1', '2', '3', '4', '5'] };
  const [p1, p2] = [await backend.optionProbs!(q), await engineBackend.optionProbs!(q)];
  p1.probs.forEach((p, i) => assert.ok(Math.abs(p - p2.probs[i]!) < 1e-5, `option ${i + 1}: ${p} vs ${p2.probs[i]}`));
  assert.ok(Math.abs(p1.coverage - p2.coverage) < 1e-6);
});

test('serve: the token is required and never echoed; unknown models, malformed bodies and bad fields get clear errors', async () => {
  const raw = async (body: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => {
    const r = await fetch(`${server.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: r.status, text: await r.text() };
  };
  const ok = JSON.stringify({ model: 'tiny', messages, max_tokens: 2 });
  const none = await raw(ok, {});
  assert.equal(none.status, 401);
  const wrong = await raw(ok, { authorization: `Bearer ${TOKEN}x` });
  assert.equal(wrong.status, 401);
  assert.ok(!wrong.text.includes(TOKEN), 'the token is never echoed');
  assert.match(JSON.parse(wrong.text).error.message, /missing or wrong bearer token/);
  const unknown = await raw(JSON.stringify({ model: 'tiny+nonesuch', messages }));
  assert.equal(unknown.status, 404);
  assert.match(JSON.parse(unknown.text).error.message, /unknown model "tiny\+nonesuch" \(serving: tiny, tiny\+steered, tiny\+capped/);
  const malformed = await raw('{"model": "tiny", "messages": [');
  assert.equal(malformed.status, 400);
  assert.equal(JSON.parse(malformed.text).error.code, 'invalid_json');
  const badTemp = await raw(JSON.stringify({ model: 'tiny', messages, temperature: 9 }));
  assert.equal(badTemp.status, 400);
  assert.match(JSON.parse(badTemp.text).error.message, /"temperature" must be a number in \[0, 2\]/);
  const noMessages = await raw(JSON.stringify({ model: 'tiny' }));
  assert.equal(noMessages.status, 400);
  for (const r of [none, wrong, unknown, malformed, badTemp, noMessages]) assert.ok(!r.text.includes(TOKEN) && !/at .*\.js:\d+/.test(r.text), 'no token, no stack trace');
  await assert.rejects(client('wrong-key').chat.completions.create({ model: 'tiny', messages }), (e: { status?: number }) => e.status === 401);
});

test('serve: survives 200 concurrent requests on loopback with no failed request', async () => {
  const c = client();
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => c.chat.completions.create({ model: i % 2 ? 'tiny+capped' : 'tiny', messages: [{ role: 'user', content: `Request ${i}` }], max_tokens: 2, temperature: 0 })));
  const failed = results.filter((r) => r.status === 'rejected');
  assert.equal(failed.length, 0, failed.map((f) => String((f as PromiseRejectedResult).reason)).slice(0, 3).join('; '));
  assert.ok(results.every((r) => r.status === 'fulfilled' && r.value.choices.length === 1));
  assert.ok(performance.now() - started < 120_000);
});
