// The persona-vector commands' orchestration: extraction and steering sweeps create
// backends, open the run store, hash their settings and write results; what they plan and
// how stored answers become vectors is the probe's (probes/vectors.ts).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createBackend } from '../backends/registry.js';
import type { Backend, CallCounters, ChatMessage } from '../backends/types.js';
import { runRoles } from '../suite/roles.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { addIntervention } from '../engine/interventions.js';
import { getInstrument } from '../instruments/index.js';
import { commandSettings, StoreCalls } from '../runner/context.js';
import { batchEngineGeneration } from './engine-parts.js';
import { RunStore } from '../store/store.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { UserError } from '../util/errors.js';
import { hashOf } from '../util/hash.js';
import { parseScore } from '../probes/judges.js';
import { administerFork, forkProfile, shortInventory, textOf, turnSeed } from '../probes/dialogue.js';
import type { TraitDefinition } from '../probes/traits.js';
import { COHERENCE_PROMPT, computeVectors, instructionSystem, JUDGE_PROMPT, NEUTRAL_TEXT, vectorKey, type ExtractionResult, type SweepRow } from '../probes/vectors.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../probes/fidelity.js';
import { expectedAnswer, keyedScore } from '../instruments/index.js';

export interface ExtractOptions {
  /** Project directory holding the run store. */
  outDir: string;
  /** The engine model: engine:DIR, engine:hf:..., or a folder path. */
  model: string;
  trait: TraitDefinition;
  /** Backend that writes the answers (default: the engine model itself). */
  generateWith?: string;
  /** Backend that judges trait expression, to filter answers (default: no filter). */
  judge?: string;
  /** Judge score (0..100) at or above which an answer expresses the trait. */
  threshold?: number;
  pca?: boolean;
  /** Share of questions held out for the separation measure. */
  heldOut?: number;
  seed?: number;
  maxTokens?: number;
  temperature?: number;
  concurrency?: number;
  /** Answers the engine decodes together when it writes them (default GENERATION_BATCH; 1: one at a time). */
  batch?: number;
  env?: NodeJS.ProcessEnv;
  onProgress?: (counters: Readonly<CallCounters>) => void;
  /**
   * How the layer is recommended: by held-out separation (default), or by steering effect: each
   * layer's vector added with −coef and +coef, and the trait domain's inventory score compared
   * (a Big Five pole only: its domain's items measure the effect). Separation is reported beside it.
   */
  chooseBy?: 'separation' | 'steering';
  /** Steering coefficient for the choice, in units of the layer's own difference of means (default 0.5). */
  steeringCoef?: number;
  /** Answers per (pair, question, sign) (default 1). */
  rollouts?: number;
  /** Also judge coherence and drop answers below 50 (needs a judge). */
  coherence?: boolean;
  /** Keep positive and negative answers only in pairs that both pass the filters (needs a judge). */
  pairwise?: boolean;
  /** Open each system prompt with "You are a TRAIT assistant." / "You are a helpful assistant." */
  prefix?: boolean;
}

/**
 * The persona-vector paper's pipeline (Chen et al., 2025; its reference code's defaults): ten
 * answers per question and instruction at temperature 1, up to 1,000 tokens, the "You are a
 * TRAIT assistant." opening, trait and coherence judged, positive and negative answers masked
 * jointly, and the layer chosen by steering effect. Every setting can still be given explicitly.
 */
export const PERSONA_VECTORS_PRESET: Required<Pick<ExtractOptions, 'rollouts' | 'temperature' | 'maxTokens' | 'threshold' | 'coherence' | 'pairwise' | 'prefix' | 'chooseBy'>> = {
  rollouts: 10,
  temperature: 1,
  maxTokens: 1000,
  threshold: 50,
  coherence: true,
  pairwise: true,
  prefix: true,
  chooseBy: 'steering',
};

/**
 * The behavioural effect of each layer's vector: the trait domain's short-inventory score with
 * +coef·v added at blocks.L.hook_resid_post minus with −coef·v, oriented so that positive is
 * toward the trait's pole.
 */
async function steeringEffects(engine: Backend, trait: TraitDefinition, vectors: ReadonlyMap<number, Float32Array>, coef: number): Promise<Map<number, number>> {
  if (!trait.domain || !trait.pole) throw new UserError(`vectors extract --choose-by steering: ${trait.id} is not a Big Five pole, so no inventory domain measures its effect; choose by separation`);
  const { EngineBackend } = await import('../backends/engine.js');
  if (!(engine instanceof EngineBackend)) throw new UserError('vectors extract --choose-by steering: steering needs the engine: backend');
  const modelDir = engine.modelDir;
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, 4).filter((i) => i.domain === trait.domain);
  const score = async (layer: number, c: number) => {
    const backend = await EngineBackend.create({ model: modelDir, interventions: [addIntervention(residPostOf(layer), vectors.get(layer)!, c)] });
    let sum = 0;
    for (const item of items) {
      const p = await backend.optionProbs({ messages: [{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }], options: OPTION_DIGITS });
      sum += keyedScore(item, expectedAnswer(p.probs), instrument.options.length);
    }
    return sum / items.length;
  };
  const out = new Map<number, number>();
  for (const layer of vectors.keys()) out.set(layer, (trait.pole === 'high' ? 1 : -1) * ((await score(layer, coef)) - (await score(layer, -coef))));
  return out;
}

const engineId = (model: string) => (model.startsWith('engine:') ? model : `engine:${model}`);

export async function extractVectors(o: ExtractOptions): Promise<ExtractionResult> {
  const trait = o.trait;
  const options = { threshold: o.threshold ?? 50, pca: o.pca ?? false, heldOut: o.heldOut ?? 0.25, seed: o.seed ?? 1, maxTokens: o.maxTokens ?? 64, temperature: o.temperature ?? 0.7, rollouts: o.rollouts ?? 1, coherence: o.coherence ?? false, pairwise: o.pairwise ?? false, prefix: o.prefix ?? false };
  if (!Number.isInteger(options.rollouts) || options.rollouts < 1 || options.rollouts > 100) throw new UserError(`vectors extract: --rollouts must be an integer from 1 to 100 (got ${o.rollouts})`);
  if ((options.coherence || options.pairwise) && !o.judge) throw new UserError(`vectors extract: ${options.coherence ? 'the coherence filter' : 'pairwise masking'} needs a judge (--judge MODEL)`);
  const engine = await createBackend(engineId(o.model), { env: o.env });
  if (!engine.capabilities.activations) throw new UserError(`${o.model}: activations need the engine: backend`);
  const generator: Backend = o.generateWith ? await createBackend(o.generateWith, { env: o.env }) : engine;
  const judge: Backend | undefined = o.judge ? await createBackend(o.judge, { env: o.env }) : undefined;
  const config = { kind: 'persona-vectors', trait, model: engine.id, generator: generator.id, judge: judge?.id ?? null, ...options };
  const runId = hashOf(config).slice(0, 12);
  const store = new RunStore(o.outDir);
  try {
    // Labelled by what runs: a simulated generator or judge makes the whole run a simulation.
    const roles = runRoles({ model: engine, generator, judge });
    const { resumed } = store.startRun({ id: runId, suiteName: `vectors:${trait.id}`, suitePath: trait.source, config, models: [engine.id], simulated: roles.some((r) => r.simulated) });
    store.putResult(runId, 'roles', roles);
    const counters: CallCounters = { done: 0, total: trait.pairs.length * trait.questions.length * 2 * options.rollouts * (2 + (judge ? 1 : 0) + (judge && options.coherence ? 1 : 0)), calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    const hooks = ['blocks.*.hook_resid_post'];
    const settings = commandSettings(o.concurrency ?? batchEngineGeneration(engine, generator, hooks, o.batch));
    const ctx = new StoreCalls(settings, runId, store, counters, () => o.onProgress?.(counters));
    const jobs: { pair: number; question: number; sign: 'pos' | 'neg'; rollout: number }[] = [];
    trait.pairs.forEach((_, pair) => trait.questions.forEach((__, question) => (['pos', 'neg'] as const).forEach((sign) => { for (let rollout = 0; rollout < options.rollouts; rollout++) jobs.push({ pair, question, sign, rollout }); })));
    await forEachConcurrent(jobs, Math.max(1, settings.concurrency * 2), async ({ pair, question, sign, rollout }) => {
      const key = vectorKey(pair, question, sign, rollout);
      const instruction = instructionSystem(trait, sign === 'pos' ? trait.pairs[pair]!.positive : trait.pairs[pair]!.negative, sign, options.prefix);
      const messages: ChatMessage[] = [
        { role: 'system', content: instruction },
        { role: 'user', content: trait.questions[question]! },
      ];
      const answer = textOf(await ctx.call(generator, { key: `${key}|answer`, kind: 'chat', request: { messages, sampling: { temperature: options.temperature, maxTokens: options.maxTokens, seed: turnSeed(options.seed, key, 0) } } }, 'vectors'));
      if (answer === undefined || answer === '') return; // nothing to pool
      const jobsForAnswer: Promise<unknown>[] = [ctx.call(engine, { key: `${key}|acts`, kind: 'activations', request: { messages: [...messages, { role: 'assistant', content: answer }], hooks } }, 'vectors')];
      if (judge) {
        jobsForAnswer.push(ctx.call(judge, { key: `${key}|judge`, kind: 'chat', request: { messages: [{ role: 'user', content: JUDGE_PROMPT(trait, trait.questions[question]!, answer) }], sampling: { temperature: 0, seed: options.seed, maxTokens: 16 } }, oracle: { task: 'judge', judge: 'adherence' } }, 'vectors'));
        if (options.coherence) jobsForAnswer.push(ctx.call(judge, { key: `${key}|coherence`, kind: 'chat', request: { messages: [{ role: 'user', content: COHERENCE_PROMPT(trait.questions[question]!, answer) }], sampling: { temperature: 0, seed: options.seed, maxTokens: 16 } }, oracle: { task: 'judge', judge: 'coherence' } }, 'vectors'));
      }
      await Promise.all(jobsForAnswer);
    });
    const result = computeVectors(trait, store.taskResponses(runId), { ...options, judged: Boolean(judge) });
    result.settings = { rollouts: options.rollouts, temperature: options.temperature, maxTokens: options.maxTokens, threshold: options.threshold, coherence: options.coherence, pairwise: options.pairwise, prefix: options.prefix };
    if (o.chooseBy === 'steering') {
      // Layer choice by steering effect (the paper's criterion), separation beside it.
      const effects = await steeringEffects(engine, trait, result.vectors, o.steeringCoef ?? 0.5);
      for (const l of result.layers) l.steeringEffect = effects.get(l.layer);
      const best = result.layers.filter((l) => Number.isFinite(l.steeringEffect) && l.steeringEffect! > 0).sort((a, b) => b.steeringEffect! - a.steeringEffect! || a.layer - b.layer)[0];
      result.recommendedLayer = best ? best.layer : null;
      result.chosenBy = 'steering';
    }
    const out: ExtractionResult = { runId, resumed, trait: trait.id, model: engine.id, ...result, counters, parts: roles };
    store.putResult(runId, 'vectors', { ...out, vectors: undefined, pca: undefined });
    store.finishRun(runId, counters.errors > 0 ? 'failed' : 'complete');
    return out;
  } finally {
    store.close();
    await engine.close?.();
  }
}

export interface SweepOptions {
  outDir: string;
  model: string;
  /** Persona-vector file and the layers to steer at (default: its recommended layer). */
  vectorsFile: string;
  layers?: number[];
  coefs: number[];
  /** Short inventory size per domain, scored from option probabilities. */
  itemsPerDomain?: number;
  /** Judge trait expression of steered answers (needs a trait). */
  judge?: string;
  trait?: TraitDefinition;
  questions?: number;
  maxTokens?: number;
  seed?: number;
  neutralText?: string;
  concurrency?: number;
  onProgress?: (c: Readonly<CallCounters>) => void;
}

/** Steer with each coefficient at each layer and measure behavior: the steering-effect curve. */
export async function sweepSteering(o: SweepOptions): Promise<{ runId: string; rows: SweepRow[]; counters: CallCounters }> {
  // Loaded on use: the engine backend pulls in onnxruntime, which other commands do not need.
  const { EngineBackend } = await import('../backends/engine.js');
  const set = readVectorFile(o.vectorsFile);
  if (!o.layers && set.metadata.recommended_layer === undefined) throw new UserError(`${o.vectorsFile}: no recommended layer (no layer's separation cleared the null); pass --layers`);
  const layers = o.layers ?? [Number(set.metadata.recommended_layer)];
  for (const l of layers) if (!set.layers.has(l)) throw new UserError(`${o.vectorsFile}: no vector for layer ${l} (has ${[...set.layers.keys()].join(', ')})`);
  if (o.judge && !o.trait) throw new UserError('vectors sweep: a judge needs --trait (its questions and rubric)');
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, o.itemsPerDomain ?? 2);
  const modelDir = o.model.startsWith('engine:') ? o.model.slice('engine:'.length) : o.model;
  const judge = o.judge ? await createBackend(o.judge) : undefined;
  const config = { kind: 'steering-sweep', model: modelDir, vectors: readFileDigest(o.vectorsFile), layers, coefs: o.coefs, items: items.map((i) => i.id), judge: judge?.id ?? null, trait: o.trait?.id ?? null, questions: o.questions ?? 4, maxTokens: o.maxTokens ?? 48, seed: o.seed ?? 1 };
  const runId = hashOf(config).slice(0, 12);
  const store = new RunStore(o.outDir);
  try {
    const plain = await EngineBackend.create({ model: modelDir });
    const roles = runRoles({ model: plain, judge });
    store.startRun({ id: runId, suiteName: `sweep:${set.metadata.trait ?? 'vector'}`, suitePath: o.vectorsFile, config, models: [`engine:${modelDir}`], simulated: roles.some((r) => r.simulated) });
    store.putResult(runId, 'roles', roles);
    const counters: CallCounters = { done: 0, total: layers.length * o.coefs.length * (items.length + (judge ? 2 * config.questions : 0)), calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    const settings = commandSettings(o.concurrency);
    const rows: SweepRow[] = [];
    for (const layer of layers)
      for (const coef of o.coefs) {
        const backend = await EngineBackend.create({ model: modelDir, interventions: coef === 0 ? [] : [addIntervention(residPostOf(layer), set.layers.get(layer)!, coef)] });
        const ctx = new StoreCalls(settings, runId, store, counters, () => o.onProgress?.(counters));
        const key = `sw|l${layer}|c${coef}`;
        await administerFork(ctx, { backend, keyPrefix: key, messages: [], items, options: instrument.options, oracle: {}, phase: 'sweep', sampling: { samples: 1, temperature: settings.temperature, seed: config.seed } });
        const responses = () => store.taskResponses(runId);
        const profile = forkProfile(instrument, responses(), key, items, instrument.options).profile;
        let judged: SweepRow['judge'];
        if (judge && o.trait) {
          const scores = await Promise.all(o.trait.questions.slice(0, config.questions).map(async (q, i) => {
            const answer = textOf(await ctx.call(backend, { key: `${key}|q${i}|answer`, kind: 'chat', request: { messages: [{ role: 'user', content: q }], sampling: { temperature: 0, maxTokens: config.maxTokens, seed: config.seed } } }, 'sweep'));
            if (answer === undefined) return { ok: false as const, reason: 'no answer' };
            return parseScore(textOf(await ctx.call(judge, { key: `${key}|q${i}|judge`, kind: 'chat', request: { messages: [{ role: 'user', content: JUDGE_PROMPT(o.trait!, q, answer) }], sampling: { temperature: 0, seed: config.seed, maxTokens: 16 } }, oracle: { task: 'judge', judge: 'adherence' } }, 'sweep')) ?? '', 100);
          }));
          const ok = scores.filter((s): s is { ok: true; value: number } => s.ok).map((s) => s.value);
          judged = { mean: ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN, parsed: ok.length, failed: scores.length - ok.length };
        }
        rows.push({ layer, coef, inventory: profile, ...(judged ? { judge: judged } : {}), perplexity: await backend.perplexity(o.neutralText ?? NEUTRAL_TEXT) });
      }
    store.putResult(runId, 'sweep', rows);
    store.finishRun(runId, counters.errors > 0 ? 'failed' : 'complete');
    return { runId, rows, counters };
  } finally {
    store.close();
  }
}

const residPostOf = (layer: number) => `blocks.${layer}.hook_resid_post`;

function readFileDigest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}
