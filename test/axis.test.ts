import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { capConfig, DEFAULT_ROLE, loadRoles, saveAxis } from '../src/probes/axis.js';
import { buildAxis } from '../src/commands/axis.js';
import { builtinTraits } from '../src/probes/traits.js';
import { storedMean } from '../src/backends/types.js';
import { loadInterventionFile } from '../src/engine/interventions.js';
import { percentile } from '../src/metrics/vectors.js';
import { familyConfig, makeModel, withEngine } from './engine-helpers.js';
import { cli, tempDir } from './helpers.js';
import { topEigenvector } from './linalg.js';

test('the project ships 12 trait definitions (ten Big Five poles, sycophancy, humor) and over 100 role archetypes, all its own', () => {
  const traits = builtinTraits();
  const poles = ['openness', 'conscientiousness', 'extraversion', 'agreeableness', 'neuroticism'].flatMap((d) => [`${d}-high`, `${d}-low`]);
  for (const id of [...poles, 'sycophancy', 'humor']) {
    const t = traits.get(id);
    assert.ok(t, id);
    assert.equal(t.pairs.length, 5);
    assert.ok(t.questions.length >= 20 && t.questions.length <= 40);
    assert.ok(t.rubric.length > 20);
  }
  // The low pole is the high pole's instructions swapped.
  assert.deepEqual(traits.get('extraversion-low')!.pairs[0], { positive: traits.get('extraversion-high')!.pairs[0]!.negative, negative: traits.get('extraversion-high')!.pairs[0]!.positive });
  const roles = loadRoles();
  assert.ok(roles.roles.length >= 100, `${roles.roles.length} roles`);
  assert.ok(roles.instructions.length >= 3);
  assert.ok(roles.instructions.every((t) => t.includes('{name}')));
  assert.equal(new Set(roles.roles.map((r) => r.description)).size, roles.roles.length, 'every role is described in its own words');
});

test('axis build: the axis is mean(default) - mean(role vectors) of the captured activations; PC1 matches an eigen-decomposition; cap-config floors at the percentile and holds', async () => {
  const config = familyConfig('qwen2', { layers: 2 });
  const model = makeModel(config);
  const d = config.hidden_size;
  const dir = tempDir();
  const store = join(dir, 'store');
  const r = await buildAxis({ outDir: store, model: model.dir, roleLimit: 8, instructionLimit: 2, questionLimit: 3, maxTokens: 6 });
  assert.equal(r.counters.errors, 0);
  assert.equal(r.roles.length, 8);
  // The role map names every point: each role and the default assistant carry a text label.
  const { axisPage } = await import('../src/report/mechanism-html.js');
  const page = await axisPage(r);
  const labels = [...page.body.matchAll(/<g class="mark-text role-mark role_labels_marks"[^>]*>([\s\S]*?)<\/g>/g)].map((m) => m[1]!).join('');
  for (const id of r.roles) assert.ok(labels.includes(`>${id}<`), `the role map labels ${id}`);
  assert.ok(labels.includes('>default assistant<'));
  const db = new Database(join(store, 'persona-probe.sqlite'), { readonly: true });
  const rows = db.prepare("SELECT t.task_key AS k, c.response_json AS r FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ? AND t.task_key LIKE '%|acts'").all(r.runId) as { k: string; r: string }[];
  db.close();
  const byRole = new Map<string, unknown[]>();
  for (const row of rows) {
    const role = row.k.split('|')[1]!;
    byRole.set(role, [...(byRole.get(role) ?? []), JSON.parse(row.r)]);
  }
  assert.equal(byRole.get(DEFAULT_ROLE)!.length, 3);
  for (const layer of [0, 1]) {
    const hook = `blocks.${layer}.hook_resid_post`;
    const mean = (xs: unknown[]) => Array.from({ length: d }, (_, i) => xs.reduce<number>((s, x) => s + storedMean(x, hook)![i]!, 0) / xs.length);
    const roleVectors = r.roles.map((id) => mean(byRole.get(id)!));
    const rolesMean = Array.from({ length: d }, (_, i) => roleVectors.reduce((s, v) => s + v[i]!, 0) / roleVectors.length);
    const expected = mean(byRole.get(DEFAULT_ROLE)!).map((x, i) => x - rolesMean[i]!);
    const axis = r.axis.get(layer)!;
    for (let i = 0; i < d; i++) assert.ok(Math.abs(axis[i]! - expected[i]!) < 1e-5, `layer ${layer} [${i}]`);
    // PC1 of the role vectors vs a Jacobi eigen-decomposition of their covariance.
    const centred = roleVectors.map((v) => v.map((x, i) => x - rolesMean[i]!));
    const cov = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => centred.reduce((s, v) => s + v[i]! * v[j]!, 0)));
    const top = topEigenvector(cov);
    const cosAxis = top.reduce((s, x, i) => s + x * expected[i]!, 0) / (Math.hypot(...top) * Math.hypot(...expected));
    const l = r.layers.find((x) => x.layer === layer)!;
    assert.ok(Math.abs(Math.abs(l.cosinePc1) - Math.abs(cosAxis)) < 1e-5, `cos(axis, PC1): ${l.cosinePc1} vs ${cosAxis}`);
    const sum = l.explained.reduce((a, b) => a + b, 0);
    assert.ok(sum <= 1 + 1e-9 && l.explained.every((x, i) => i === 0 || x <= l.explained[i - 1]! + 1e-9));
    // The role map holds every role and the default.
    assert.equal(r.map[layer]!.length, 9);
  }
  const file = join(dir, 'axis.safetensors');
  saveAxis(file, r);
  const yaml = capConfig(file, [1], 25, 'answer');
  assert.match(yaml, /A FLOOR/);
  assert.match(yaml, /each averaged over its tokens/);
  // Per token (the default calibration): each answer's token projections average to that answer's projection
  // (projection is linear), and the floor is the percentile of all of them.
  for (const [l, answers] of Object.entries(r.defaultTokenProjections!)) {
    assert.equal(answers.length, r.defaultProjections[Number(l)]!.length);
    answers.forEach((tokens, i) => {
      const mean = tokens.reduce((a, b) => a + b, 0) / tokens.length;
      const byAnswer = r.defaultProjections[Number(l)]![i]!;
      assert.ok(Math.abs(mean - byAnswer) < 1e-4 * Math.max(1, Math.abs(byAnswer)), `layer ${l} answer ${i}: ${mean} vs ${byAnswer}`);
    });
  }
  const perToken = capConfig(file, [1], 25);
  assert.match(perToken, /every token of the default assistant's own answers/);
  const tokenFloor = percentile(r.defaultTokenProjections![1]!.flat(), 25);
  assert.match(perToken, new RegExp(`min: ${Number(tokenFloor.toPrecision(7))}\\b`.replace('.', '\\.')));
  const capFile = join(dir, 'capped.yaml');
  writeFileSync(capFile, yaml);
  const floor = percentile(r.defaultProjections[1]!, 25);
  await withEngine(model.dir, async (engine) => {
    const [cap] = loadInterventionFile(capFile, engine.spec);
    assert.equal(cap!.op, 'cap');
    assert.ok(Math.abs(cap!.min - floor) < 1e-5 * Math.abs(floor));
    const unit = Float32Array.from(cap!.vector, (x) => x / Math.hypot(...cap!.vector));
    // A role-played prompt, capped: every position's projection at the capped layer stays on or above the floor.
    const ids = engine.tokenizer.chatIds([{ role: 'system', content: 'You are a pirate captain.' }, { role: 'user', content: 'Who are you?' }]);
    let below = 0;
    let checked = 0;
    await engine.generate(ids, { maxTokens: 8, temperature: 0, interventions: [cap!], hooks: ['blocks.1.hook_resid_post'], onHooks: (h) => {
      const rowsH = h.get('blocks.1.hook_resid_post')!;
      for (let t = 0; t < rowsH.length / d; t++) {
        let p = 0;
        for (let i = 0; i < d; i++) p += rowsH[t * d + i]! * unit[i]!;
        if (p < cap!.min - 1e-3 * Math.abs(cap!.min)) below++;
        checked++;
      }
    } });
    assert.ok(checked > ids.length);
    assert.equal(below, 0);
  });
});

test('axis build with the assistant-axis preset: the default pools no system prompt and four neutral ones, a role-play judge keeps only full answers (the axis uses exactly those); cap-config defaults to the paper\'s band of depth', async () => {
  const { startFakeOpenAI } = await import('./fake-openai-server.js');
  const { bandLayers, NEUTRAL_PROMPTS } = await import('../src/probes/axis.js');
  const { computeAxis } = await import('../src/probes/axis.js');
  // The band: Qwen3-32B's 64 layers give the paper's 46..53; a 30-layer model 22..25.
  assert.deepEqual(bandLayers(64), [46, 47, 48, 49, 50, 51, 52, 53]);
  assert.deepEqual(bandLayers(30), [22, 23, 24, 25]);
  assert.throws(() => bandLayers(30, [0.9, 0.2]), /two fractions 0 <= from <= to <= 1/);
  const model = makeModel(familyConfig('qwen2', { layers: 2 }));
  const dir = tempDir();
  const server = await startFakeOpenAI();
  process.env.OPENAI_BASE_URL = server.url;
  try {
    const r = await buildAxis({ outDir: join(dir, 'store'), model: model.dir, roleLimit: 8, instructionLimit: 2, questionLimit: 3, maxTokens: 6, neutralPrompts: true, judge: 'openai:roleplay-by-text' });
    assert.equal(r.counters.errors, 0);
    assert.equal(r.neutralPrompts, NEUTRAL_PROMPTS.length);
    const v = r.rolePlay!;
    assert.equal(v.full + v.partial + v.none + v.unparsed, 8 * 2 * 3);
    assert.ok(v.full > 0 && v.partial + v.none > 0, JSON.stringify(v));
    // The axis is computed from the full answers only, and the default from all 3 x (1 + 4) of its answers.
    const { RunStore } = await import('../src/store/store.js');
    const store = new RunStore(join(dir, 'store'), { readOnly: true });
    try {
      const responses = store.taskResponses(r.runId);
      const { parseRolePlay } = await import('../src/probes/axis.js');
      const { textOf } = await import('../src/probes/dialogue.js');
      const jobs = [...responses.keys()].filter((k) => k.endsWith('|acts')).map((k) => ({ key: k.slice(0, -'|acts'.length), role: k.split('|')[1]! }));
      assert.equal(jobs.filter((j) => j.role === DEFAULT_ROLE).length, 3 * (1 + NEUTRAL_PROMPTS.length));
      const full = jobs.filter((j) => j.role === DEFAULT_ROLE || parseRolePlay(textOf(responses.get(`${j.key}|roleplay`)) ?? '') === 'full');
      const expected = computeAxis(responses, r.roles, full, 5);
      for (const [l, a] of expected.axis) assert.deepEqual([...r.axis.get(l)!], [...a]);
    } finally {
      store.close();
    }
    // cap-config without --layers caps the band: on this 2-layer model, layer 1.
    const file = join(dir, 'axis.safetensors');
    saveAxis(file, r);
    const capped = cli(['axis', 'cap-config', '--axis', file]);
    assert.equal(capped.code, 0, capped.stderr);
    assert.match(capped.stdout, /^capping layers 1: 0\.72-0\.83 of the model's 2 layers/m);
    assert.match(capped.stdout, /hook: blocks\.1\.hook_resid_post/);
    assert.doesNotMatch(capped.stdout, /blocks\.0\.hook_resid_post/);
    const noJudge = cli(['axis', 'build', '--model', `engine:${model.dir}`, '--out', join(dir, 'a.safetensors'), '--preset', 'assistant-axis']);
    assert.equal(noJudge.code, 2);
    assert.match(noJudge.stderr.trim(), /the assistant-axis preset keeps only answers that fully play their role, which a judge decides: pass --judge MODEL$/);
  } finally {
    delete process.env.OPENAI_BASE_URL;
    await server.close();
  }
});
