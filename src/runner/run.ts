import { analyzeNorms, loadNorms, type NormsAnalysis, type NormsData } from '../probes/norms.js';
import { dirname, join, resolve } from 'node:path';
import type { Backend } from '../backends/types.js';
import { createBackend, type ModelConfig } from '../backends/registry.js';
import { SimulatedPanel, parseSimSpec, type SimPersonaTruth } from '../backends/sim.js';
import { getInstrument } from '../instruments/index.js';
import { DOMAINS, type Profile } from '../instruments/types.js';
import { fidelityReport, type Administration, type FidelityReport } from '../metrics/fidelity.js';
import { BASELINE_ID, factText, targetProfile } from '../probes/conditioning.js';
import { assembleAdministrations, optionLabels, planFidelity, repetitionsFor, type FidelityTask } from '../probes/fidelity.js';
import { RunStore, STORE_FILE, type RunCost } from '../store/store.js';
import { suiteSchema, type PersonaSpec, type Suite } from '../suite/schema.js';
import { RunContext } from './context.js';
import { z } from 'zod';
import { backendIdOf, modelRefs, resolveModelRef, runRoleSchema, suiteRoles, type RunRole } from '../suite/roles.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { UserError } from '../util/errors.js';
import { existsSync, statSync } from 'node:fs';
import { adoptedRetention } from '../metrics/stickiness.js';
import { verdictOf, type Verdict } from '../metrics/verdict.js';
import type { Estimate } from '../metrics/bootstrap.js';
import { attackLibrary } from '../probes/attacks.js';
import { analyzeStickiness, familiesOf, runStickiness, simSubjectOf, type ResolvedCondition, type StickinessAnalysis } from '../probes/stickiness.js';
import { analyzeConsistency, runConsistency, type ConsistencyAnalysis } from '../probes/consistency.js';
import { analyzeTwins, planTwins, twinTasks, twinsBaseDir, type TwinPlan, type TwinTask, type TwinsAnalysis } from '../probes/twins.js';
import { hashOf } from '../util/hash.js';
import { executeTasks, type CallCounters } from './execute.js';
import { simulationRecovery, type RecoveryReport } from '../metrics/recovery.js';

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

export interface ModelAnalysis {
  model: string;
  simulated: boolean;
  /** A constructed (glass-box) model: what it is. Its numbers describe no language model. */
  constructed?: string;
  optionProbs: boolean;
  /** Repetitions the suite asked for and those administered, with the reason when they differ. */
  repetitions: { asked: number; administered: number; note?: string };
  methods: FidelityReport[];
  recovery?: RecoveryReport;
}

export interface RunAnalysis {
  runId: string;
  suiteName: string;
  simulated: boolean;
  /** Which backend played each part, and whether it was simulated or constructed (runs stored before roles were recorded: none). */
  roles: RunRole[];
  models: ModelAnalysis[];
  stickiness?: StickinessAnalysis;
  consistency?: ConsistencyAnalysis;
  twins?: TwinsAnalysis;
  /** Each measured profile, and the default's, among real people (suite `norms`). */
  norms?: NormsAnalysis;
  counters: { tasks: number; cacheHits: number; errors: number; finalErrors: number };
  /** One verdict per persona × model × method (and per stickiness condition): adopted, and realized or performed. */
  verdicts: Verdict[];
  /** What was run: for the report's summary. */
  overview: { createdAt: string; status: string; models: string[]; personas: { id: string; name: string }[]; methods: string[]; conditions: string[] };
  /** Calls, tokens and errors, read from the stored calls. */
  cost: RunCost;
}

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

function simTruthOf(persona: PersonaSpec, fallbackFidelity: number, override?: { fidelity?: number; decay?: number | Record<string, number> }): SimPersonaTruth {
  const s = persona.sim;
  return {
    target: targetProfile(persona),
    fidelity: override?.fidelity ?? s?.fidelity ?? fallbackFidelity,
    decay: override?.decay ?? s?.decay,
    behavior: s?.behavior,
    contradictions: s?.contradictions,
    commitmentFlip: s?.commitment_flip,
  };
}

/** Tell a simulated panel the ground truth of every persona and stickiness condition in the suite. */
export function declareSimTruths(backend: Backend, suite: Suite): void {
  if (!(backend instanceof SimulatedPanel)) return;
  // Truth, and what the panel may recognise a persona by in the text it is sent (its name or role);
  // the items it recognises by their text.
  backend.setInstrument(getInstrument(suite.instrument.id).items);
  for (const p of suite.personas) backend.setPersona(p.id, simTruthOf(p, backend.options.fidelity), { names: [p.name, ...(p.role ? [p.role] : [])], facts: p.facts.map(factText) });
  for (const c of suite.stickiness?.conditions ?? []) {
    const persona = suite.personas.find((p) => p.id === c.persona)!;
    backend.setPersona(simSubjectOf(c.id), simTruthOf(persona, backend.options.fidelity, c.sim), { of: persona.id });
  }
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
    declareSimTruths(backend, suite);
    models.push(backend);
  }
  for (const { ref } of modelRefs(suite)) {
    const r = resolveModelRef(suite, ref);
    if (r.kind !== 'extra' || extras.has(r.id)) continue;
    const backend = await createBackend(r.id, { env, cacheDir, baseDir });
    declareSimTruths(backend, suite);
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
  // Backends first: a missing key or model file fails here, before anything is written.
  const baseDir = options.suitePath ? dirname(resolve(options.suitePath)) : undefined;
  const library = suite.stickiness ? attackLibrary(suite.stickiness.attack_files.map((f) => resolve(baseDir ?? '.', f))) : new Map();
  // A persona vector used as the retention direction is read now (a bad file fails before any call) and stored with the run.
  const fixed = suite.stickiness?.retention.activations;
  const direction = fixed?.vector ? directionFromFile(resolve(baseDir ?? '.', fixed.vector), fixed.hook) : undefined;
  // The human data is read and split now: a bad file fails before any call.
  const twinPlan = suite.twins ? planTwins(suite, twinsBaseDir(options.suitePath)) : undefined;
  // The norms' data file too, read once and handed to the analysis: a bad one fails before any call.
  const normsData = suite.norms ? loadNorms(suite, twinsBaseDir(options.suitePath)) : undefined;
  // The output folder and an existing store are checked before any backend opens (nothing is
  // written for bad input); the store is created once the backends are ready.
  checkOutputDir(outDir);
  const opened = await openBackends(suite, options.env, join(outDir, 'models'), baseDir);
  const backends = opened.models;
  let store: RunStore;
  try {
    store = new RunStore(outDir);
  } catch (err) {
    await closeAll(opened);
    throw err;
  }
  try {
    const instrument = getInstrument(suite.instrument.id);
    const runId = runIdOf(suite, backends.map((b) => b.weights));
    checkFolders([join(outDir, 'reports', runId)]);
    const { resumed } = store.startRun({ id: runId, suiteName: suite.name, suitePath: options.suitePath ?? null, config: suite, models: suite.models.map(modelIdOf), simulated: [...backends, ...opened.extras.values()].some((b) => b.simulated) });
    // The families a stickiness block runs are fixed here and stored, so a re-render needs no attack files.
    // Who played each part, from the backends that ran: the labels (simulated, constructed) come from this.
    store.putResult(runId, 'roles', suiteRoles(suite, backends, opened.extras));
    // Which models keep state between requests (only there can separate conversations touch).
    store.putResult(runId, 'stateful-models', [...suite.models.map((m, i) => [typeof m === 'string' ? m : m.id, backends[i]!] as const), ...opened.extras].filter(([, b]) => b.keepsState).map(([id]) => id));
    if (suite.stickiness) store.putResult(runId, 'stickiness-families', familiesOf(suite.stickiness, library));
    if (direction) store.putResult(runId, 'stickiness-direction', direction);
    const optionProbs = backends.map((b) => b.capabilities.optionProbs);
    const repetitions = repetitionsFor(suite, backends);
    // How each model was asked is stored, so analysis never guesses it from which calls succeeded.
    store.putResult(runId, 'option-probs', optionProbs);
    store.putResult(runId, 'repetitions', repetitions);
    const tasks: (FidelityTask | TwinTask)[] = [...(suite.fidelity ? planFidelity({ suite, instrument, optionProbs, repetitions }) : []), ...(twinPlan ? twinTasks(suite, twinPlan, optionProbs) : [])];
    const counters: CallCounters = { done: 0, total: tasks.length, calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    for (let m = 0; m < backends.length; m++) {
      const mine = tasks.filter((t) => t.modelIndex === m);
      await executeTasks(mine, {
        runId,
        store,
        backend: backends[m]!,
        concurrency: suite.run.concurrency,
        ratePerMinute: suite.run.ratePerMinute,
        timeoutMs: suite.run.timeoutMs,
        retry: { maxAttempts: suite.run.maxAttempts, baseDelayMs: suite.run.backoffMs },
        counters,
        onProgress: () => options.onProgress?.(counters, 'fidelity'),
        signal: options.signal,
        fresh: options.fresh,
      });
    }
    const ctx = new RunContext(suite, runId, store, backends, opened.extras, counters, baseDir, (phase) => options.onProgress?.(counters, phase), options.signal, options.fresh);
    if (suite.stickiness) await runStickiness(ctx, library);
    if (suite.consistency) await runConsistency(ctx);
    // Every call is in. The run is marked complete only once its analysis is stored: a run
    // whose analysis fails is marked failed, never complete.
    const status = counters.errors > 0 ? 'failed' : 'complete';
    let analysis: RunAnalysis;
    try {
      analysis = analyzeRun(store, runId, { twinPlan, normsData, status });
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
export function analyzeRun(store: RunStore, runId: string, prepared: { twinPlan?: TwinPlan; normsData?: NormsData; status?: 'complete' | 'failed' } = {}): RunAnalysis {
  const run = store.getRun(runId);
  if (!run) throw new Error(`no run ${runId} in ${store.path}`);
  // The stored suite, decoded by the schema (a run stored by an incompatible version says so).
  const decoded = suiteSchema.safeParse(run.config);
  if (!decoded.success) throw new UserError(`run ${runId}: its stored suite does not decode with this version of persona-probe (${decoded.error.issues[0]?.path.join('.')}: ${decoded.error.issues[0]?.message}); run the suite again`);
  const suite: Suite = decoded.data;
  const instrument = getInstrument(suite.instrument.id);
  const responses = store.taskResponses(runId);
  // Whether a model used option probabilities is read off the stored tasks.
  // Runs stored before this was recorded: read it off the stored task keys.
  const optionProbs = store.getResult(runId, 'option-probs', z.array(z.boolean())) ?? suite.models.map((_, m) => [...responses.keys()].some((k) => k.startsWith(`m${m}|`) && !/\|s\d+$/.test(k)));
  const repetitions = store.getResult(runId, 'repetitions', z.array(z.number().int().min(1))) ?? suite.models.map(() => suite.repetitions);
  const tasks: FidelityTask[] = planFidelity({ suite, instrument, optionProbs, repetitions });
  // The model entries' roles come first, in suite order.
  const roles = store.getResult(runId, 'roles', z.array(runRoleSchema)) ?? [];
  const sheets = assembleAdministrations(tasks, responses, suite.instrument.scoring, optionLabels(suite, instrument), suite.instrument.min_coverage ?? 0);
  const targets = new Map<string, Profile>(suite.personas.map((p) => [p.id, targetProfile(p)]));
  const models: ModelAnalysis[] = suite.models.map((m, index) => {
    const id = modelIdOf(m);
    const all = sheets.get(index) ?? [];
    const baseline = all.filter((a) => a.personaId === BASELINE_ID);
    const methods = suite.methods.map((method) => {
      const bySheet = new Map<string, Administration[]>();
      for (const a of all) {
        if (a.method !== method.id) continue;
        bySheet.set(a.personaId, [...(bySheet.get(a.personaId) ?? []), a]);
      }
      return fidelityReport(instrument, method.id, bySheet, targets, baseline, suite.instrument.min_coverage ?? 0);
    });
    const role = roles[index];
    const simulated = role ? role.simulated : id.startsWith('sim:');
    const administered = repetitions[index] ?? suite.repetitions;
    const note = administered < suite.repetitions ? `${id} is scored from option probabilities, and an option-probability request carries no seed: its ${suite.repetitions} repetitions would be the same request, so each item was asked once and no run-to-run spread is reported; vary the prompt (instrument.variants) to measure variation` : undefined;
    const analysis: ModelAnalysis = { model: id, simulated, ...(role?.constructed ? { constructed: role.constructed } : {}), optionProbs: optionProbs[index] ?? false, repetitions: { asked: suite.repetitions, administered, ...(note ? { note } : {}) }, methods };
    if (simulated && methods[0]) {
      const truths = new Map(suite.personas.map((p) => [p.id, p.sim?.fidelity ?? simDefaultFidelity(id)]));
      analysis.recovery = simulationRecovery(methods[0], truths);
    }
    return analysis;
  });
  const measured = models.flatMap((m) => m.methods.flatMap((r, i) => [
    ...r.personas.map((p) => ({ model: m.model, method: r.method, persona: p.personaId, profile: Object.fromEntries(DOMAINS.map((d) => [d, p.measured[d].value])) as Profile })),
    ...(i === 0 && r.baseline ? [{ model: m.model, method: 'none', persona: '(default)', profile: r.baseline }] : []),
  ]));
  const normsAnalysis = suite.norms && suite.fidelity ? analyzeNorms(suite, prepared.normsData ?? loadNorms(suite, twinsBaseDir(run.suitePath)), measured) : undefined;
  let twins: TwinsAnalysis | undefined;
  if (suite.twins) {
    // A run that has just planned its twins passes the plan in, so the data file is read once.
    const plan = prepared.twinPlan ?? planTwins(suite, twinsBaseDir(run.suitePath));
    twins = analyzeTwins(suite, plan, suite.models.map(modelIdOf), responses, twinsBaseDir(run.suitePath));
  }
  const stats = store.taskStats(runId);
  const errors = store.errors(runId);
  const requestOf = (key: string) => store.taskRequest(runId, key);
  let stickiness: StickinessAnalysis | undefined;
  if (suite.stickiness) {
    const families = store.getResult(runId, 'stickiness-families', z.array(z.string())) ?? [];
    const sims = new Map<string, SimulatedPanel>();
    const simTruth = (c: ResolvedCondition, family: string, turn: number): number | undefined => {
      const id = backendIdOf(suite, c.model);
      if (!id.startsWith('sim:')) return undefined;
      let panel = sims.get(id);
      if (!panel) {
        panel = new SimulatedPanel(parseSimSpec(id.slice(4)));
        declareSimTruths(panel, suite);
        sims.set(id, panel);
      }
      // The retention a noiseless measurement reports: adherence now over adherence at turn 0 (the persistence), or 0 if never adopted.
      const subject = simSubjectOf(c.spec.id);
      return adoptedRetention(panel.trueAdherence(subject, family, turn), panel.trueAdoption(subject));
    };
    const fixed = store.getResult(runId, 'stickiness-direction', z.array(z.number()));
    stickiness = analyzeStickiness(suite, families, { responses, requestOf, simTruth, ...(fixed ? { direction: fixed } : {}) });
  }
  return {
    runId,
    suiteName: suite.name,
    simulated: run.simulated,
    roles,
    verdicts: verdictsOf(suite, suite.fidelity ? models : [], stickiness),
    models: suite.fidelity ? models : [],
    ...(stickiness ? { stickiness } : {}),
    ...(suite.consistency ? { consistency: analyzeConsistency(suite, responses, { statefulModels: store.getResult(runId, 'stateful-models', z.array(z.string())) ?? undefined }) } : {}),
    ...(twins ? { twins } : {}),
    ...(normsAnalysis ? { norms: normsAnalysis } : {}),
    counters: { tasks: stats.tasks, cacheHits: stats.cacheHits, errors: errors.length, finalErrors: errors.filter((e) => e.final).length },
    overview: {
      createdAt: run.createdAt,
      status: prepared.status ?? run.status,
      models: suite.models.map(modelIdOf),
      personas: suite.personas.map((p) => ({ id: p.id, name: p.name })),
      methods: suite.fidelity ? suite.methods.map((m) => m.id) : [],
      conditions: stickiness?.conditions.map((c) => c.id) ?? [],
    },
    cost: store.runCost(runId),
  };
}

/**
 * The verdicts: adoption from the fidelity inventory where it ran (else from turn 0 of the
 * stickiness conversations), realization from the stickiness condition with the same persona,
 * model and method (its primary measure).
 */
function verdictsOf(suite: Suite, models: readonly ModelAnalysis[], stickiness: StickinessAnalysis | undefined): Verdict[] {
  const out: Verdict[] = [];
  const fromFidelity = new Map<string, { adoption: Estimate | null; used: boolean }>();
  const key = (persona: string, model: string, method: string) => JSON.stringify([persona, model, method]);
  for (const m of models) for (const r of m.methods) for (const p of r.personas) fromFidelity.set(key(p.personaId, m.model, r.method), { adoption: p.adoption, used: false });
  for (const c of stickiness?.conditions ?? []) {
    const ref = resolveModelRef(suite, c.model);
    const model = ref.kind === 'entry' ? modelIdOf(suite.models[ref.index]!) : ref.id;
    const primary = c.measures.find((m) => m.adoption) ?? c.measures[0];
    const fid = fromFidelity.get(key(c.persona, model, c.method));
    const method = fid?.used ? `${c.method} (condition ${c.id})` : c.method;
    if (fid) fid.used = true;
    out.push(verdictOf({ persona: c.persona, model, method, adoption: fid?.adoption ?? primary?.adoption ?? null, adoptionSource: fid?.adoption ? 'fidelity' : primary?.adoption ? 'stickiness' : null, ...(primary ? { realization: primary.realization } : {}) }));
  }
  for (const [k, v] of fromFidelity) {
    if (v.used) continue;
    const [persona, model, method] = JSON.parse(k) as [string, string, string];
    out.push(verdictOf({ persona, model, method, adoption: v.adoption, adoptionSource: v.adoption ? 'fidelity' : null }));
  }
  return out;
}

function directionFromFile(file: string, hook: string): number[] {
  const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
  if (!m) throw new UserError(`stickiness.retention.activations: a persona vector is read at blocks.L.hook_resid_post; the hook is ${hook}`);
  const v = readVectorFile(file).layers.get(Number(m[1]));
  if (!v) throw new UserError(`${file}: no vector for ${hook}`);
  return [...v];
}

function simDefaultFidelity(modelId: string): number {
  const m = /fidelity=([0-9.]+)/.exec(modelId);
  return m ? Number(m[1]) : new SimulatedPanel().options.fidelity;
}
