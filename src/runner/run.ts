import { dirname, join, resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import type { Backend } from '../backends/types.js';
import { createBackend, type ModelConfig } from '../backends/registry.js';
import { verdictsFrom, type Verdict } from '../metrics/verdict.js';
import { OPTION_PROBS, STATEFUL_MODELS, putResult, type ProbeDirs, type ProbeResults } from '../probes/probe.js';
import { PROBES, probeBlockIssue } from '../probes/registry.js';
import { declareSuite } from '../probes/sim-truths.js';
import { RunStore, STORE_FILE, type RunCost } from '../store/store.js';
import { suiteSchema, type Suite } from '../suite/schema.js';
import { modelRefs, resolveModelRef, runRoleSchema, suiteRoles, type RunRole } from '../suite/roles.js';
import { UserError } from '../util/errors.js';
import { hashOf } from '../util/hash.js';
import { RunContext } from './context.js';
import { executeTasks, type CallCounters } from './execute.js';

export interface RunOptions {
  /** Project directory: holds the store and the reports. */
  outDir: string;
  suitePath?: string;
  env?: NodeJS.ProcessEnv;
  onProgress?: (counters: Readonly<CallCounters>, phase: string) => void;
  signal?: AbortSignal;
  /** Make every call again instead of serving it from the store (the new answers replace the stored ones). */
  fresh?: boolean;
}

/** What every run's analysis holds besides its probes' results. */
export interface RunBase {
  runId: string;
  suiteName: string;
  simulated: boolean;
  /** Which backend played each part, and whether it was simulated or constructed (runs stored before roles were recorded: none). */
  roles: RunRole[];
  counters: { tasks: number; cacheHits: number; errors: number; finalErrors: number };
  /** One verdict per persona × model × method (and per pressure condition): adopted, and realized or performed. */
  verdicts: Verdict[];
  /** What was run: for the report's summary. */
  overview: { createdAt: string; status: string; models: string[]; personas: { id: string; name: string }[] };
  /** Calls, tokens and errors, read from the stored calls. */
  cost: RunCost;
}

/** A run's analysis: the run, and one field per probe the suite ran (probes/registry.ts), keyed by the probe. */
export type RunAnalysis = RunBase & Partial<ProbeResults>;

export interface RunResult {
  runId: string;
  resumed: boolean;
  counters: CallCounters;
  analysis: RunAnalysis;
  storePath: string;
}

import { modelIdOf } from '../suite/roles.js';

export { modelIdOf };

/**
 * A run's id: a hash of its suite and, where it names local models, of their weights (so a
 * model folder rebuilt at the same path with other weights is a new run, not the old numbers).
 */
export function runIdOf(suite: Suite, weights: readonly (string | undefined)[] = []): string {
  return hashOf(weights.some((w) => w !== undefined) ? { suite, weights } : suite).slice(0, 12);
}

export interface OpenedBackends {
  models: Backend[];
  /** Backends for references that are not model entries (judges, attackers, interlocutors), by id. */
  extras: Map<string, Backend>;
}

export async function openBackends(suite: Suite, env?: NodeJS.ProcessEnv, cacheDir?: string, baseDir?: string): Promise<OpenedBackends> {
  const models: Backend[] = [];
  const extras = new Map<string, Backend>();
  for (const m of suite.models) {
    const backend = await createBackend(m as string | ModelConfig, { env, cacheDir, baseDir });
    declareSuite(backend, suite);
    models.push(backend);
  }
  for (const { ref } of modelRefs(suite)) {
    const r = resolveModelRef(suite, ref);
    if (r.kind !== 'extra' || extras.has(r.id)) continue;
    const backend = await createBackend(r.id, { env, cacheDir, baseDir });
    declareSuite(backend, suite);
    extras.set(r.id, backend);
  }
  return { models, extras };
}

async function closeAll(opened: OpenedBackends): Promise<void> {
  for (const b of [...opened.models, ...opened.extras.values()]) await b.close?.();
}

/** Run a suite: plan, execute through the store (resuming anything already done), analyze. */
export async function runSuite(suite: Suite, options: RunOptions): Promise<RunResult> {
  const outDir = resolve(options.outDir);
  // Each probe reads and checks its files now (attack files, vectors, human data): a bad file
  // fails before any backend opens or anything is written.
  const dirs = probeDirs(options.suitePath ?? null);
  const issue = probeBlockIssue(suite);
  if (issue) throw new UserError(`${issue.path.join('.')}: ${issue.message}`);
  const probes = PROBES.filter((p) => p.enabled(suite));
  const prepared = new Map(probes.map((p) => [p.key, p.prepare?.(suite, dirs)]));
  // The output folder and an existing store are checked before any backend opens (nothing is
  // written for bad input); the store is created once the backends are ready.
  checkOutputDir(outDir);
  const opened = await openBackends(suite, options.env, join(outDir, 'models'), dirs.baseDir);
  const backends = opened.models;
  let store: RunStore;
  try {
    store = new RunStore(outDir);
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
  try {
    const runId = runIdOf(suite, backends.map((b) => b.weights));
    checkFolders([join(outDir, 'reports', runId)]);
    const { resumed } = store.startRun({ id: runId, suiteName: suite.name, suitePath: options.suitePath ?? null, config: suite, models: suite.models.map(modelIdOf), simulated: [...backends, ...opened.extras.values()].some((b) => b.simulated) });
    // Who played each part, from the backends that ran: the labels (simulated, constructed) come from this.
    store.putResult(runId, 'roles', suiteRoles(suite, backends, opened.extras));
    // Which models keep state between requests (only there can separate conversations touch).
    store.putResult(runId, STATEFUL_MODELS, [...suite.models.map((m, i) => [typeof m === 'string' ? m : m.id, backends[i]!] as const), ...opened.extras].filter(([, b]) => b.keepsState).map(([id]) => id));
    // How each model is asked, and what each probe fixes at the start, are stored, so analysis never guesses them.
    const optionProbs = backends.map((b) => b.capabilities.optionProbs);
    store.putResult(runId, OPTION_PROBS, optionProbs);
    for (const p of probes) for (const [key, value] of Object.entries(p.record?.({ suite, prepared: prepared.get(p.key), backends, optionProbs }) ?? {})) store.putResult(runId, key, value);
    // Calls that are a pure function of the suite first, model by model; then the probes that converse.
    const planned = probes.flatMap((p) => (p.plan?.({ suite, prepared: prepared.get(p.key), backends, optionProbs }) ?? []).map((task) => ({ task, probe: p.block })));
    const counters: CallCounters = { done: 0, total: planned.length, calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    for (let m = 0; m < backends.length; m++) {
      const mine = planned.filter((t) => t.task.modelIndex === m);
      const phase = [...new Set(mine.map((t) => t.probe))].join('+');
      await executeTasks(mine.map((t) => t.task), {
        runId,
        store,
        backend: backends[m]!,
        concurrency: suite.run.concurrency,
        ratePerMinute: suite.run.ratePerMinute,
        timeoutMs: suite.run.timeoutMs,
        retry: { maxAttempts: suite.run.maxAttempts, baseDelayMs: suite.run.backoffMs },
        counters,
        onProgress: () => options.onProgress?.(counters, phase),
        signal: options.signal,
        fresh: options.fresh,
      });
    }
    const ctx = new RunContext(suite, runId, store, backends, opened.extras, counters, dirs.baseDir, (phase) => options.onProgress?.(counters, phase), options.signal, options.fresh);
    for (const p of probes) await p.run?.(ctx, prepared.get(p.key));
    // Every call is in. The run is marked complete only once its analysis is stored: a run
    // whose analysis fails is marked failed, never complete.
    const status = counters.errors > 0 ? 'failed' : 'complete';
    let analysis: RunAnalysis;
    try {
      analysis = analyzeRun(store, runId, { prepared, status });
    } catch (err) {
      store.finishRun(runId, 'failed');
      throw err;
    }
    store.putResult(runId, 'analysis', analysis);
    store.finishRun(runId, status);
    return { runId, resumed, counters, analysis, storePath: store.path };
  } finally {
    store.close();
    await closeAll(opened);
  }
}

/** Where a suite's relative files are read: its folder (data files: else the working directory). */
export function probeDirs(suitePath: string | null): ProbeDirs {
  return suitePath ? { baseDir: dirname(resolve(suitePath)), dataDir: dirname(resolve(suitePath)) } : { dataDir: process.cwd() };
}

/** The folders a run writes to must be folders (or not exist yet): one line naming the one that is not. */
function checkFolders(paths: readonly string[]): void {
  for (const p of paths) {
    if (existsSync(p) && !statSync(p).isDirectory()) throw new UserError(`${p}: is a file, but the run writes a folder there (pass another --out)`);
  }
}

/** The output folder before any backend opens: its folders, and an existing store. */
export function checkOutputDir(outDir: string): void {
  checkFolders([outDir, join(outDir, 'reports')]);
  // An existing store that is damaged or someone else's is refused now, read-only.
  if (existsSync(join(outDir, STORE_FILE))) new RunStore(outDir, { readOnly: true }).close();
}

/**
 * Recompute a run's analysis from the store alone (no backend is opened): plan the
 * tasks again from the stored suite, read their stored responses, compute metrics.
 */
export function analyzeRun(store: RunStore, runId: string, given: { prepared?: ReadonlyMap<string, unknown>; status?: 'complete' | 'failed' } = {}): RunAnalysis {
  const run = store.getRun(runId);
  if (!run) throw new Error(`no run ${runId} in ${store.path}`);
  // The stored suite, decoded by the schema (a run stored by an incompatible version says so).
  const decoded = suiteSchema.safeParse(run.config);
  if (!decoded.success) throw new UserError(`run ${runId}: its stored suite does not decode with this version of persona-probe (${decoded.error.issues[0]?.path.join('.')}: ${decoded.error.issues[0]?.message}); run the suite again`);
  const suite: Suite = decoded.data;
  const responses = store.taskResponses(runId);
  // The model entries' roles come first, in suite order.
  const roles = store.getResult(runId, 'roles', z.array(runRoleSchema)) ?? [];
  const dirs = probeDirs(run.suitePath);
  const results: Partial<ProbeResults> = {};
  for (const probe of PROBES) {
    if (!probe.enabled(suite)) continue;
    // What the probe read at the start of the run, else read again (a re-render) only when its analysis asks.
    let prep = given.prepared?.get(probe.key);
    const prepared = () => (prep ??= probe.prepare?.(suite, dirs));
    const result = probe.analyze({ suite, responses, requestOf: (key) => store.taskRequest(runId, key), stored: (key, schema) => store.getResult(runId, key, schema), roles, prepared, earlier: results, dirs });
    if (result !== undefined) putResult(results, probe.key, result);
  }
  const stats = store.taskStats(runId);
  const errors = store.errors(runId);
  return {
    runId,
    suiteName: suite.name,
    simulated: run.simulated,
    roles,
    verdicts: verdictsFrom(PROBES.flatMap((p) => {
      const r = results[p.key];
      return r !== undefined && p.evidence ? [p.evidence(r, suite)] : [];
    })),
    ...results,
    counters: { tasks: stats.tasks, cacheHits: stats.cacheHits, errors: errors.length, finalErrors: errors.filter((e) => e.final).length },
    overview: {
      createdAt: run.createdAt,
      status: given.status ?? run.status,
      models: suite.models.map(modelIdOf),
      personas: suite.personas.map((p) => ({ id: p.id, name: p.name })),
    },
    cost: store.runCost(runId),
  };
}
