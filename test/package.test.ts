// The package as a user gets it: `npm pack` carries the compiled code, and the tarball,
// laid out in an empty folder as npm installs it, runs the CLI and imports as a library.
// Dependencies are linked from this checkout's node_modules: npm's own resolution needs a
// registry (the machine has no full offline cache of registry metadata), and what this
// checks is that the tarball holds everything persona-probe itself needs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.js';

test('the packed tarball carries dist/ and runs persona-probe --help, score and the library from an empty folder', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[]; version: string };
  assert.match(pkg.scripts.prepack ?? '', /tsc/, 'npm pack builds first');
  const dest = tempDir('pp-pack-');
  // Scripts are skipped here only because `npm test` has just built dist/ (prepack would rebuild it under running tests).
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  const { filename, files } = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  const paths = files.map((f) => f.path);
  for (const needed of ['bin/persona-probe.js', 'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'examples/demo.yaml', 'content/roles.yaml', 'schema/suite.schema.json', 'README.md']) assert.ok(paths.includes(needed), `${needed} is in the tarball`);
  assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.startsWith('src/') || p.startsWith('test/')), 'no tests or TypeScript sources');

  // An empty project with the tarball unpacked where npm puts it.
  const project = tempDir('pp-install-');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  const home = join(project, 'node_modules', 'persona-probe');
  mkdirSync(home, { recursive: true });
  const untar = spawnSync('tar', ['xzf', join(dest, filename), '-C', home, '--strip-components=1']);
  assert.equal(untar.status, 0, String(untar.stderr));
  symlinkSync(join(ROOT, 'node_modules'), join(home, 'node_modules'));
  const bin = join(home, 'bin', 'persona-probe.js');
  const help = spawnSync(process.execPath, [bin, '--help'], { cwd: project, encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^  run  +run a suite/m);
  const answers = join(project, 'answers.json');
  writeFileSync(answers, '{}');
  const score = spawnSync(process.execPath, [bin, 'score', '--answers', answers, '--json'], { cwd: project, encoding: 'utf8' });
  assert.equal(score.status, 0, score.stderr);
  assert.equal((JSON.parse(score.stdout) as { answered: number }).answered, 0);
  const script = join(project, 'use.mjs');
  writeFileSync(script, "import { getInstrument, Engine } from 'persona-probe';\nconsole.log(getInstrument('ipip-neo-120').items.length, typeof Engine.load);\n");
  const lib = spawnSync(process.execPath, [script], { cwd: project, encoding: 'utf8' });
  assert.equal(lib.status, 0, lib.stderr);
  assert.equal(lib.stdout.trim(), '120 function');
});
