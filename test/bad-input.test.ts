import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, tempDir } from './helpers.js';
import { parseSuite } from '../src/suite/load.js';

const GOOD = `name: ok
instrument: { id: ipip-neo-120, items: 3 }
personas:
  - id: p1
    name: Pat
    target: { O: high, C: 3, E: low, A: 4, N: very low }
models: ["sim:"]
`;

function runBad(yaml: string, env: NodeJS.ProcessEnv = {}, extra: string[] = []) {
  const dir = tempDir();
  const file = join(dir, 'suite.yaml');
  writeFileSync(file, yaml);
  const out = join(dir, 'out');
  const r = cli(['run', file, '--out', out, ...extra], { env });
  return { ...r, out, file };
}

function assertOneLineFailure(r: { code: number | null; stderr: string; stdout: string; out: string }, pattern: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
  assert.ok(!existsSync(r.out), 'nothing may be written for bad input');
  assert.equal(r.stdout, '');
}

test('malformed YAML: file and line named, nothing written', () => {
  const r = runBad('name: x\npersonas: [\n  - id: a\n');
  assertOneLineFailure(r, /suite\.yaml:\d+: malformed YAML/);
});

test('schema errors name the file, the line and the field', () => {
  const r = runBad(GOOD.replace('E: low', 'E: loud'));
  assertOneLineFailure(r, /suite\.yaml:6: personas\[0\]\.target\.E: expected a number 1\.\.5 or one of/);
  const unknownField = runBad(GOOD.replace('    name: Pat', '    name: Pat\n    mood: grumpy'));
  assertOneLineFailure(unknownField, /suite\.yaml:4: personas\[0\]: unknown field "mood"/);
  assert.throws(() => parseSuite(GOOD.replace('name: ok\n', ''), 'x.yaml'), /x\.yaml:1: name: missing required field/);
});

test('unknown instrument, unknown backend, missing API key, unreadable model path: one line each, exit non-zero, no output', () => {
  assertOneLineFailure(runBad(GOOD.replace('id: ipip-neo-120', 'id: neo-ffi-999')), /suite\.yaml:2: instrument\.id: unknown instrument "neo-ffi-999"/);
  assertOneLineFailure(runBad(GOOD.replace('"sim:"', '"gemini:pro"')), /suite\.yaml:7: models\[0\]: unknown backend "gemini"/);
  assertOneLineFailure(runBad(GOOD, { OPENAI_API_KEY: '', OPENAI_BASE_URL: '' }, ['--model', 'openai:gpt-4o-mini']), /missing API key for openai:gpt-4o-mini: set the environment variable OPENAI_API_KEY/);
  assertOneLineFailure(runBad(GOOD, { ANTHROPIC_API_KEY: '' }, ['--model', 'anthropic:claude-3-5-haiku-latest']), /missing API key .*ANTHROPIC_API_KEY/);
  assertOneLineFailure(runBad(GOOD, {}, ['--model', 'llamacpp:/nonexistent/model.gguf']), /llamacpp: model file not found: \/nonexistent\/model\.gguf/);
  const notGguf = join(tempDir(), 'fake.gguf');
  writeFileSync(notGguf, 'this is not a model');
  assertOneLineFailure(runBad(GOOD, {}, ['--model', `llamacpp:${notGguf}`]), /not a GGUF file/);
});

test('a missing suite file and an unknown command are one-line errors', () => {
  const r = cli(['run', '/nonexistent/suite.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr.trim(), /^persona-probe: \/nonexistent\/suite\.yaml: cannot read suite file \(ENOENT\)$/);
  const u = cli(['frobnicate']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});

const STICKY = `name: sticky
instrument: { id: ipip-neo-120 }
personas:
  - { id: p1, name: Pat, target: { O: 4, C: 3, E: 2, A: 4, N: 2 } }
judges:
  - { id: strict, model: "sim:" }
stickiness:
  conditions:
    - { id: prompted, persona: p1 }
    - { id: bare, persona: p1, method: none }
  attacks: [identity-challenge, slow-drift]
  retention: { judge: strict }
  compare: [[prompted, bare]]
models: ["sim:"]
`;

test('a stickiness block naming an attack family, judge, condition, persona or method that does not exist fails before any call, naming it', () => {
  assert.ok(parseSuite(STICKY, 'ok.yaml').stickiness, 'the valid suite parses');
  assertOneLineFailure(runBad(STICKY.replace('slow-drift]', 'slow-drfit]')), /suite\.yaml:11: stickiness\.attacks\[1\]: unknown attack family "slow-drfit" \(known: .*"slow-drift"/);
  assertOneLineFailure(runBad(STICKY.replace('judge: strict }', 'judge: lenient }')), /suite\.yaml:12: stickiness\.retention\.judge: unknown judge "lenient" \(judges: "strict"\)/);
  assertOneLineFailure(runBad(STICKY.replace('[[prompted, bare]]', '[[prompted, trained]]')), /suite\.yaml:13: stickiness\.compare\[0\]\[1\]: unknown condition "trained" \(conditions: "prompted", "bare"\)/);
  assertOneLineFailure(runBad(STICKY.replace('persona: p1, method', 'persona: p2, method')), /suite\.yaml:10: stickiness\.conditions\[1\]\.persona: unknown persona "p2"/);
  assertOneLineFailure(runBad(STICKY.replace('method: none', 'method: finetune')), /suite\.yaml:10: stickiness\.conditions\[1\]\.method: unknown method "finetune"/);
  assertOneLineFailure(runBad(STICKY.replace('[identity-challenge, slow-drift]', '[slow-drift, slow-drift]')), /suite\.yaml:11: stickiness\.attacks\[1\]: duplicate attack family "slow-drift" \(also at stickiness\.attacks\[0\]\)/);
  assertOneLineFailure(runBad(STICKY.replace('[identity-challenge, slow-drift]', '[adaptive]')), /stickiness\.attacks\[0\]: the "adaptive" family needs an adaptive: block/);
  assertOneLineFailure(runBad(STICKY.replace('model: "sim:" }', 'model: "gemini:pro" }')), /suite\.yaml:6: judges\[0\]\.model: "gemini:pro" is neither a model entry's name or id nor a backend id/);
  assertOneLineFailure(runBad(`${STICKY}consistency: { dialogue: {} }\n`), /consistency\.judge: dialogue and self_report need a judge/);
});

test('ids that collide, or take a name the harness uses itself, are refused at load with file, line and field', () => {
  const persona = (id: string) => `  - { id: ${id}, name: Pat, target: { O: 4, C: 3, E: 2, A: 4, N: 2 } }\n`;
  const suite = (body: string) => `name: ids\ninstrument: { id: ipip-neo-120, items: 3 }\n${body}`;
  const cases: [string, RegExp][] = [
    [suite(`personas:\n${persona('p1')}${persona('p1')}models: ["sim:"]\n`), /suite\.yaml:5: personas\[1\]\.id: duplicate (persona )?id "p1"/],
    [suite(`personas:\n${persona('__baseline__')}models: ["sim:"]\n`), /suite\.yaml:4: personas\[0\]\.id: "__baseline__" is reserved/],
    [suite(`personas:\n${persona('p1')}methods:\n  - { id: sp, kind: system-prompt, template: "You are {name}." }\n  - { id: sp, kind: role-personality }\nmodels: ["sim:"]\n`), /suite\.yaml:7: methods\[1\]\.id: duplicate id "sp"/],
    [suite(`personas:\n${persona('p1')}methods:\n  - { id: none, kind: system-prompt, template: "You are {name}." }\nmodels: ["sim:"]\n`), /suite\.yaml:6: methods\[0\]\.id: "none" is reserved/],
    [suite(`personas:\n${persona('p1')}models:\n  - { id: "sim:", name: a }\n  - { id: "sim:seed=2", name: a }\n`), /suite\.yaml:7: models\[1\]\.name: duplicate name "a"/],
    [suite(`personas:\n${persona('p1')}models: ["sim:", "sim:"]\n`), /suite\.yaml:5: models\[1\]: the same model as models\[0\]/],
    [`name: ids\ninstrument:\n  id: ipip-neo-120\n  items: 3\n  variants:\n    - { id: v }\n    - { id: v, preamble: "Honestly:" }\npersonas:\n${persona('p1')}models: ["sim:"]\n`, /suite\.yaml:7: instrument\.variants\[1\]\.id: duplicate id "v"/],
  ];
  for (const [yaml, pattern] of cases) assertOneLineFailure(runBad(yaml), pattern);
});
