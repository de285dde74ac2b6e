import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { suiteSchema } from '../src/suite/schema.js';
import { runSuite } from '../src/runner/run.js';
import { readSafetensorsHeader, readTensorF32, writeSafetensors } from '../src/engine/formats/safetensors.js';
import { EngineBackend } from '../src/backends/engine.js';
import { Engine } from '../src/engine/engine.js';
import { familyConfig, makeModel } from './engine-helpers.js';
import { cli, cliAsync, SMOLLM_DIR, tempDir } from './helpers.js';
import { writeRandomModelFolder } from '../src/engine/random-model.js';
import Database from 'better-sqlite3';
import { suiteInstrument } from '../src/suite/instrument.js';
import { declareSuite } from '../src/probes/sim-truths.js';

const config = familyConfig('llama', { layers: 2 });
const model = makeModel(config);
const d = config.hidden_size;

test('engine: runs the fidelity suite with exact option probabilities, with and without interventions (distinct ids, distinct answers)', async () => {
  const dir = tempDir();
  writeSafetensors(join(dir, 'v.safetensors'), { push: { shape: [d], data: Float32Array.from({ length: d }, (_, i) => Math.sin(i)) } });
  writeFileSync(join(dir, 'steer.yaml'), '- hook: blocks.1.hook_resid_post\n  op: add\n  vector: { file: v.safetensors, tensor: push }\n  coef: 8\n');
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(suiteFile, 'name: x\n');
  const suite = suiteSchema.parse({
    name: 'engine-plumbing',
    instrument: { id: 'ipip-neo-120', items: 10, min_coverage: 0 }, // a random-weight model puts ~1e-4 on the options
    personas: [{ id: 'p', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    models: [`engine:${model.dir}`, { id: `engine:${model.dir}`, interventions: 'steer.yaml' }],
  });
  const r = await runSuite(suite, { outDir: join(dir, 'out'), suitePath: suiteFile });
  assert.equal(r.counters.errors, 0);
  assert.equal(r.counters.calls, 40);
  assert.equal(r.analysis.simulated, false);
  assert.equal(r.analysis.models!.length, 2);
  assert.ok(r.analysis.models!.every((m) => m.optionProbs));
  assert.notEqual(r.analysis.models![0]!.model, r.analysis.models![1]!.model);
  assert.notDeepEqual(JSON.stringify(r.analysis.models![0]!.methods), JSON.stringify(r.analysis.models![1]!.methods), "steering changes the scores");

  const plain = await EngineBackend.create({ model: model.dir });
  const steered = await EngineBackend.create({ model: model.dir, interventionsFile: join(dir, 'steer.yaml') });
  assert.notEqual(plain.id, steered.id);
  const messages = [{ role: 'user' as const, content: 'Rate 1-5: "I am the life of the party."' }];
  const a = await plain.optionProbs({ messages, options: ['1', '2', '3', '4', '5'] });
  const b = await steered.optionProbs({ messages, options: ['1', '2', '3', '4', '5'] });
  assert.ok(Math.abs(a.probs.reduce((x, y) => x + y) - 1) < 1e-9);
  assert.notDeepEqual(a.probs, b.probs);
  // Greedy chat is deterministic; seeded sampling repeats with the seed and varies across seeds.
  const g1 = await plain.chat({ messages, sampling: { temperature: 0, maxTokens: 6 } });
  const g2 = await plain.chat({ messages, sampling: { temperature: 0, maxTokens: 6 } });
  assert.equal(g1.text, g2.text);
  const s = (seed: number) => plain.chat({ messages, sampling: { temperature: 1.5, maxTokens: 12, seed } });
  assert.equal((await s(1)).text, (await s(1)).text);
  const texts = new Set(await Promise.all([1, 2, 3, 4].map(async (k) => (await s(k)).text)));
  assert.ok(texts.size > 1, 'different seeds give different samples');
});

test('trace --chat writes hooks, logits and input_ids named exactly, in float32 [tokens, width]', () => {
  const out = join(tempDir(), 'acts.safetensors');
  const r = cli(['trace', '--model', model.dir, '--text', 'Who are you, really?', '--chat', '--hooks', 'blocks.*.hook_resid_post,ln_final.hook_normalized', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const h = readSafetensorsHeader(out);
  const names = [...h.tensors.keys()];
  assert.deepEqual(names, ['blocks.0.hook_resid_post', 'blocks.1.hook_resid_post', 'ln_final.hook_normalized', 'logits', 'input_ids']);
  const ids = h.tensors.get('input_ids')!;
  assert.equal(ids.dtype, 'I64');
  const T = ids.shape[0]!;
  assert.ok(T > 10, 'chat template applied around the message');
  assert.deepEqual(h.tensors.get('blocks.1.hook_resid_post')!.shape, [T, d]);
  assert.equal(h.tensors.get('blocks.1.hook_resid_post')!.dtype, 'F32');
  assert.deepEqual(h.tensors.get('logits')!.shape, [T, config.vocab_size]);
  const firstIds = new BigInt64Array(readFileSync(out).buffer.slice(ids.fileOffset, ids.fileOffset + 16));
  assert.equal(firstIds[0], 1n); // <|im_start|>
  // --text without --chat is tokenized as is.
  const plain = join(tempDir(), 'plain.safetensors');
  assert.equal(cli(['trace', '--model', model.dir, '--text', 'Who are you, really?', '--hooks', 'hook_embed', '--out', plain]).code, 0);
  assert.ok(readSafetensorsHeader(plain).tensors.get('input_ids')!.shape[0]! < T);
  assert.ok(Math.abs(readTensorF32(readSafetensorsHeader(plain), 'hook_embed').data[0]!) > 0);
});

function brokenCopy(mutate: (dir: string) => void): string {
  const dir = join(tempDir(), 'm');
  mkdirSync(dir);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']) if (existsSync(join(model.dir, f))) copyFileSync(join(model.dir, f), join(dir, f));
  mutate(dir);
  return dir;
}

test('bad input: each gives exit 2 and one line naming what is wrong', () => {
  const trace = (dir: string, extra: string[] = []) => cli(['trace', '--model', dir, '--text', 'hi', '--out', join(tempDir(), 'x.safetensors'), ...extra]);
  const cases: [string, ReturnType<typeof cli>, RegExp][] = [
    ['missing weights', trace(brokenCopy((dir) => writeFileSync(join(dir, 'model.safetensors'), ''))), /truncated safetensors file/],
    ['missing folder', trace('/nonexistent/model'), /not a model folder/],
    ['truncated safetensors', trace(brokenCopy((dir) => truncateSync(join(dir, 'model.safetensors'), statSync(join(dir, 'model.safetensors')).size - 100))), /truncated: tensor .* ends at byte/],
    [
      'wrong shape',
      trace(brokenCopy((dir) => {
        const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...c, intermediate_size: c.intermediate_size + 1 }));
      })),
      /weight model\.layers\.0\.mlp\.gate_proj\.weight has shape \[128, 64\], expected \[129, 64\]/,
    ],
    [
      'unsupported architecture',
      trace(brokenCopy((dir) => {
        const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...c, model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }));
      })),
      /unsupported architecture "gpt2"/,
    ],
    ['unknown hook', trace(model.dir, ['--hooks', 'blocks.0.hook_resid_sideways']), /unknown hook name "blocks\.0\.hook_resid_sideways"/],
  ];
  const dir = tempDir();
  writeSafetensors(join(dir, 'wide.safetensors'), { v: { shape: [d + 1], data: new Float32Array(d + 1).fill(1) } });
  writeFileSync(join(dir, 'iv.yaml'), '- hook: blocks.0.hook_resid_post\n  op: add\n  vector: { file: wide.safetensors, tensor: v }\n');
  cases.push(['vector of the wrong width', trace(model.dir, ['--interventions', join(dir, 'iv.yaml')]), new RegExp(`iv\\.yaml:1: \\[0\\]: vector has width ${d + 1}, the model's d_model is ${d}`)]);
  writeFileSync(join(dir, 'cap.yaml'), '- hook: blocks.0.hook_resid_post\n  op: cap\n  vector: { file: wide.safetensors, tensor: v }\n');
  cases.push(['cap without bounds', trace(model.dir, ['--interventions', join(dir, 'cap.yaml')]), /cap\.yaml:1: \[0\]: cap needs min, max or both/]);
  for (const [what, r, pattern] of cases) {
    assert.equal(r.code, 2, `${what}: exit ${r.code}, stderr ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: one line, got ${r.stderr}`);
    assert.match(lines[0]!, pattern, what);
  }
});

test('inline and external-data loading give identical outputs (the >2 GB path, forced on a small model)', async () => {
  const cache = tempDir();
  process.env.PERSONA_PROBE_CACHE = cache;
  const inline = await Engine.load(model.dir, { weights: 'inline' });
  const external = await Engine.load(model.dir, { weights: 'external' });
  try {
    const ids = inline.tokenizer.encode('Same weights, two ways in.');
    const a = await inline.forward(ids, { logits: 'all', hooks: ['blocks.1.hook_mlp_out'] });
    const b = await external.forward(ids, { logits: 'all', hooks: ['blocks.1.hook_mlp_out'] });
    assert.deepEqual(a.logits, b.logits);
    assert.deepEqual(a.hooks.get('blocks.1.hook_mlp_out'), b.hooks.get('blocks.1.hook_mlp_out'));
  } finally {
    delete process.env.PERSONA_PROBE_CACHE;
    await inline.dispose();
    await external.dispose();
  }
});

test('hf:owner/repo downloads a model folder once, checks each LFS file against the SHA-256 the server states, and refuses a corrupted one', async () => {
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const { Engine } = await import('../src/engine/engine.js');
  let corrupt = false;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const m = /^\/acme\/tiny\/resolve\/main\/(.+)$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const file = m && join(model.dir, m[1]!);
    requests.push(m?.[1] ?? req.url ?? '');
    if (!file || !existsSync(file)) return void res.writeHead(404).end();
    let body = readFileSync(file);
    if (m![1]!.endsWith('.safetensors')) {
      // Like the Hub: LFS files redirect, and the redirect carries the content hash.
      if (!req.url!.includes('?cdn')) {
        return void res.writeHead(302, { location: `${req.url}?cdn`, 'x-linked-etag': `"${createHash('sha256').update(body).digest('hex')}"` }).end();
      }
      if (corrupt) body = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from([body[body.length - 1]! ^ 1])]);
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
  try {
    const cache = tempDir();
    const engine = await Engine.load('hf:acme/tiny', { hubCacheDir: cache });
    const local = await Engine.load(model.dir);
    const ids = local.tokenizer.encode('same model, two routes');
    assert.deepEqual((await engine.forward(ids)).logits, (await local.forward(ids)).logits);
    const before = requests.length;
    await (await Engine.load('hf:acme/tiny', { hubCacheDir: cache })).dispose();
    assert.equal(requests.length, before, 'second load is served from the cache, without a request');
    corrupt = true;
    // Async: the server answering it lives in this process.
    const r = await cliAsync(['trace', '--model', 'hf:acme/tiny', '--text', 'x', '--out', join(tempDir(), 'x.safetensors')], { env: { HF_ENDPOINT: process.env.HF_ENDPOINT, HOME: tempDir() } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /checksum mismatch for model\.safetensors: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}; the download was deleted/);
    await engine.dispose();
    await local.dispose();
  } finally {
    delete process.env.HF_ENDPOINT;
    server.close();
  }
});

test('repetitions: an option-probability inventory is asked once per item (its requests carry no seed), with no spread and a note; sampled answers repeat with their own seeds', async () => {
  const suite = suiteSchema.parse({
    name: 'engine-repetitions',
    instrument: { id: 'ipip-neo-120', items: 6, min_coverage: 0, samples: 1 },
    personas: [{ id: 'p', name: 'Pat', target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    methods: [{ id: 'sp', kind: 'system-prompt', template: 'You are {name}. You are {traits}.' }],
    baseline: false,
    repetitions: 3,
    models: [`engine:${model.dir}`, 'sim:', { id: 'sim:', name: 'sampled', logprobs: false }],
  });
  const r = await runSuite(suite, { outDir: tempDir() });
  assert.equal(r.counters.errors, 0);
  const [engine, sim, sampled] = r.analysis.models!;
  // 6 items once on the engine and on the simulated panel's option probabilities; 6 items x 3 seeded repetitions sampled.
  assert.equal(r.counters.calls, 6 + 6 + 18);
  assert.deepEqual({ asked: engine!.repetitions.asked, administered: engine!.repetitions.administered }, { asked: 3, administered: 1 });
  assert.match(engine!.repetitions.note ?? '', /repetitions would be the same request, so each item was asked once and no run-to-run spread is reported/);
  const p = engine!.methods[0]!.personas[0]!;
  assert.equal(p.administrations, 1);
  for (const d of ['O', 'C', 'E', 'A', 'N'] as const) assert.ok(Number.isNaN(p.spread[d]), 'no spread from one administration');
  assert.equal(sim!.repetitions.administered, 1);
  assert.match(sim!.repetitions.note ?? '', /carries no seed/);
  assert.equal(sampled!.repetitions.administered, 3);
  assert.equal(sampled!.repetitions.note, undefined);
  const s = sampled!.methods[0]!.personas[0]!;
  assert.equal(s.administrations, 3);
  assert.ok((['O', 'C', 'E', 'A', 'N'] as const).every((d) => Number.isFinite(s.spread[d])), 'seeded repetitions have a spread');
});

test('repetitions that vary the prompt on a deterministic backend: options listed in reverse (mapped back) and persona paraphrases are distinct requests, and the spread they give names its source', async () => {
  const suite = suiteSchema.parse({
    name: 'engine-variants',
    instrument: { id: 'ipip-neo-120', items: 6, min_coverage: 0, variants: [{ id: 'standard', postamble: 'Reply with the number only.' }, { id: 'reversed', postamble: 'Reply with the number only.', reverse_options: true }] },
    personas: [{ id: 'p', name: 'Pat', description: 'A calm night-shift nurse.', paraphrases: ['A nurse who works nights and stays calm.'], target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }],
    methods: [{ id: 'sp', kind: 'system-prompt', template: 'You are {name}. {description} You are {traits}.' }],
    baseline: false,
    models: [`engine:${model.dir}`, 'sim:'],
  });
  const out = tempDir();
  const r = await runSuite(suite, { outDir: out });
  assert.equal(r.counters.errors, 0);
  // 6 items x 2 variants x 2 wordings, on each model: every request distinct, none served twice.
  assert.equal(r.counters.calls, 2 * 24, JSON.stringify(r.counters));
  const db = new Database(join(out, 'persona-probe.sqlite'), { readonly: true });
  const requests = (db.prepare("SELECT request_json AS q FROM calls WHERE kind = 'optionProbs' AND backend LIKE 'engine:%'").all() as { q: string }[]).map((x) => x.q);
  db.close();
  assert.equal(requests.length, 24);
  assert.equal(new Set(requests).size, requests.length, 'no two administrations send the same request');
  assert.ok(requests.some((q) => q.includes('1 = Very Accurate')) && requests.some((q) => q.includes('1 = Very Inaccurate')), 'the reversed variant lists the last option first');
  assert.ok(requests.some((q) => q.includes('A nurse who works nights and stays calm.')), 'the paraphrase is the persona prompt of its administrations');
  const [engine, sim] = r.analysis.models!;
  for (const m of [engine!, sim!]) {
    const p = m.methods[0]!.personas[0]!;
    assert.equal(p.administrations, 4);
    assert.ok((['O', 'C', 'E', 'A', 'N'] as const).every((d) => Number.isFinite(p.spread[d])), `${m.model}: four different prompts have a spread`);
    assert.deepEqual(m.repetitions.varies, ['prompt variants (standard; reversed, options reversed)', 'persona paraphrases']);
    for (const d of ['O', 'C', 'E', 'A', 'N'] as const) assert.equal(m.methods[0]!.reliability[d]!.rows, 4, 'alpha and omega over the four distinct administrations');
  }
  // The simulated panel reads the order the options are listed in: with the mapping undone, reversing them moves nothing but noise.
  const adm = await import('../src/probes/fidelity.js');
  const tasks = adm.planFidelity({ suite, instrument: suiteInstrument(suite), optionProbs: [true] });
  const { SimulatedPanel } = await import('../src/backends/sim.js');
  const panel = new SimulatedPanel({ noise: 0, itemNoise: 0 });
  declareSuite(panel, suite);
  const responses = new Map<string, unknown>();
  for (const t of tasks) if (t.kind === 'optionProbs') responses.set(t.key, await panel.optionProbs(t.request, undefined, t.oracle));
  const sheets = adm.assembleAdministrations(tasks, responses, 'expected', suiteInstrument(suite).options).get(0)!;
  const byVariant = (v: string) => sheets.find((a) => a.variant === v)!.answers;
  assert.deepEqual(byVariant('reversed'), byVariant('standard'), 'the same answers once mapped back');
  // The mapping back, on its own: all mass on listed option 1 of a reversed listing is the instrument's option 5; so is a reply "1" or the label.
  const rev = tasks.find((t) => t.kind === 'optionProbs' && t.reversed)!;
  const one = adm.assembleAdministrations([rev], new Map([[rev.key, { probs: [1, 0, 0, 0, 0], coverage: 1 }]]), 'expected', suiteInstrument(suite).options).get(0)![0]!;
  assert.equal(one.answers[rev.itemId], 5);
  const chatTask = { ...rev, kind: 'chat' as const, sample: 0, request: { messages: rev.request.messages } };
  for (const text of ['1', 'Very Accurate'])
    assert.equal(adm.assembleAdministrations([chatTask], new Map([[rev.key, { text, finishReason: 'stop' }]]), 'expected', suiteInstrument(suite).options).get(0)![0]!.answers[rev.itemId], 5, text);
});

test('fresh means fresh: a model rebuilt at the same path with other weights is a new run with new numbers; --fresh makes every call again', async () => {
  const root = tempDir();
  const dir = join(root, 'model');
  const config = familyConfig('llama', { layers: 1 });
  writeRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 1 });
  const suiteFile = join(root, 'suite.yaml');
  writeFileSync(suiteFile, `name: rebuilt\ninstrument: { id: ipip-neo-120, items: 5, min_coverage: 0 }\npersonas:\n  - { id: p, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }\nbaseline: false\nmodels: ["engine:${dir}"]\n`);
  const out = join(root, 'out');
  const first = await cliAsync(['run', suiteFile, '--dir', out, '--quiet']);
  assert.equal(first.code, 0, first.stderr);
  const again = await cliAsync(['run', suiteFile, '--dir', out, '--quiet']);
  assert.match(again.stdout, /\(resumed\) · calls this time 0 · served from store 5/, 'the same weights: served from the store');
  // Same path, same shape, other weights.
  writeRandomModelFolder(dir, config, SMOLLM_DIR, { seed: 2 });
  const rebuilt = await cliAsync(['run', suiteFile, '--dir', out, '--quiet']);
  assert.equal(rebuilt.code, 0, rebuilt.stderr);
  assert.match(rebuilt.stdout, /calls this time 5 · served from store 0/, 'new weights: new calls');
  const idOf = (s: string) => /run ([0-9a-f]{12})/.exec(s)![1]!;
  assert.notEqual(idOf(rebuilt.stdout), idOf(first.stdout), 'a new run id');
  const scores = (s: string) => /^p +(.*)$/m.exec(s)![1];
  assert.notEqual(scores(rebuilt.stdout), scores(first.stdout), 'other numbers');
  // --fresh ignores the store, and what it gets replaces what was stored.
  const fresh = await cliAsync(['run', suiteFile, '--dir', out, '--quiet', '--fresh']);
  assert.match(fresh.stdout, /calls this time 5 · served from store 0/);
  assert.equal(scores(fresh.stdout), scores(rebuilt.stdout), 'a deterministic backend gives the same numbers again');
});

test('prefix reuse: the items of an inventory under one persona run only their own tokens on the kept template and persona prompt, with the option probabilities of running every prompt whole (within 1e-5), and so do requests in flight together, packed into one call; prefixReuse: false runs them whole', async () => {
  const { getInstrument } = await import('../src/instruments/index.js');
  const { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } = await import('../src/probes/fidelity.js');
  const instrument = getInstrument('ipip-neo-120');
  const system = { role: 'system' as const, content: 'You are Mara Voss. Works alone among the boxes, prefers written notes to conversation. Answer every question as Mara Voss would.' };
  const items = instrument.items.slice(0, 6).map((it) => [system, { role: 'user' as const, content: itemPrompt(it, instrument.options, DEFAULT_VARIANTS[0]!) }]);
  const reuse = await EngineBackend.create({ model: model.dir });
  const whole = await EngineBackend.create({ model: model.dir, prefixReuse: false });
  let worst = 0;
  for (const messages of items) {
    const a = (await reuse.optionProbs({ messages, options: OPTION_DIGITS })).probs;
    const b = (await whole.optionProbs({ messages, options: OPTION_DIGITS })).probs;
    a.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - b[k]!))));
  }
  assert.ok(worst < 1e-5, `largest option-probability difference ${worst}`);
  // The first item runs whole; from the second on, the shared prefix (template and persona) is kept.
  assert.ok(reuse.prefix.reused >= 5 * 30, `reused ${reuse.prefix.reused} tokens`);
  // Every prompt token is either run or served from the kept prefix (the prefix runs once more, on its own, when first kept).
  assert.ok(reuse.prefix.evaluated + reuse.prefix.reused > whole.prefix.evaluated && reuse.prefix.evaluated < whole.prefix.evaluated - 100, `evaluated ${reuse.prefix.evaluated} (reused ${reuse.prefix.reused}) against ${whole.prefix.evaluated}`);
  assert.equal(whole.prefix.reused, 0);
  // Requests in flight together (the runner's concurrency) run as one packed call over the prefix they share, with the same numbers.
  for (const prefixReuse of [true, false]) {
    const together = await EngineBackend.create({ model: model.dir, prefixReuse });
    const probs = await Promise.all(items.map((messages) => together.optionProbs({ messages, options: OPTION_DIGITS })));
    let gap = 0;
    for (const [i, messages] of items.entries()) {
      const b = (await whole.optionProbs({ messages, options: OPTION_DIGITS })).probs;
      probs[i]!.probs.forEach((x, k) => (gap = Math.max(gap, Math.abs(x - b[k]!))));
    }
    assert.deepEqual(together.packed, { calls: 1, prompts: items.length });
    assert.ok(gap < 1e-5, `packed${prefixReuse ? ' over the shared prefix' : ''}: largest difference ${gap}`);
    if (prefixReuse) assert.ok(together.prefix.reused >= items.length * 30, `reused ${together.prefix.reused}`);
    else assert.equal(together.prefix.reused, 0);
  }
  // A packed call that fails does not fail its requests together: each runs alone and gets its own answer.
  const forward = Engine.prototype.forward;
  Engine.prototype.forward = function (this: Engine, ids, options) {
    if (options?.packing && new Set(options.packing.seqs).size > 1) return Promise.reject(new Error('packed call failed'));
    return forward.call(this, ids, options);
  };
  try {
    const alone = await EngineBackend.create({ model: model.dir });
    const probs = await Promise.all(items.slice(0, 3).map((messages) => alone.optionProbs({ messages, options: OPTION_DIGITS })));
    assert.deepEqual(alone.packed, { calls: 0, prompts: 0 });
    for (const [i, messages] of items.slice(0, 3).entries()) {
      const b = (await whole.optionProbs({ messages, options: OPTION_DIGITS })).probs;
      probs[i]!.probs.forEach((x, k) => assert.ok(Math.abs(x - b[k]!) < 1e-5, `item ${i}, option ${k + 1}: ${x} against ${b[k]}`));
    }
  } finally {
    Engine.prototype.forward = forward;
  }
});
