// Hostile input and faults (one test per class): a hostile client of `serve`, a backend
// that returns values no probability has, and malformed vector / GGUF / safetensors files.
// Every request goes to loopback, bounded in count and time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startServer, SERVE_LIMITS, type RunningServer } from '../src/server/openai-server.js';
import { writeVectorFile, readVectorFile, writeControlVector } from '../src/engine/formats/vector-files.js';
import { gguf, GgmlType, readGguf, writeGguf } from '../src/engine/formats/gguf.js';
import { readSafetensorsHeader } from '../src/engine/formats/safetensors.js';
import { runSuite, analyzeRun } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';
import { RunStore } from '../src/store/store.js';
import { planFidelity } from '../src/probes/fidelity.js';
import { getInstrument } from '../src/instruments/index.js';
import { UserError } from '../src/util/errors.js';
import { startFakeOpenAI, type FakeServer } from './fake-openai-server.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { ROOT, cliAsync, storedCallCount, tempDir } from './helpers.js';
import { spawnSync } from 'node:child_process';

const config = familyConfig('llama', { layers: 2 });
const model = makeModel(config);
const d = config.hidden_size;
const vdir = tempDir();
let server: RunningServer;
let port = 0;
let fake: FakeServer;

before(async () => {
  writeVectorFile(join(vdir, 'brisk.safetensors'), { layers: new Map([[1, Float32Array.from({ length: d }, (_, i) => Math.cos(i))]]), metadata: { trait: 'brisk', recommended_layer: '1' } });
  // A vector file holding a NaN, written past the reader's checks.
  writeFileSync(join(vdir, 'nan.safetensors'), safetensorsBytes({ 'blocks.1.hook_resid_post': Float32Array.from({ length: d }, (_, i) => (i === 3 ? Number.NaN : 1)) }));
  server = await startServer({ model: model.dir, name: 'tiny', vectorsDir: vdir, maxQueue: 2 });
  port = Number(new URL(server.url).port);
  fake = await startFakeOpenAI();
});
after(async () => {
  await server.close();
  await fake.close();
});

/** A safetensors file written by hand (so it can hold what writeVectorFile would refuse). */
function safetensorsBytes(tensors: Record<string, Float32Array>, override?: (header: Record<string, unknown>) => void): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, data] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: [data.length], data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  override?.(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...Object.values(tensors).map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]);
}

interface Raw {
  status: number;
  body: string;
}

/** A raw HTTP request to the server on loopback, with any headers (fetch would fix Host and Origin). */
function raw(path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'POST', headers: { host: `127.0.0.1:${port}`, 'content-type': 'application/json', ...options.headers }, timeout: 60_000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const messages = [{ role: 'user', content: 'Say something.' }];
const chat = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'tiny', messages, max_tokens: 2, ...extra });
const errorOf = (r: Raw) => (JSON.parse(r.body) as { error: { message: string; code: string } }).error;

test('serve: a foreign Host, a web page Origin and a text/plain body are refused; the OpenAI client path still works', async () => {
  assert.equal((await raw('/v1/chat/completions', { body: chat() })).status, 200);
  const rebinding = await raw('/v1/chat/completions', { headers: { host: 'evil.example:80' }, body: chat() });
  assert.equal(rebinding.status, 403);
  assert.equal(errorOf(rebinding).code, 'forbidden_host');
  for (const origin of ['https://evil.example', 'null', 'http://192.168.1.5:8800']) {
    const r = await raw('/v1/chat/completions', { headers: { origin }, body: chat() });
    assert.equal(r.status, 403, origin);
    assert.equal(errorOf(r).code, 'forbidden_origin');
  }
  assert.equal((await raw('/v1/chat/completions', { headers: { origin: `http://127.0.0.1:${port}` }, body: chat() })).status, 200, 'a page served from loopback may call');
  // A browser sends text/plain cross-origin without a preflight: refused.
  const plain = await raw('/v1/chat/completions', { headers: { 'content-type': 'text/plain' }, body: chat() });
  assert.equal(plain.status, 415);
  assert.match(errorOf(plain).message, /application\/json/);
});

test('serve: what a request may ask is bounded (top_logprobs × max_tokens, n, stop strings, content parts, coefficients, NaN vectors)', async () => {
  const tooMany = await raw('/v1/chat/completions', { body: chat({ logprobs: true, top_logprobs: 100_000, max_tokens: 60 }) });
  assert.equal(tooMany.status, 400);
  assert.match(errorOf(tooMany).message, new RegExp(`over this server's limit of ${SERVE_LIMITS.logprobEntries}`));
  // The worst request the API accepts: the limit exactly, answered with that many alternatives.
  const k = 4096;
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const worst = await raw('/v1/chat/completions', { body: chat({ logprobs: true, top_logprobs: k, max_tokens: SERVE_LIMITS.logprobEntries / k, temperature: 1 }) });
  clearInterval(sampler);
  assert.equal(worst.status, 200);
  // Measured about 0.2-0.45 GB of transient growth for this request (a 22 MB reply); unbounded before (2.3 GB at 60 tokens and rising).
  assert.ok(peak - before < 1024 ** 3, `memory grew by ${((peak - before) / 2 ** 20).toFixed(0)} MB for the worst accepted request`);
  const entries = (JSON.parse(worst.body) as { choices: { logprobs: { content: { top_logprobs: unknown[] }[] } }[] }).choices[0]!.logprobs.content;
  assert.ok(entries.length >= 1 && entries.every((e) => e.top_logprobs.length === k));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ n: 2 }, /"n" must be a number in \[1, 1\]/],
    [{ stop: [''] }, /"stop" must be a non-empty string/],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }, /messages\[0\]\.content\[0\]" must be a text part/],
    [{ model: 'tiny+brisk@1.2.3' }, /coefficient "1\.2\.3" is not a number/],
    [{ model: 'tiny+brisk@.' }, /coefficient "\." is not a number/],
    [{ model: 'tiny+brisk@1e41' }, /coefficient "1e41" is not a number within/],
    [{ model: 'tiny+nan@2' }, /nan\.safetensors: blocks\.1\.hook_resid_post holds NaN at index 3/],
  ];
  for (const [extra, pattern] of cases) {
    const r = await raw('/v1/chat/completions', { body: chat(extra) });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.match(errorOf(r).message, pattern);
  }
  assert.equal((await raw('/v1/chat/completions', { body: chat({ model: 'tiny+brisk@2.5' }) })).status, 200);
});

test('serve: a client that goes away frees the engine within a token; the queue is bounded with 429', async () => {
  // An abandoned long stream must not hold up the next request.
  const abandoned = httpRequest({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    res.once('data', () => res.destroy());
  });
  abandoned.on('error', () => undefined);
  abandoned.end(chat({ max_tokens: 3000, stream: true, temperature: 1 }));
  await new Promise((r) => setTimeout(r, 300));
  const started = performance.now();
  const next = await raw('/v1/chat/completions', { body: chat({ max_tokens: 1 }) });
  const waited = performance.now() - started;
  assert.equal(next.status, 200);
  assert.ok(waited < 2000, `the next request waited ${waited.toFixed(0)} ms behind an abandoned 3000-token stream`);
  // maxQueue 2: one running and two waiting; the rest are told to come back.
  const burst = await Promise.all(Array.from({ length: 8 }, () => raw('/v1/chat/completions', { body: chat({ max_tokens: 40 }) })));
  const statuses = burst.map((r) => r.status);
  assert.ok(statuses.filter((s) => s === 429).length >= 4, `statuses ${statuses.join(',')}`);
  assert.ok(statuses.filter((s) => s === 200).length >= 1);
  assert.match(errorOf(burst.find((r) => r.status === 429)!).message, /busy/);
});

test('serve: refuses to listen beyond loopback without a token, in one line', async () => {
  await assert.rejects(startServer({ model: model.dir, name: 'tiny', host: '0.0.0.0' }), (err: Error) => err instanceof UserError && /refusing to listen on 0\.0\.0\.0 without a bearer token/.test(err.message) && !err.message.includes('\n'));
});

test('backends: a server answering log-probability +1000 never poisons a run; a bad stored answer is made again, never served', async () => {
  const suite = (m: string) => suiteSchema.parse({
    name: `poison-${m}`,
    instrument: { id: 'ipip-neo-120', items: 5 },
    personas: [{ id: 'p1', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    baseline: false,
    models: [{ id: `openai:${m}`, baseURL: fake.url, apiKeyEnv: 'K' }],
    run: { concurrency: 2, maxAttempts: 3, backoffMs: 1, timeoutMs: 2000 },
  });
  // Bad once, then good: retried, and the run is sound.
  const once = await runSuite(suite('poison-once'), { outDir: tempDir(), env: { K: 'k' } });
  assert.equal(once.counters.errors, 0);
  assert.ok(once.counters.retries >= 5, `retries ${once.counters.retries}`);
  const measured = once.analysis.models![0]!.methods[0]!.personas[0]!.measured;
  for (const dm of ['O', 'C', 'E', 'A', 'N'] as const) assert.ok(Number.isFinite(measured[dm]!.value) || measured[dm]!.value === undefined);
  // Always bad: every task fails, nothing bad is stored, the run is failed (not complete), and it re-analyses.
  const out = tempDir();
  const always = await runSuite(suite('poison'), { outDir: out, env: { K: 'k' } });
  assert.ok(always.counters.errors >= 5);
  const store = new RunStore(out);
  try {
    assert.equal(store.getRun(always.runId)!.status, 'failed');
    assert.equal(store.taskResponses(always.runId).size, 0, 'no bad answer is stored');
    assert.match(store.errors(always.runId).at(-1)!.error, /log-probability 1000/);
    // An answer stored by an older version with NaN in it: analysis treats it as missing and does not throw.
    const poisoned = suite('poison');
    const key = planFidelity({ suite: poisoned, instrument: getInstrument('ipip-neo-120'), optionProbs: [true] })[0]!.key;
    store.putCall(always.runId, key, { hash: 'poisoned', backend: 'openai:poison', kind: 'optionProbs', request: {}, response: { probs: [Number.NaN, 0, 0, 1, 0], coverage: 1 }, latencyMs: 1, attempts: 1 });
    const again = analyzeRun(store, always.runId);
    const persona = again.models![0]!.methods[0]!.personas[0]!;
    assert.equal(persona.missingAnswers, 5, 'the NaN answer is missing, like the four never made');
  } finally {
    store.close();
  }
});

test('files: malformed vector, safetensors and GGUF files are one-line errors, checked before allocating', () => {
  const dir = tempDir();
  const write = (name: string, bytes: Buffer | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const cases: [string, () => unknown, RegExp][] = [
    ['NaN direction', () => readVectorFile(write('a.safetensors', safetensorsBytes({ 'blocks.2.hook_resid_post': Float32Array.of(1, Number.POSITIVE_INFINITY) }))), /holds Infinity at index 1/],
    ['zero width', () => readVectorFile(write('b.safetensors', safetensorsBytes({ 'blocks.2.hook_resid_post': new Float32Array(0) }))), /has no values/],
    ['mixed widths', () => readVectorFile(write('c.safetensors', safetensorsBytes({ 'blocks.1.hook_resid_post': ones(4), 'blocks.2.hook_resid_post': ones(5) }))), /has 5 values where the file's other directions have 4/],
    ['absurd layer', () => readVectorFile(write('d.safetensors', safetensorsBytes({ 'blocks.99999999.hook_resid_post': ones(4) }))), /layer 99999999 is out of range/],
    ['zero vector', () => readVectorFile(write('e.safetensors', safetensorsBytes({ 'blocks.1.hook_resid_post': new Float32Array(4) }))), /zero vector/],
    ['negative offset', () => readSafetensorsHeader(write('f.safetensors', safetensorsBytes({ 'blocks.1.hook_resid_post': ones(4) }, (h) => { (h['blocks.1.hook_resid_post'] as { data_offsets: number[] }).data_offsets = [-8, 8]; }))), /data offsets \[-8,8\]/],
    ['huge declared tensor', () => readSafetensorsHeader(write('g.safetensors', safetensorsBytes({ 'blocks.1.hook_resid_post': ones(4) }, (h) => { h['blocks.1.hook_resid_post'] = { dtype: 'F32', shape: [2 ** 31], data_offsets: [0, 2 ** 33] }; }))), /truncated: tensor .* ends at byte/],
    ['fractional shape', () => readSafetensorsHeader(write('h.safetensors', safetensorsBytes({ 'blocks.1.hook_resid_post': ones(4) }, (h) => { (h['blocks.1.hook_resid_post'] as { shape: number[] }).shape = [2.5]; }))), /shape \[2\.5\]/],
  ];
  // GGUF: a control vector declaring 2^31 floats in a tiny file; a duplicate layer; a NaN.
  const cv = join(dir, 'ok.gguf');
  writeControlVector(cv, new Map([[1, ones(4)], [2, ones(4)]]), 'llama');
  const meta = { 'general.architecture': gguf.str('controlvector'), 'controlvector.model_hint': gguf.str('llama'), 'controlvector.layer_count': gguf.i32(1) };
  const huge = join(dir, 'huge.gguf');
  writeGguf(huge, meta, [{ name: 'direction.1', dims: [4], type: GgmlType.F32, data: ones(4) }]);
  const bytes = readFileSync(huge);
  // The tensor info's single dimension (a u64 after the name) becomes 2^31.
  const at = bytes.indexOf(Buffer.from('direction.1')) + 'direction.1'.length + 4;
  bytes.writeBigUInt64LE(2n ** 31n, at);
  cases.push(
    ['gguf 2^31 elements', () => readGguf(write('huge2.gguf', bytes)), /runs past the end of the file/],
    ['gguf truncated', () => readGguf(write('trunc.gguf', bytes.subarray(0, 40))), /not a valid GGUF file/],
    ['gguf duplicate layer', () => { const p = join(dir, 'dup.gguf'); writeGguf(p, meta, [{ name: 'direction.1', dims: [4], type: GgmlType.F32, data: ones(4) }, { name: 'direction.1', dims: [4], type: GgmlType.F32, data: ones(4) }]); return readVectorFile(p); }, /direction\.1 appears twice/],
    ['gguf NaN', () => { const p = join(dir, 'nan.gguf'); writeGguf(p, meta, [{ name: 'direction.1', dims: [2], type: GgmlType.F32, data: Float32Array.of(Number.NaN, 1) }]); return readVectorFile(p); }, /direction\.1 holds NaN/],
    ['not gguf', () => readGguf(write('x.gguf', Buffer.from('GGUF'))), /not a valid GGUF file/],
  );
  assert.equal(readVectorFile(cv).layers.size, 2, 'a good control vector still reads');
  for (const [what, fn, pattern] of cases) {
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof UserError, `${what}: a UserError, got ${String(err)}`);
      assert.match(err.message, pattern, what);
      assert.doesNotMatch(err.message, /\n/, `${what}: one line`);
      return true;
    }, what);
  }
});


/**
 * Run the CLI so that a folder made read-only really is: as root, chmod alone does not stop
 * writes, so run as nobody, when nobody can read this checkout (a clone under a private home
 * folder cannot be; then the test still checks that nothing in the store changes).
 */
function readOnlyUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const nobody = { uid: 65534, gid: 65534 };
  const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(join(ROOT, 'dist', 'src', 'cli', 'main.js'))})`], nobody);
  return probe.status === 0 ? nobody : {};
}

function chmodTree(dir: string, mode: 'ro' | 'rw'): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(entry.parentPath, entry.name);
    chmodSync(p, entry.isDirectory() ? (mode === 'ro' ? 0o555 : 0o755) : mode === 'ro' ? 0o444 : 0o644);
  }
  chmodSync(dir, mode === 'ro' ? 0o555 : 0o755);
}

const SIM_SUITE = `name: faults
instrument: { id: ipip-neo-120, items: 4 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
models: ["sim:"]
`;

test('stores: a read-only store in a read-only folder is listed and reported, and nothing in it changes', async () => {
  const base = tempDir();
  chmodSync(base, 0o755);
  const dir = join(base, 'ro');
  const suiteFile = join(base, 'suite.yaml');
  writeFileSync(suiteFile, SIM_SUITE);
  const made = await cliAsync(['run', suiteFile, '--dir', dir, '--quiet']);
  assert.equal(made.code, 0, made.stderr);
  const runId = /run ([0-9a-f]{12})/.exec(made.stdout)![1]!;
  chmodTree(dir, 'ro');
  const before = readdirSync(dir).sort();
  const bytes = readFileSync(join(dir, 'persona-probe.sqlite'));
  try {
    const as = readOnlyUser();
    const runs = await cliAsync(['runs', '--dir', dir], as);
    assert.equal(runs.code, 0, runs.stderr);
    assert.match(runs.stdout, new RegExp(`^${runId}  complete`, 'm'));
    const out = join(tempDir(), 'r.html');
    chmodSync(dirname(out), 0o777);
    const report = await cliAsync(['report', runId, '--dir', dir, '--out', out], as);
    assert.equal(report.code, 0, report.stderr);
    assert.match(readFileSync(out, 'utf8'), /<html/);
    assert.deepEqual(readdirSync(dir).sort(), before, 'no file created in the store folder');
    assert.ok(readFileSync(join(dir, 'persona-probe.sqlite')).equals(bytes), 'the store is unchanged');
  } finally {
    chmodTree(dir, 'rw');
  }
});

test('stores and outputs: damaged, foreign and misplaced files are one line naming the file, exit 2, nothing written; the viewer skips a damaged store and lists the rest', async () => {
  const base = tempDir();
  const suiteFile = join(base, 'suite.yaml');
  writeFileSync(suiteFile, SIM_SUITE);
  const healthy = join(base, 'healthy');
  assert.equal((await cliAsync(['run', suiteFile, '--dir', healthy, '--quiet'])).code, 0);
  const healthyStore = readFileSync(join(healthy, 'persona-probe.sqlite'));
  const truncated = join(base, 'truncated');
  mkdirSync(truncated);
  writeFileSync(join(truncated, 'persona-probe.sqlite'), healthyStore.subarray(0, 50));
  const foreign = join(base, 'foreign');
  mkdirSync(foreign);
  const other = new (await import('better-sqlite3')).default(join(foreign, 'persona-probe.sqlite'));
  other.exec('CREATE TABLE invoices (id INTEGER, total REAL)');
  other.close();
  const damaged = join(base, 'damaged');
  mkdirSync(damaged);
  const broken = Buffer.from(healthyStore);
  broken.fill(0x5a, 4096, Math.min(broken.length, 4096 * 6)); // SQLite header intact, pages garbage
  writeFileSync(join(damaged, 'persona-probe.sqlite'), broken);
  const aFile = join(base, 'a-file');
  writeFileSync(aFile, 'x');
  const reportsFile = join(base, 'reports-file');
  mkdirSync(reportsFile);
  writeFileSync(join(reportsFile, 'reports'), 'x');
  const bomb = join(base, 'bomb.yaml');
  writeFileSync(bomb, 'a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n');
  const cases: [string[], RegExp][] = [
    [['runs', '--dir', truncated], /truncated\/persona-probe\.sqlite: damaged run store \(truncated to 50 bytes\)/],
    [['report', 'x', '--dir', truncated], /truncated\/persona-probe\.sqlite: damaged run store/],
    [['run', suiteFile, '--dir', truncated], /truncated\/persona-probe\.sqlite: damaged run store/],
    [['runs', '--dir', foreign], /foreign\/persona-probe\.sqlite: not a persona-probe store \(no runs table; it holds invoices\)/],
    [['run', suiteFile, '--dir', foreign], /foreign\/persona-probe\.sqlite: not a persona-probe store/],
    [['runs', '--dir', damaged], /damaged\/persona-probe\.sqlite: damaged run store/],
    [['run', suiteFile, '--dir', aFile], /a-file: is a file, but the run writes a folder there/],
    [['run', suiteFile, '--dir', reportsFile], /reports-file\/reports: is a file, but the run writes a folder there/],
    [['report', 'x', '--dir', healthy, '--out', join(base, 'healthy')], /no run "x"/],
    [['run', bomb, '--dir', join(base, 'never')], /bomb\.yaml: YAML aliases expand too far/],
  ];
  for (const [args, pattern] of cases) {
    const r = await cliAsync(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    assert.doesNotMatch(r.stderr, /internal error/);
  }
  assert.ok(!existsSync(join(base, 'never')), 'nothing written for bad input');
  assert.deepEqual(readdirSync(foreign), ['persona-probe.sqlite'], 'a foreign store is not migrated');
  // report --out naming a folder that ends in .html
  const folderHtml = join(base, 'page.html');
  mkdirSync(folderHtml);
  const runId = (await cliAsync(['runs', '--dir', healthy])).stdout.split(' ')[0]!;
  const asFolder = await cliAsync(['report', runId, '--dir', healthy, '--out', folderHtml]);
  assert.equal(asFolder.code, 2);
  assert.match(asFolder.stderr, /page\.html: is a folder; --out names the HTML file to write/);

  // The viewer over all of them: the healthy run is listed and shown, the others are skipped with a note.
  const { startViewer } = await import('../src/viewer/server.js');
  const logged: string[] = [];
  const viewer = await startViewer({ dir: base, log: (l) => logged.push(l) });
  try {
    const list = await fetch(viewer.url);
    assert.equal(list.status, 200);
    const html = await list.text();
    assert.match(html, new RegExp(runId));
    for (const name of ['truncated', 'foreign', 'damaged']) assert.match(html, new RegExp(`Skipped the store in <code>${name}</code>`));
    const page = await fetch(`${viewer.url}run/${runId}?in=healthy`);
    assert.equal(page.status, 200);
    assert.ok(logged.some((l) => /skipping .*damaged/.test(l)));
  } finally {
    await viewer.close();
  }
});

test('small ones: a label named toString, run-id prefixes with % and _, a BOM in score answers, a run whose probability calls all failed', async () => {
  const dir = tempDir();
  const csv = join(dir, 't.csv');
  writeFileSync(csv, 'id,group,q1\n1,toString,3\n2,constructor,4\n3,a,5\n');
  const { loadGeneric } = await import('../src/datasets/human.js');
  const ds = loadGeneric({ file: csv, id: 'id', scale: { min: 1, max: 5 }, items: [{ column: 'q1', text: 'I am calm.' }], covariates: [{ column: 'group', kind: 'category', labels: { a: 'Group A' } }] });
  assert.deepEqual(ds.respondents.map((r) => r.covariates.group), ['toString', 'constructor', 'Group A']);

  const store = new RunStore(join(dir, 'store'));
  try {
    store.startRun({ id: 'abc123def456', suiteName: 's', suitePath: null, config: {}, models: [], simulated: true });
    assert.equal(store.findRun('%'), undefined);
    assert.equal(store.findRun('_bc'), undefined);
    assert.equal(store.findRun('abc')?.id, 'abc123def456');
  } finally {
    store.close();
  }

  const answers = join(dir, 'answers.json');
  const [first, second] = getInstrument('ipip-neo-120').items;
  writeFileSync(answers, `\uFEFF${JSON.stringify({ [first!.id]: 5, [second!.id]: 4 })}`);
  const scored = await cliAsync(['score', '--answers', answers, '--json']);
  assert.equal(scored.code, 0, scored.stderr);
  assert.equal(JSON.parse(scored.stdout).answered, 2);

  const failed = await runSuite(suiteSchema.parse({ name: 'all-failed', instrument: { id: 'ipip-neo-120', items: 3 }, personas: [{ id: 'p1', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }], baseline: false, models: [{ id: 'openai:poison', baseURL: fake.url, apiKeyEnv: 'K' }], run: { maxAttempts: 1 } }), { outDir: join(dir, 'failed'), env: { K: 'k' } });
  assert.equal(failed.counters.errors, 3);
  assert.equal(failed.analysis.models![0]!.optionProbs, true, 'asked for option probabilities, so labelled so, though every call failed');
});

test('concurrent runs: a second process on the same run and store refuses in one line instead of paying for the same calls; a killed holder is taken over', async () => {
  const base = tempDir();
  const suiteFile = join(base, 'suite.yaml');
  writeFileSync(suiteFile, SIM_SUITE.replace('items: 4', 'items: 60').replace('"sim:"', '"sim:latencyMs=300"') + 'run: { concurrency: 4 }\n');
  const dir = join(base, 'out');
  const first = cliAsync(['run', suiteFile, '--dir', dir, '--quiet']);
  const stored = () => storedCallCount(dir);
  const deadline = Date.now() + 30_000;
  while (stored() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const second = await cliAsync(['run', suiteFile, '--dir', dir, '--quiet']);
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, /run [0-9a-f]{12} is already running in process \d+ on this store .*wait for it to finish/);
  assert.equal(second.stderr.trim().split('\n').length, 1);
  const done = await first;
  assert.equal(done.code, 0, done.stderr);
  const made = Number(/calls this time (\d+)/.exec(done.stdout)![1]);
  assert.equal(made, 120, '60 items, persona and baseline');
  assert.equal(stored(), made, 'every call made once, by one process');
  // A holder killed with SIGKILL leaves a stale claim, which the next run takes over.
  const killedDir = join(base, 'killed');
  const killed = await cliAsync(['run', suiteFile, '--dir', killedDir, '--quiet'], { env: { PERSONA_PROBE_KILL_AFTER_CALLS: '10' } });
  assert.equal(killed.code, null);
  const resumed = await cliAsync(['run', suiteFile, '--dir', killedDir, '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /\(resumed\)/);
});

test('store size: a long persona description is stored once, not copied into every call; oversized suites are refused at load', async () => {
  const base = tempDir();
  const description = `A very thorough persona. ${'She keeps a lighthouse and a ledger of ships. '.repeat(6000)}`; // ~280 kB
  const suiteFile = join(base, 'suite.yaml');
  writeFileSync(suiteFile, `name: big-persona
instrument: { id: ipip-neo-120, items: 30 }
personas:
  - { id: p1, name: Pat, description: ${JSON.stringify(description)}, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
baseline: false
models: ["sim:"]
`);
  const dir = join(base, 'out');
  const r = await cliAsync(['run', suiteFile, '--dir', dir, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const size = statSync(join(dir, 'persona-probe.sqlite')).size + (existsSync(join(dir, 'persona-probe.sqlite-wal')) ? statSync(join(dir, 'persona-probe.sqlite-wal')).size : 0);
  const copied = 30 * description.length;
  assert.ok(size < copied / 5, `store ${size} bytes for 30 calls of a ${description.length}-character description (copied each time: ${copied})`);
  const store = new RunStore(dir, { readOnly: true });
  try {
    const runId = store.listRuns()[0]!.id;
    const key = planFidelity({ suite: suiteSchema.parse({ name: 'big-persona', instrument: { id: 'ipip-neo-120', items: 30 }, personas: [{ id: 'p1', name: 'Pat', description, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }], baseline: false, models: ['sim:'] }), instrument: getInstrument('ipip-neo-120'), optionProbs: [true] })[0]!.key;
    const request = store.taskRequest(runId, key) as { messages: { content: string }[] };
    assert.ok(request.messages[0]!.content.includes(description), 'the stored request reads back whole');
  } finally {
    store.close();
  }
  const huge = join(base, 'huge.yaml');
  writeFileSync(huge, `name: x\n# ${'x'.repeat(5 << 20)}\n`);
  const refused = await cliAsync(['run', huge, '--dir', join(base, 'never')]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /huge\.yaml: 5\.0 MiB is too large for a suite \(at most 4 MiB/);
});

test('viewer: the default side-by-side pairs the two latest runs of one suite, and asks when no two runs are comparable', async () => {
  const dir = tempDir();
  const make = async (name: string, seed: number) => (await runSuite(suiteSchema.parse({ name, instrument: { id: 'ipip-neo-120', items: 3 }, personas: [{ id: 'p1', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }], models: ['sim:'], seed }), { outDir: dir })).runId;
  const { startViewer } = await import('../src/viewer/server.js');
  const selected = async () => {
    const viewer = await startViewer({ dir });
    try {
      const html = await (await fetch(viewer.url)).text();
      return { html, picked: [...html.matchAll(/<option value="\.\|([0-9a-f]{12})" selected>/g)].map((m) => m[1]) };
    } finally {
      await viewer.close();
    }
  };
  const alpha1 = await make('alpha', 1);
  await make('beta', 1);
  const none = await selected();
  assert.deepEqual(none.picked, [], 'nothing comparable: nothing preselected');
  assert.match(none.html, /No two runs of the same suite here: pick the two to compare/);
  await new Promise((r) => setTimeout(r, 5));
  const alpha2 = await make('alpha', 2);
  const pair = await selected();
  assert.deepEqual(new Set(pair.picked), new Set([alpha1, alpha2]), 'the two alpha runs, not the beta one');
  assert.match(pair.html, /Preselected: the two latest runs of <code>alpha<\/code>/);
});
