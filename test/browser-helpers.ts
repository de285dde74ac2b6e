// Browser tests drive Debian's chromium (installed by .ci/run) through playwright-core;
// no browser is ever downloaded. PERSONA_PROBE_CHROMIUM names another binary.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { chromium, type Browser } from 'playwright-core';
import { BIN, ROOT } from './helpers.js';

const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string {
  const path = process.env.PERSONA_PROBE_CHROMIUM ?? CANDIDATES.find((p) => existsSync(p));
  if (!path || !existsSync(path)) throw new Error(`no chromium found (looked at ${CANDIDATES.join(', ')}): install Debian's chromium (apt-get install chromium; .ci/run does) or set PERSONA_PROBE_CHROMIUM`);
  return path;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** Screenshots and saved pages from the browser tests (git-ignored; CI keeps the folder). */
export const ARTIFACTS = join(ROOT, 'test-artifacts');
mkdirSync(ARTIFACTS, { recursive: true });

export interface ViewerProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<number | null>;
}

/** `persona-probe view DIR --port 0` as a child process, resolved once it prints its address. */
export function startViewerCli(dir: string, extra: string[] = []): Promise<ViewerProcess> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, 'view', dir, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /persona-probe view: (http:\/\/\S+\/)/.exec(out);
      if (m) resolvePromise({ url: m[1]!, child, stop: () => new Promise((r) => (child.on('close', (code) => r(code)), child.kill('SIGTERM'))) });
    });
    child.on('close', (code) => reject(new Error(`viewer exited ${code}: ${err}`)));
  });
}

/** A raw GET: the path goes on the wire exactly as given (no client-side normalisation of .. or %2e). */
export function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(url);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
