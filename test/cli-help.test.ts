// A tool people can learn by themselves: every command answers --help with its options and
// an example, --version prints the package's version, the top help lists every command, and
// every command line the README shows uses only options the CLI has.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, type CommandName } from '../src/cli/specs.js';
import { ROOT, cli } from './helpers.js';

const names = Object.keys(COMMANDS) as CommandName[];

test('every command and subcommand answers --help with each option and an example; --version; the top help lists every command', () => {
  for (const name of names) {
    const spec = COMMANDS[name];
    const r = cli([...name.split(' '), '--help']);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    assert.ok(r.stdout.startsWith(`persona-probe ${name}`), name);
    for (const [flag, o] of Object.entries(spec.options)) {
      if (!('aliasOf' in o)) assert.match(r.stdout, new RegExp(`--${flag}\\b`), `${name} --help shows --${flag}`);
    }
    assert.match(r.stdout, /Examples:\n {2}persona-probe /, `${name} has an example`);
    for (const e of spec.examples) assert.ok(e.startsWith(`persona-probe ${name}`) || e.startsWith('persona-probe '), e);
  }
  const version = cli(['--version']);
  assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  const top = cli(['--help']);
  assert.equal(top.code, 0);
  for (const name of names) assert.match(top.stdout, new RegExp(`^ {2}${name} `, 'm'), `the top help lists ${name}`);
  // A group without a subcommand lists its subcommands; an option a command does not have is one line naming it.
  assert.match(cli(['vectors']).stdout, /vectors sweep/);
  const bad = cli(['run', 'x.yaml', '--frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--frobnicate'/);
});

test("every persona-probe command line in the README names a real command and only options it has", () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  // Shell code blocks, with their fences paired line by line.
  const blocks: string[] = [];
  let current: string[] | null = null;
  let shell = false;
  for (const line of readme.split('\n')) {
    if (line.startsWith('```')) {
      if (current) {
        if (shell) blocks.push(current.join('\n'));
        current = null;
      } else {
        current = [];
        shell = /^```(sh|bash)?\s*$/.test(line);
      }
    } else current?.push(line);
  }
  // Join continuation lines, then keep those that run the CLI.
  const lines = blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n')).map((l) => l.replace(/#.*$/, '').trim()).filter((l) => /(^|\s)(npx )?persona-probe /.test(l) && !/npm /.test(l.split('persona-probe')[0]!));
  assert.ok(lines.length >= 15, `${lines.length} command lines found`);
  for (const line of lines) {
    const words = line.slice(line.indexOf('persona-probe ') + 'persona-probe '.length).split(/\s+/);
    if (words[0] === '--help' || words[0] === '--version') {
      assert.equal(cli([words[0]]).code, 0, line);
      continue;
    }
    const two = `${words[0]} ${words[1]}`;
    const name = (two in COMMANDS ? two : words[0]) as CommandName;
    assert.ok(name in COMMANDS, `README: "${line}" names no command`);
    const flags = [...line.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!).filter((f) => f !== 'help');
    for (const f of flags) assert.ok(f in COMMANDS[name].options, `README: "${line}": ${name} has no --${f}`);
  }
});

test('progress off a terminal: run and axis build (vectors extract and sweep share the same bar) print progress lines to stderr (every 10% and every 10 s), with no ETA before it means something', async () => {
  const { cliAsync, tempDir } = await import('./helpers.js');
  const { writeFileSync } = await import('node:fs');
  const dir = tempDir();
  const suite = join(dir, 'suite.yaml');
  writeFileSync(suite, 'name: progress\ninstrument: { id: ipip-neo-120, items: 40 }\npersonas:\n  - { id: p, name: Pat, target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }\nmodels: ["sim:latencyMs=20"]\nrun: { concurrency: 2 }\n');
  const r = await cliAsync(['run', suite, '--dir', join(dir, 'out')]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('fidelity ['));
  assert.ok(lines.length >= 10, `${lines.length} progress lines: ${r.stderr.slice(0, 300)}`);
  assert.match(lines[0]!, /^fidelity \[-+\] 1\/80 · …\/s · calls 1 · from store 0 · retries 0 · errors 0 · \d+s · ETA …$/);
  assert.ok(lines.some((l) => /· [\d.]+\/s ·/.test(l)), 'a rate once there is one');
  assert.match(lines.at(-1)!, /\] 80\/80 .* ETA done$/);
  const { familyConfig, makeModel } = await import('./engine-helpers.js');
  const model = makeModel(familyConfig('llama', { layers: 1 }));
  const axis = await cliAsync(['axis', 'build', '--model', `engine:${model.dir}`, '--out', join(dir, 'axis.safetensors'), '--limit-roles', '3', '--instructions', '1', '--questions', '2', '--max-tokens', '3', '--dir', join(dir, 'out')]);
  assert.equal(axis.code, 0, axis.stderr);
  assert.match(axis.stderr, /^axis build \[#+\] \d+\/\d+ /m);
});

test('init writes a starter suite that runs as is (and refuses to overwrite); --personas, --blocks, --families and --items run a subset', async () => {
  const { cliAsync, tempDir } = await import('./helpers.js');
  const dir = tempDir();
  const file = join(dir, 'mine.yaml');
  const init = cli(['init', file]);
  assert.equal(init.code, 0, init.stderr);
  assert.equal(cli(['init', file]).code, 2, 'an existing file is not overwritten');
  const out = join(dir, 'out');
  const whole = await cliAsync(['run', file, '--dir', out, '--quiet']);
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /^Verdict /m);
  const plan = cli(['run', file, '--dry-run', '--personas', 'keeper', '--blocks', 'stickiness', '--families', 'slow-drift']);
  assert.equal(plan.code, 0, plan.stderr);
  assert.doesNotMatch(plan.stdout, /^fidelity/m);
  const calls = (s: string) => Number(/^stickiness +all its roles +([\d,]+)/m.exec(s)![1]!.replace(/,/g, ''));
  const all = cli(['run', file, '--dry-run']);
  assert.ok(calls(plan.stdout) < calls(all.stdout) / 2, 'one family of three, fewer calls');
  // A subset's calls are the whole run's: served from the store. (On the simulated panel a subset
  // that drops personas or conditions changes the panel's declared truths, hence its id: new calls.)
  const part = await cliAsync(['run', file, '--dir', out, '--quiet', '--items', '10']);
  assert.equal(part.code, 0, part.stderr);
  assert.match(part.stdout, /calls this time 0 · served from store \d+/);
  const bad = cli(['run', file, '--personas', 'nobody']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--personas: no persona "nobody" \(personas: keeper, host\)/);
});

test("the demo on a real model is cut to a laptop's size: about 500 calls instead of the full suite's", async () => {
  const { demoOnRealModel, DEMO_SUITE } = await import('../src/cli/main.js');
  const { loadSuite } = await import('../src/suite/load.js');
  const { suiteSchema } = await import('../src/suite/schema.js');
  const { dryRun } = await import('../src/runner/dry-run.js');
  const full = suiteSchema.parse({ ...loadSuite(DEMO_SUITE), models: ['llamacpp:model.gguf'] });
  const calls = async (s: typeof full) => (await dryRun(s, DEMO_SUITE)).reduce((n, r) => n + r.calls, 0);
  // llamacpp gives exact option probabilities and repeats identically: repetitions collapse even in the full demo.
  const [all, cut] = [await calls(full), await calls(demoOnRealModel(full))];
  console.log(`# demo on a real model: ${cut} calls (the full suite: ${all})`);
  assert.ok(cut <= 600 && cut < all / 2, `${cut} of ${all}`);
});
