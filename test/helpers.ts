import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync } from 'node:child_process';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin', 'persona-probe.js');
export const SHARED = resolve(ROOT, '..', 'shared');
export const SMOLLM_DIR = join(SHARED, 'models', 'smollm2-135m-instruct');

/** Temp folders this test process made: removed when it exits (models and stores add up over a suite), unless PP_KEEP_TMP is set. */
const made: string[] = [];
process.on('exit', () => {
  if (process.env.PP_KEEP_TMP) return;
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'pp-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function cliAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, uid: options.uid, gid: options.gid });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Every file under a directory, recursively, with its bytes as latin1 text (for greps over binaries too). */
export function allFileText(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: p, text: readFileSync(p).toString('latin1') });
    }
  };
  walk(dir);
  return out;
}

/** How many calls a store holds (0 when it does not exist yet or is mid-write): for tests that watch a run from outside. */
export function storedCallCount(dir: string): number {
  const path = join(dir, 'persona-probe.sqlite');
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0;
  }
}

/** A twins suite on the BIG5 data with the EPI retest ceiling, in a temp folder; `extra` adds twins lines (indented). */
export function twinsSuiteFile(models: string[], extra = ''): string {
  const dir = tempDir();
  const file = join(dir, 'twins.yaml');
  writeFileSync(file, `name: twins
instrument: { id: ipip-neo-120 }
fidelity: false
personas: [{ id: unused, name: Unused, target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }]
twins:
  dataset: { layout: big5-osp, file: ${join(SHARED, 'data', 'human', 'big5_osp_19719', 'data.csv')} }
  ceiling: { retest: ${join(SHARED, 'data', 'human', 'psychtools_epiR', 'epiR.csv')} }
${extra}models: [${models.map((m) => JSON.stringify(m)).join(', ')}]
`);
  return file;
}
