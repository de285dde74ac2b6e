// The run store: one SQLite file per project directory. Every model call is kept
// with its full request, so identical calls are served from here (nothing is paid
// for twice), a killed run resumes where it stopped, and a finished run re-renders
// without a model. Writes are single statements or transactions in WAL mode, so
// a SIGKILL at any moment leaves the file consistent.

import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readHead } from '../util/files.js';
import { hostname, tmpdir } from 'node:os';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { redact } from '../util/redact.js';
import { UserError, errorMessage } from '../util/errors.js';

/** Anything with zod's safeParse: how a stored result is decoded. */
export interface ResultSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false };
}

export const STORE_FILE = 'persona-probe.sqlite';

export interface CallRecord {
  hash: string;
  backend: string;
  kind: string;
  request: unknown;
  response: unknown;
  latencyMs: number;
  attempts: number;
  createdAt: string;
}

export interface RunRecord {
  id: string;
  createdAt: string;
  updatedAt: string;
  status: 'running' | 'complete' | 'failed';
  suiteName: string;
  suitePath: string | null;
  config: unknown;
  models: string[];
  simulated: boolean;
}

export interface RunCost {
  /** Tasks of the run with a stored response (a task served from the store counts too). */
  tasks: number;
  /** Distinct calls behind those tasks. */
  calls: number;
  inputTokens: number;
  outputTokens: number;
  /** Tasks whose backend reported no token usage. */
  withoutUsage: number;
  /** Attempts that failed (retried or not), and tasks left without a response. */
  failedAttempts: number;
  finalErrors: number;
  byBackend: { backend: string; tasks: number; calls: number; inputTokens: number; outputTokens: number; withoutUsage: number }[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  status TEXT NOT NULL,
  suite_name TEXT NOT NULL,
  suite_path TEXT,
  config_json TEXT NOT NULL,
  models_json TEXT NOT NULL,
  simulated INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
  hash TEXT PRIMARY KEY,
  backend TEXT NOT NULL,
  kind TEXT NOT NULL,
  request_json TEXT NOT NULL,
  response_json TEXT NOT NULL,
  latency_ms REAL NOT NULL,
  attempts INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS call_errors (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  hash TEXT NOT NULL,
  backend TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  error TEXT NOT NULL,
  final INTEGER NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_tasks (
  run_id TEXT NOT NULL,
  task_key TEXT NOT NULL,
  call_hash TEXT NOT NULL,
  cache_hit INTEGER NOT NULL,
  PRIMARY KEY (run_id, task_key)
);
CREATE TABLE IF NOT EXISTS blobs (
  hash TEXT PRIMARY KEY,
  text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_locks (
  run_id TEXT PRIMARY KEY,
  token TEXT NOT NULL,
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
  run_id TEXT NOT NULL,
  key TEXT NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
`;

/** The tables and columns a persona-probe store has; a file without them is someone else's. */
const REQUIRED_COLUMNS: Record<string, string[]> = {
  runs: ['id', 'created_at', 'updated_at', 'status', 'suite_name', 'suite_path', 'config_json', 'models_json', 'simulated'],
  calls: ['hash', 'backend', 'kind', 'request_json', 'response_json', 'latency_ms', 'attempts', 'created_at'],
  run_tasks: ['run_id', 'task_key', 'call_hash', 'cache_hit'],
};

const SQLITE_MAGIC = 'SQLite format 3\0';

/** Strings at least this long in a stored request are kept once, by content hash (see pack). */
export const BLOB_MIN_CHARS = 4096;
const BLOB_REF = '$blob';

/** A store file that is not an SQLite database (truncated to nothing, or another file) is refused before SQLite opens it. */
function checkMagic(path: string): void {
  const size = statSync(path).size;
  if (size === 0) return; // SQLite treats an empty file as an empty database
  if (readHead(path, 16).toString('latin1') !== SQLITE_MAGIC) throw new UserError(`${path}: not a persona-probe store (not an SQLite database${size < 100 ? `; ${size} bytes, truncated?` : ''})`);
  // An SQLite file is at least its 100-byte header and one page.
  if (size < 512) throw new UserError(`${path}: damaged run store (truncated to ${size} bytes)`);
}

/** Refuse a database that is damaged or holds someone else's tables. `fresh`: a new store may have no tables yet. */
function checkSchema(db: Database.Database, path: string, fresh: boolean): void {
  let tables: string[];
  try {
    tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    if (tables.includes('runs')) db.prepare('SELECT COUNT(*) FROM runs').get();
  } catch (err) {
    throw new UserError(`${path}: damaged run store (${errorMessage(err)})`);
  }
  if (fresh && tables.length === 0) return;
  for (const [table, columns] of Object.entries(REQUIRED_COLUMNS)) {
    if (!tables.includes(table)) throw new UserError(`${path}: not a persona-probe store (no ${table} table${tables.length ? `; it holds ${tables.slice(0, 5).join(', ')}` : ''})`);
    const have = new Set((db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name));
    const missing = columns.filter((c) => !have.has(c));
    if (missing.length) throw new UserError(`${path}: not a persona-probe store (table ${table} has no ${missing.join(', ')})`);
  }
}

export interface StoreOptions {
  /**
   * Open without writing anything: no migration, no journal change. Works on a store in a
   * read-only folder, where SQLite cannot create the WAL's shared-memory file, by reading a
   * private copy of the database and its WAL.
   */
  readOnly?: boolean;
}

export class RunStore {
  readonly db: Database.Database;
  readonly path: string;
  readonly readOnly: boolean;
  /** A private copy opened for a read-only store in a read-only folder; removed on close. */
  private copyDir?: string;

  constructor(dir: string, options: StoreOptions = {}) {
    this.path = join(dir, STORE_FILE);
    this.readOnly = options.readOnly === true;
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UserError(`${dir}: not a folder (a run store lives in a folder, as ${STORE_FILE})`);
    if (existsSync(this.path) && !statSync(this.path).isFile()) throw new UserError(`${this.path}: not a file`);
    if (this.readOnly) {
      if (!existsSync(this.path)) throw new UserError(`no run store in ${dir} (expected ${STORE_FILE})`);
      checkMagic(this.path);
      this.db = this.openReadOnly();
      checkSchema(this.db, this.path, false);
      return;
    }
    mkdirSync(dir, { recursive: true });
    const fresh = !existsSync(this.path);
    if (!fresh) checkMagic(this.path);
    try {
      this.db = new Database(this.path);
      checkSchema(this.db, this.path, fresh);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError(`${this.path}: cannot open the run store for writing (${errorMessage(err)})`);
    }
  }

  private openReadOnly(): Database.Database {
    try {
      const db = new Database(this.path, { readonly: true, fileMustExist: true });
      db.prepare('SELECT COUNT(*) FROM sqlite_master').get();
      return db;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!/CANTOPEN|READONLY|IOERR/.test(code)) throw new UserError(`${this.path}: damaged run store (${errorMessage(err)})`);
    }
    // A WAL database in a folder SQLite cannot write to: open a private copy of the file and its WAL.
    this.copyDir = mkdtempSync(join(tmpdir(), 'pp-store-'));
    const copy = join(this.copyDir, STORE_FILE);
    copyFileSync(this.path, copy);
    if (existsSync(`${this.path}-wal`)) copyFileSync(`${this.path}-wal`, `${copy}-wal`);
    try {
      return new Database(copy);
    } catch (err) {
      throw new UserError(`${this.path}: cannot read the run store (${errorMessage(err)})`);
    }
  }

  close(): void {
    if (!this.readOnly && this.db.open) {
      try {
        this.db.prepare('DELETE FROM run_locks WHERE token = ?').run(this.lockToken);
      } catch {
        /* a store closed while damaged keeps its lock row; the next run sees its process is gone */
      }
    }
    this.db.close();
    if (this.copyDir) rmSync(this.copyDir, { recursive: true, force: true });
  }

  getCall(hash: string): CallRecord | undefined {
    const row = this.db.prepare('SELECT * FROM calls WHERE hash = ?').get(hash) as Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      hash: row.hash as string,
      backend: row.backend as string,
      kind: row.kind as string,
      request: this.unpack(row.request_json as string),
      response: JSON.parse(row.response_json as string),
      latencyMs: row.latency_ms as number,
      attempts: row.attempts as number,
      createdAt: row.created_at as string,
    };
  }

  /** Record a successful call and link it to the run's task, atomically. */
  putCall(runId: string, taskKey: string, call: Omit<CallRecord, 'createdAt'>, replace = false): void {
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare(`INSERT OR ${replace ? 'REPLACE' : 'IGNORE'} INTO calls (hash, backend, kind, request_json, response_json, latency_ms, attempts, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(call.hash, call.backend, call.kind, this.pack(call.request), redact(JSON.stringify(call.response)), call.latencyMs, call.attempts, now);
      this.db.prepare('INSERT OR REPLACE INTO run_tasks (run_id, task_key, call_hash, cache_hit) VALUES (?, ?, ?, 0)').run(runId, taskKey, call.hash);
    })();
  }

  /** Forget a stored call (one whose answer no longer passes the checks, so it is made again). */
  deleteCall(hash: string): void {
    this.db.prepare('DELETE FROM calls WHERE hash = ?').run(hash);
  }

  linkCachedCall(runId: string, taskKey: string, hash: string): void {
    this.db.prepare('INSERT OR IGNORE INTO run_tasks (run_id, task_key, call_hash, cache_hit) VALUES (?, ?, ?, 1)').run(runId, taskKey, hash);
  }

  recordError(runId: string, hash: string, backend: string, attempt: number, error: string, final: boolean): void {
    this.db
      .prepare('INSERT INTO call_errors (run_id, hash, backend, attempt, error, final, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(runId, hash, backend, attempt, redact(error), final ? 1 : 0, new Date().toISOString());
  }

  errors(runId: string): { hash: string; backend: string; attempt: number; error: string; final: boolean }[] {
    return (this.db.prepare('SELECT hash, backend, attempt, error, final FROM call_errors WHERE run_id = ? ORDER BY id').all(runId) as Record<string, unknown>[]).map((r) => ({
      hash: r.hash as string,
      backend: r.backend as string,
      attempt: r.attempt as number,
      error: r.error as string,
      final: r.final === 1,
    }));
  }

  /** This store object's claim on the runs it starts (released when it closes). */
  private readonly lockToken = randomUUID();

  /**
   * Claim a run for this process: two processes running one run on one store would both
   * pay for every call, and the first to finish would mark it complete under the other.
   * A claim whose process is gone (killed) is taken over.
   */
  private claimRun(runId: string): void {
    this.db.transaction(() => {
      const held = this.db.prepare('SELECT token, pid, host, started_at FROM run_locks WHERE run_id = ?').get(runId) as { token: string; pid: number; host: string; started_at: string } | undefined;
      if (held && held.token !== this.lockToken && held.host === hostname() && processAlive(held.pid)) {
        throw new UserError(`run ${runId} is already running in process ${held.pid} on this store (${this.path}, since ${held.started_at}); wait for it to finish, or stop it, then run again to resume`);
      }
      this.db.prepare('INSERT OR REPLACE INTO run_locks (run_id, token, pid, host, started_at) VALUES (?, ?, ?, ?, ?)').run(runId, this.lockToken, process.pid, hostname(), new Date().toISOString());
    }).immediate();
  }

  startRun(run: Omit<RunRecord, 'createdAt' | 'updatedAt' | 'status'>): { resumed: boolean } {
    this.claimRun(run.id);
    const existing = this.getRun(run.id);
    const now = new Date().toISOString();
    if (existing) {
      this.db.prepare("UPDATE runs SET status = 'running', updated_at = ? WHERE id = ?").run(now, run.id);
      return { resumed: true };
    }
    this.db
      .prepare('INSERT INTO runs (id, created_at, updated_at, status, suite_name, suite_path, config_json, models_json, simulated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(run.id, now, now, 'running', run.suiteName, run.suitePath, redact(JSON.stringify(run.config)), JSON.stringify(run.models), run.simulated ? 1 : 0);
    return { resumed: false };
  }

  finishRun(id: string, status: 'complete' | 'failed'): void {
    this.db.prepare('UPDATE runs SET status = ?, updated_at = ? WHERE id = ?').run(status, new Date().toISOString(), id);
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row ? toRun(row) : undefined;
  }

  /** A run by id or unique id prefix. */
  findRun(idOrPrefix: string): RunRecord | undefined {
    // A plain prefix comparison: LIKE would let % and _ match any run.
    const rows = this.db.prepare('SELECT * FROM runs WHERE substr(id, 1, length(?)) = ? ORDER BY created_at DESC').all(idOrPrefix, idOrPrefix) as Record<string, unknown>[];
    return rows.length === 1 ? toRun(rows[0]!) : rows.find((r) => r.id === idOrPrefix) ? toRun(rows.find((r) => r.id === idOrPrefix)!) : undefined;
  }

  listRuns(): RunRecord[] {
    return (this.db.prepare('SELECT * FROM runs ORDER BY created_at DESC').all() as Record<string, unknown>[]).map(toRun);
  }

  /** Task key -> stored response of its call, for one run. */
  taskResponses(runId: string): Map<string, unknown> {
    const rows = this.db.prepare('SELECT t.task_key AS k, c.response_json AS r FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ?').all(runId) as { k: string; r: string }[];
    return new Map(rows.map((r) => [r.k, JSON.parse(r.r)]));
  }

  /** The stored request behind one task of a run. */
  taskRequest(runId: string, taskKey: string): unknown {
    const row = this.db.prepare('SELECT c.request_json AS q FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ? AND t.task_key = ?').get(runId, taskKey) as { q: string } | undefined;
    return row ? this.unpack(row.q) : undefined;
  }

  /**
   * A request as stored: long strings (a persona description, a long transcript) are kept
   * once in `blobs` by content hash and referenced as {"$blob": hash}, so a part repeated in
   * thousands of requests costs its size once. Redacted like everything stored.
   */
  private pack(request: unknown): string {
    const put = this.db.prepare('INSERT OR IGNORE INTO blobs (hash, text) VALUES (?, ?)');
    return redact(
      JSON.stringify(request, (_key, value: unknown) => {
        if (typeof value !== 'string' || value.length < BLOB_MIN_CHARS) return value;
        const text = redact(value);
        const hash = createHash('sha256').update(text).digest('hex');
        put.run(hash, text);
        return { [BLOB_REF]: hash };
      }),
    );
  }

  private unpack(json: string): unknown {
    if (!json.includes(`"${BLOB_REF}"`)) return JSON.parse(json);
    const get = this.db.prepare('SELECT text FROM blobs WHERE hash = ?');
    return JSON.parse(json, (_key, value: unknown) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
      const keys = Object.keys(value);
      if (keys.length !== 1 || keys[0] !== BLOB_REF) return value;
      const row = get.get((value as Record<string, string>)[BLOB_REF]) as { text: string } | undefined;
      return row ? row.text : value;
    });
  }

  taskStats(runId: string): { tasks: number; cacheHits: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(cache_hit), 0) AS hits FROM run_tasks WHERE run_id = ?').get(runId) as { n: number; hits: number };
    return { tasks: r.n, cacheHits: r.hits };
  }

  /**
   * What a run cost, from its stored calls: tasks, distinct calls, tokens as each backend
   * reported them (calls without a usage report are counted, not guessed), and errors.
   */
  runCost(runId: string): RunCost {
    const byBackend = this.db
      .prepare(
        `SELECT c.backend AS backend, COUNT(*) AS tasks, COUNT(DISTINCT c.hash) AS calls,
           COALESCE(SUM(json_extract(c.response_json, '$.usage.inputTokens')), 0) AS inputTokens,
           COALESCE(SUM(json_extract(c.response_json, '$.usage.outputTokens')), 0) AS outputTokens,
           SUM(json_extract(c.response_json, '$.usage.inputTokens') IS NULL) AS withoutUsage
         FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.run_id = ? GROUP BY c.backend ORDER BY c.backend`,
      )
      .all(runId) as RunCost['byBackend'];
    const e = this.db.prepare('SELECT COUNT(*) AS attempts, COALESCE(SUM(final), 0) AS final FROM call_errors WHERE run_id = ?').get(runId) as { attempts: number; final: number };
    const sum = (k: 'tasks' | 'calls' | 'inputTokens' | 'outputTokens' | 'withoutUsage') => byBackend.reduce((s, b) => s + b[k], 0);
    return { tasks: sum('tasks'), calls: sum('calls'), inputTokens: sum('inputTokens'), outputTokens: sum('outputTokens'), withoutUsage: sum('withoutUsage'), failedAttempts: e.attempts, finalErrors: e.final, byBackend };
  }

  callCount(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n;
  }

  putResult(runId: string, key: string, value: unknown): void {
    this.db.prepare('INSERT OR REPLACE INTO results (run_id, key, json) VALUES (?, ?, ?)').run(runId, key, redact(JSON.stringify(value)));
  }

  /**
   * A stored result, decoded by its schema: one that is absent, or that does not decode (a run
   * stored by an older version, a damaged row), is undefined, never a value of the wrong shape.
   */
  getResult<T>(runId: string, key: string, schema: ResultSchema<T>): T | undefined {
    const row = this.db.prepare('SELECT json FROM results WHERE run_id = ? AND key = ?').get(runId, key) as { json: string } | undefined;
    if (!row) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(row.json);
    } catch {
      return undefined;
    }
    const decoded = schema.safeParse(value);
    return decoded.success ? decoded.data : undefined;
  }
}

/** Whether a process of this machine is alive (signal 0 checks without signalling). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function toRun(row: Record<string, unknown>): RunRecord {
  return {
    id: row.id as string,
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
    status: row.status as RunRecord['status'],
    suiteName: row.suite_name as string,
    suitePath: (row.suite_path as string | null) ?? null,
    config: JSON.parse(row.config_json as string),
    models: JSON.parse(row.models_json as string),
    simulated: row.simulated === 1,
  };
}
