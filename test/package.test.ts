// The package as a user gets it: `npm pack` carries the compiled code, and npm installs the
// tarball into an empty folder, offline (from npm's cache, which `npm ci` filled), with the
// dependency versions this project's lockfile pins; the installed CLI and library then run.
// Install scripts are skipped: the commands checked here load no native addon at start
// (better-sqlite3 opens its addon on first use), and building addons is npm's own business.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.js';

interface Lock {
  packages: Record<string, { dev?: boolean } & Record<string, unknown>>;
}

test('the packed tarball carries dist/, installs offline into an empty folder with npm, and runs persona-probe --help, score and the library', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; version: string; license: string; bin: unknown; engines: unknown; dependencies: Record<string, string> };
  assert.match(pkg.scripts.prepack ?? '', /tsc/, 'npm pack builds first');
  const dest = tempDir('pp-pack-');
  // Scripts are skipped here only because `npm test` has just built dist/ (prepack would rebuild it under running tests).
  const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  const { filename, files } = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  const paths = files.map((f) => f.path);
  for (const needed of ['bin/persona-probe.js', 'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'examples/demo.yaml', 'content/roles.yaml', 'content/starter-suite.yaml', 'schema/suite.schema.json', 'README.md']) assert.ok(paths.includes(needed), `${needed} is in the tarball`);
  assert.ok(!paths.some((p) => p.startsWith('dist/test/') || p.startsWith('src/') || p.startsWith('test/')), 'no tests or TypeScript sources');

  // An empty project that depends on the tarball, with the versions this project's lockfile pins.
  const project = tempDir('pp-install-');
  const tarball = `file:${join(dest, filename)}`;
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock;
  const packages: Lock['packages'] = {
    '': { name: 'user-project', dependencies: { 'persona-probe': tarball } },
    'node_modules/persona-probe': { version: pkg.version, resolved: tarball, license: pkg.license, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev) packages[path] = entry;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module', dependencies: { 'persona-probe': tarball } }));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({ name: 'user-project', lockfileVersion: 3, requires: true, packages }));
  const install = spawnSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: project, encoding: 'utf8', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  assert.equal(install.status, 0, `npm ci --offline: ${install.stderr}`);

  const bin = join(project, 'node_modules', '.bin', 'persona-probe');
  const help = spawnSync(bin, ['--help'], { cwd: project, encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^ {2}run +run a suite/m);
  assert.equal(spawnSync(bin, ['--version'], { cwd: project, encoding: 'utf8' }).stdout.trim(), pkg.version);
  writeFileSync(join(project, 'answers.json'), '{}');
  const score = spawnSync(bin, ['score', '--answers', 'answers.json', '--json'], { cwd: project, encoding: 'utf8' });
  assert.equal(score.status, 0, score.stderr);
  assert.equal((JSON.parse(score.stdout) as { answered: number }).answered, 0);
  writeFileSync(join(project, 'use.mjs'), "import { getInstrument, Engine } from 'persona-probe';\nconsole.log(getInstrument('ipip-neo-120').items.length, typeof Engine.load);\n");
  const lib = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
  assert.equal(lib.status, 0, lib.stderr);
  assert.equal(lib.stdout.trim(), '120 function');
});
