// The local viewer: every run stored under a folder, browsable in a web browser.
// Pages are the report's own pages (rendered from the store, no model calls), plus a
// run list and a side-by-side comparison of two runs. Read-only; loopback by default;
// serves files only from inside the folder (paths.ts).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lstatSync, readdirSync, readFileSync, realpathSync, existsSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { RunStore, STORE_FILE, type RunRecord } from '../store/store.js';
import { analyzeRun, type RunAnalysis } from '../runner/run.js';
import { runPage, renderHtml } from '../report/html.js';
import { comparePage } from '../report/compare-html.js';
import { storedMechanismPage } from '../report/mechanism-html.js';
import { csvFiles } from '../report/export.js';
import { CONTENT_SECURITY_POLICY, escapeHtml, htmlDocument, table, type Page } from '../present/html.js';
import { errorMessage } from '../util/errors.js';
import { resolveInside } from './paths.js';

export interface ViewerOptions {
  /** The folder whose runs are shown (a project directory, or a folder of them). */
  dir: string;
  host?: string;
  port?: number;
  /** Where internal errors are logged (never sent to the browser). */
  log?: (line: string) => void;
}

export interface Viewer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

interface Located {
  /** The store's folder relative to the viewer's folder ('.' for the folder itself). */
  where: string;
  store: RunStore;
  run: RunRecord;
}

const MAX_DEPTH = 4;
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** Every response: the pages' own policy, no sniffing, no framing, no referrer, no caching. */
const SECURITY_HEADERS = { 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'cache-control': 'no-store' };
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.csv': 'text/csv; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.txt': 'text/plain; charset=utf-8' };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'Malformed percent-encoding in the address.');
  }
};

/** Folders under root holding a run store; symlinked folders are not followed. */
function findStores(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (existsSync(join(dir, STORE_FILE))) found.push(dir);
    if (depth >= MAX_DEPTH) return;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names.sort()) {
      if (name.startsWith('.') || name === 'node_modules' || name === 'models') continue;
      const p = join(dir, name);
      try {
        if (lstatSync(p).isDirectory()) walk(p, depth + 1);
      } catch {
        /* vanished while listing */
      }
    }
  };
  walk(root, 0);
  return found;
}

export async function startViewer(options: ViewerOptions): Promise<Viewer> {
  if (!existsSync(options.dir) || !lstatSync(realpathSync(options.dir)).isDirectory()) throw new Error(`view: ${options.dir} is not a folder`);
  const root = realpathSync(options.dir);
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const stores = new Map<string, RunStore>();
  const analyses = new Map<string, RunAnalysis>();

  /** Stores that could not be opened (damaged, foreign), by folder: skipped with a note, the others stay visible. */
  const skipped = new Map<string, string>();
  const storesNow = (): [string, RunStore][] => {
    const out: [string, RunStore][] = [];
    for (const dir of findStores(root)) {
      const where = relative(root, dir).split(sep).join('/') || '.';
      let s = stores.get(dir);
      if (!s) {
        try {
          // Read-only: the viewer never migrates or writes a store, and works on read-only folders.
          s = new RunStore(dir, { readOnly: true });
        } catch (err) {
          if (!skipped.has(where)) log(`view: skipping ${join(dir, STORE_FILE)}: ${errorMessage(err)}`);
          skipped.set(where, errorMessage(err));
          continue;
        }
        skipped.delete(where);
        stores.set(dir, s);
      }
      out.push([where, s]);
    }
    return out;
  };

  const locate = (id: string, where: string | null): Located => {
    for (const [w, store] of storesNow()) {
      if (where !== null && w !== where) continue;
      const run = store.findRun(id);
      if (run) return { where: w, store, run };
    }
    throw new HttpError(404, `No run "${id}"${where !== null ? ` in ${where}` : ''} under this folder.`);
  };

  const analysisOf = (l: Located): RunAnalysis => {
    const key = `${l.store.path}|${l.run.id}|${l.run.updatedAt}`;
    let a = analyses.get(key);
    if (!a) {
      a = analyzeRun(l.store, l.run.id);
      if (analyses.size >= 16) analyses.delete(analyses.keys().next().value!);
      analyses.set(key, a);
    }
    return a;
  };

  const kindOf = (run: RunRecord) => {
    const config = run.config;
    return config && typeof config === 'object' && 'kind' in config && typeof config.kind === 'string' ? config.kind : undefined;
  };
  const runHref = (l: Pick<Located, 'where'> & { run: { id: string } }, suffix = '') => `/run/${encodeURIComponent(l.run.id)}${suffix}?in=${encodeURIComponent(l.where)}`;

  const bar = `<header class="bar"><a href="/">All runs</a><span>persona-probe viewer · ${escapeHtml(root)}</span></header>`;

  function runList(): Page {
    const all = storesNow().flatMap(([where, store]) => store.listRuns().map((run) => ({ where, store, run })));
    const notes = [...skipped].map(([where, why]) => `<li>Skipped the store in <code>${escapeHtml(where)}</code>: ${escapeHtml(why.replace(root, '.'))}</li>`);
    const skippedNote = notes.length ? `<div class="note" role="note"><p>Some stores could not be read; the other runs are listed.</p><ul>${notes.join('')}</ul></div>` : '';
    const rows = all.map((l) => [
      `<a href="${runHref(l)}"><code>${escapeHtml(l.run.id)}</code></a>`,
      escapeHtml(l.run.suiteName),
      escapeHtml(kindOf(l.run) ?? 'suite'),
      l.run.models.map((m) => `<code>${escapeHtml(m)}</code>`).join(', '),
      escapeHtml(l.run.status),
      escapeHtml(l.run.createdAt),
      l.run.simulated ? '<span class="tag">simulation</span>' : '',
      escapeHtml(l.where),
      `<a href="${runHref(l, '/report.html')}">HTML</a>${kindOf(l.run) ? '' : ` · <a href="${runHref(l, '/results.json')}">JSON</a> · <a href="${runHref(l, '')}">CSV on its page</a>`}`,
    ]);
    const suiteRuns = all.filter((l) => !kindOf(l.run));
    // The default pair: the two most recent runs of the same suite (comparable by construction);
    // with none, nothing is preselected and the form asks for two.
    const sameSuite = suiteRuns.find((l, i) => suiteRuns.slice(i + 1).some((m) => m.run.suiteName === l.run.suiteName));
    const pairB = sameSuite;
    const pairA = sameSuite ? suiteRuns.find((m) => m !== sameSuite && m.run.suiteName === sameSuite.run.suiteName) : undefined;
    const option = (l: Located, selected: boolean) => `<option value="${escapeHtml(`${l.where}|${l.run.id}`)}"${selected ? ' selected' : ''}>${escapeHtml(`${l.run.id} · ${l.run.suiteName} · ${l.run.models.join(', ')}`)}</option>`;
    const ask = (name: string) => (pairA ? '' : `<option value="" selected disabled>pick run ${name}</option>`);
    const form = suiteRuns.length >= 2
      ? `<form method="get" action="/compare"><h2>Compare two runs</h2>${pairA ? `<p>Preselected: the two latest runs of <code>${escapeHtml(pairA.run.suiteName)}</code>.</p>` : '<p>No two runs of the same suite here: pick the two to compare.</p>'}<label>A <select name="a" required>${ask('A')}${suiteRuns.map((l) => option(l, l === pairA)).join('')}</select></label> <label>B <select name="b" required>${ask('B')}${suiteRuns.map((l) => option(l, l === pairB)).join('')}</select></label> <button type="submit">Side by side</button></form>`
      : '';
    return { title: 'persona-probe runs', body: `${skippedNote}${form}${all.length ? table(['Run', 'Suite', 'Kind', 'Models', 'Status', 'Created', '', 'Folder', 'Export'], rows, `${all.length} runs in ${stores.size} store(s)`) : `<p>No runs under ${escapeHtml(root)}. Start one with <code>persona-probe run SUITE.yaml --out ${escapeHtml(root)}</code>.</p>`}` };
  }

  const parseRef = (value: string | null, name: string): [string | null, string] => {
    if (!value) throw new HttpError(400, `Pick run ${name} (query parameter "${name}").`);
    const bar = value.lastIndexOf('|');
    return bar < 0 ? [null, value] : [value.slice(0, bar), value.slice(bar + 1)];
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const page = (p: Page, status = 200) => send(status, TYPES['.html']!, htmlDocument(p, bar));

    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'The viewer only reads.');
    if (path === '/') return page(runList());
    if (path === '/compare') {
      const [wa, ida] = parseRef(query.get('a'), 'a');
      const [wb, idb] = parseRef(query.get('b'), 'b');
      const la = locate(ida, wa);
      const lb = locate(idb, wb);
      if (kindOf(la.run) || kindOf(lb.run)) throw new HttpError(400, 'Side by side compares suite runs (not mechanism runs).');
      return page(await comparePage(analysisOf(la), analysisOf(lb)));
    }
    const m = /^\/run\/([^/]+)(\/(report\.html|results\.json|[a-z0-9-]+\.csv))?$/.exec(path);
    if (m) {
      const l = locate(safeDecode(m[1]!), query.get('in'));
      const file = m[3];
      const mech = await storedMechanismPage(l.store, l.run.id, kindOf(l.run));
      if (mech) {
        if (file && file !== 'report.html') throw new HttpError(404, `A ${kindOf(l.run)} run has no ${file}.`);
        return file ? send(200, TYPES['.html']!, htmlDocument(mech)) : page(mech);
      }
      const a = analysisOf(l);
      if (file === 'report.html') return send(200, TYPES['.html']!, await renderHtml(a));
      if (file === 'results.json') return send(200, TYPES['.json']!, `${JSON.stringify(a, null, 2)}\n`);
      const csv = csvFiles(a);
      if (file) {
        const f = csv.find((c) => c.file === file);
        if (!f) throw new HttpError(404, `Run ${l.run.id} has no ${file}.`);
        return send(200, TYPES['.csv']!, f.text);
      }
      const p = await runPage(a);
      return page({ title: p.title, body: `<p>Folder ${escapeHtml(l.where)} · export <a href="${runHref(l, '/report.html')}">HTML</a> · <a href="${runHref(l, '/results.json')}">JSON</a>${csv.map((c) => ` · <a href="${runHref(l, `/${c.file}`)}">${escapeHtml(c.file)}</a>`).join('')}</p>${p.body}` });
    }
    if (path.startsWith('/files/')) {
      const r = resolveInside(root, path.slice('/files/'.length));
      if (!r.ok) throw new HttpError(r.status, r.status === 403 ? `Refused: ${r.reason}. The viewer serves only files inside its folder.` : `Not found: ${r.reason}.`);
      return send(200, TYPES[extname(r.path).toLowerCase()] ?? 'application/octet-stream', readFileSync(r.path));
    }
    throw new HttpError(404, 'No such page.');
  }

  const server = createServer((req, res) => {
    // On loopback, only requests addressed to loopback: a web page elsewhere cannot reach the viewer by DNS rebinding.
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const fail = (status: number, message: string) => {
      if (res.headersSent) return void res.end();
      const title = status === 404 ? 'Not found' : status === 403 ? 'Refused' : status >= 500 ? 'Internal error' : 'Bad request';
      res.writeHead(status, { 'content-type': TYPES['.html']!, ...SECURITY_HEADERS });
      res.end(htmlDocument({ title: `${status} ${title}`, body: `<p>${escapeHtml(message)}</p><p><a href="/">All runs</a></p>` }, bar));
    };
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostHeader)) return fail(403, 'This viewer answers only requests addressed to this machine (127.0.0.1 or localhost).');
    route(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return fail(err.status, err.message);
      // The cause goes to the terminal, never to the page.
      log(`view: internal error on ${req.method} ${req.url}: ${errorMessage(err)}`);
      fail(500, 'The viewer could not render this page; the cause is in the terminal that runs it.');
    });
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolvePromise());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/`,
    host: address.address,
    port: address.port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      for (const s of stores.values()) s.close();
    },
  };
}
