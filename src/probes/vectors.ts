// Persona-vector extraction (after Chen et al.'s persona vectors and repeng): answer a
// trait's elicitation questions under each positive and negative instruction (any
// backend may generate), optionally keep only answers a judge scores as expressing (or
// not expressing) the trait, read the mean of every layer's hook_resid_post over the
// answer tokens on the engine, and store per layer the difference of means, optionally
// the first principal component of the paired differences, and the separation (Cohen's d)
// of held-out answers. Every call goes through the run store, so extraction resumes.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createBackend } from '../backends/registry.js';
import { storedMean, type Backend, type ChatMessage } from '../backends/types.js';
import { constructedLines, runRoles, type RunRole } from '../runner/roles.js';
import { readVectorFile, writeVectorFile } from '../engine/formats/vector-files.js';
import { addIntervention } from '../engine/interventions.js';
import { getInstrument } from '../instruments/index.js';
import { differenceOfMeans, firstPrincipalComponent, heldOutSeparation, norm, orient, projections, separationNull, type Vec } from '../metrics/vectors.js';
import { cohensD } from '../metrics/stats.js';
import { commandSuite, ProbeContext } from '../runner/context.js';
import type { CallCounters } from '../runner/execute.js';
import { forEachConcurrent } from '../runner/execute.js';
import { RunStore } from '../store/store.js';
import { UserError } from '../util/errors.js';
import { hashOf } from '../util/hash.js';
import { createRng } from '../util/rng.js';
import { parseScore } from './judges.js';
import { administerFork, forkProfile, shortInventory, textOf, turnSeed } from './dialogue.js';
import type { TraitDefinition } from './traits.js';

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
  env?: NodeJS.ProcessEnv;
  onProgress?: (counters: Readonly<CallCounters>) => void;
}

export interface LayerResult {
  layer: number;
  /** |mean(pos) - mean(neg)| on the training answers. */
  norm: number;
  /** Cohen's d of held-out positive vs negative answers projected on the unit vector. */
  separation: number;
  separationPca?: number;
  /** The 95th percentile of the separation with the labels permuted (same sample sizes), and the permutation p-value. */
  nullD95: number;
  nullP: number;
  /** Whether the separation clears the null: only such a layer is recommended. */
  clearsNull: boolean;
}

export interface ExtractionResult {
  runId: string;
  resumed: boolean;
  trait: string;
  model: string;
  layers: LayerResult[];
  /** The layer with the largest separation among those that clear the null; null when none does. */
  recommendedLayer: number | null;
  vectors: Map<number, Float32Array>;
  pca?: Map<number, Float32Array>;
  counts: { answers: number; kept: { positive: number; negative: number }; heldOut: { positive: number; negative: number }; judgeFailures: number; missing: number };
  counters: CallCounters;
  /** Which backend generated, judged and was read; a simulated one makes the result a simulation. */
  parts: RunRole[];
}

const JUDGE_PROMPT = (trait: TraitDefinition, question: string, answer: string) => `Trait: ${trait.name} (${trait.description}).
${trait.rubric}
Answer with one line: SCORE: <integer 0-100>

QUESTION: ${question}
<<<ANSWER
${answer}
>>>`;

/** Which questions are held out: a seeded shuffle, the first ceil(share * n). */
export function heldOutQuestions(n: number, share: number, seed: number): Set<number> {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = createRng(`held-out/${seed}`);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, Math.max(1, Math.ceil(share * n))));
}

const engineId = (model: string) => (model.startsWith('engine:') ? model : `engine:${model}`);

export async function extractVectors(o: ExtractOptions): Promise<ExtractionResult> {
  const trait = o.trait;
  const options = { threshold: o.threshold ?? 50, pca: o.pca ?? false, heldOut: o.heldOut ?? 0.25, seed: o.seed ?? 1, maxTokens: o.maxTokens ?? 64, temperature: o.temperature ?? 0.7 };
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
    const counters: CallCounters = { done: 0, total: trait.pairs.length * trait.questions.length * 2 * (judge ? 3 : 2), calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    // A minimal suite gives the probe context its run settings (concurrency, retries).
    const suite = commandSuite(`vectors:${trait.id}`, engine.id, o.concurrency);
    const ctx = new ProbeContext(suite, runId, store, [engine], new Map(), counters, undefined, () => o.onProgress?.(counters));
    const hooks = ['blocks.*.hook_resid_post'];
    const jobs: { pair: number; question: number; sign: 'pos' | 'neg' }[] = [];
    trait.pairs.forEach((_, pair) => trait.questions.forEach((__, question) => (['pos', 'neg'] as const).forEach((sign) => jobs.push({ pair, question, sign }))));
    await forEachConcurrent(jobs, Math.max(1, suite.run.concurrency * 2), async ({ pair, question, sign }) => {
      const key = `vx|p${pair}|q${question}|${sign}`;
      const instruction = sign === 'pos' ? trait.pairs[pair]!.positive : trait.pairs[pair]!.negative;
      const messages: ChatMessage[] = [
        { role: 'system', content: instruction },
        { role: 'user', content: trait.questions[question]! },
      ];
      const answer = textOf(await ctx.call(generator, { key: `${key}|answer`, kind: 'chat', request: { messages, sampling: { temperature: options.temperature, maxTokens: options.maxTokens, seed: turnSeed(options.seed, key, 0) } } }, 'vectors'));
      if (answer === undefined || answer === '') return; // nothing to pool
      const jobsForAnswer: Promise<unknown>[] = [ctx.call(engine, { key: `${key}|acts`, kind: 'activations', request: { messages: [...messages, { role: 'assistant', content: answer }], hooks } }, 'vectors')];
      if (judge) {
        jobsForAnswer.push(ctx.call(judge, { key: `${key}|judge`, kind: 'chat', request: { messages: [{ role: 'user', content: JUDGE_PROMPT(trait, trait.questions[question]!, answer) }], sampling: { temperature: 0, seed: options.seed, maxTokens: 16 } }, oracle: { task: 'judge', judge: 'adherence' } }, 'vectors'));
      }
      await Promise.all(jobsForAnswer);
    });
    const result = computeVectors(trait, store.taskResponses(runId), { ...options, judged: Boolean(judge) });
    const out: ExtractionResult = { runId, resumed, trait: trait.id, model: engine.id, ...result, counters, parts: roles };
    store.putResult(runId, 'vectors', { ...out, vectors: undefined, pca: undefined });
    store.finishRun(runId, counters.errors > 0 ? 'failed' : 'complete');
    return out;
  } finally {
    store.close();
    await engine.close?.();
  }
}

/**
 * From stored answers, judgments and activations: the per-layer vectors and their
 * separation. Pure given the responses, so a stored extraction recomputes exactly.
 */
export function computeVectors(
  trait: TraitDefinition,
  responses: ReadonlyMap<string, unknown>,
  o: { threshold: number; pca: boolean; heldOut: number; seed: number; judged: boolean },
): Omit<ExtractionResult, 'runId' | 'resumed' | 'trait' | 'model' | 'counters' | 'parts'> {
  const held = heldOutQuestions(trait.questions.length, o.heldOut, o.seed);
  type Sample = { pair: number; question: number; acts: Map<number, Float32Array> };
  const kept = { pos: [] as Sample[], neg: [] as Sample[] };
  let answers = 0;
  let judgeFailures = 0;
  let missing = 0;
  trait.pairs.forEach((_, pair) =>
    trait.questions.forEach((__, question) => {
      for (const sign of ['pos', 'neg'] as const) {
        const key = `vx|p${pair}|q${question}|${sign}`;
        const acts = responses.get(`${key}|acts`);
        if (!acts) {
          missing++;
          continue;
        }
        answers++;
        if (o.judged) {
          const s = parseScore(textOf(responses.get(`${key}|judge`)) ?? '', 100);
          if (!s.ok) {
            judgeFailures++;
            continue;
          }
          if (sign === 'pos' ? s.value < o.threshold : s.value >= o.threshold) continue;
        }
        const means = (acts as { means?: Record<string, string> }).means ?? {};
        const byLayer = new Map<number, Float32Array>();
        for (const hook of Object.keys(means)) {
          const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
          if (m) byLayer.set(Number(m[1]), storedMean(acts, hook)!);
        }
        kept[sign].push({ pair, question, acts: byLayer });
      }
    }),
  );
  const train = (xs: Sample[]) => xs.filter((s) => !held.has(s.question));
  const test = (xs: Sample[]) => xs.filter((s) => held.has(s.question));
  const trainPos = train(kept.pos);
  const trainNeg = train(kept.neg);
  if (!trainPos.length || !trainNeg.length) throw new UserError(`${trait.id}: no training answers left on one side (positive ${trainPos.length}, negative ${trainNeg.length}); lower the judge threshold or check the generator`);
  const layerIds = [...trainPos[0]!.acts.keys()].sort((a, b) => a - b);
  const vectors = new Map<number, Float32Array>();
  const pca = o.pca ? new Map<number, Float32Array>() : undefined;
  const layers: LayerResult[] = [];
  const at = (xs: Sample[], l: number): Vec[] => xs.map((s) => [...s.acts.get(l)!]);
  for (const l of layerIds) {
    const diff = differenceOfMeans(at(trainPos, l), at(trainNeg, l));
    vectors.set(l, Float32Array.from(diff));
    const hp = test(kept.pos);
    const hn = test(kept.neg);
    const separation = heldOutSeparation(at(trainPos, l), at(trainNeg, l), at(hp, l), at(hn, l));
    const nul = Number.isFinite(separation) ? separationNull(at(trainPos, l), at(trainNeg, l), at(hp, l), at(hn, l), separation, { seed: `${trait.id}/null/${l}/${o.seed}` }) : { d95: Number.NaN, p: Number.NaN };
    const row: LayerResult = { layer: l, norm: norm(diff), separation, nullD95: nul.d95, nullP: nul.p, clearsNull: separation > nul.d95 };
    if (pca) {
      // Paired differences: the same pair of instructions and the same question, both kept.
      const negBy = new Map(trainNeg.map((s) => [`${s.pair}|${s.question}`, s]));
      const paired = trainPos.filter((s) => negBy.has(`${s.pair}|${s.question}`)).map((s) => s.acts.get(l)!.map((x, i) => x - negBy.get(`${s.pair}|${s.question}`)!.acts.get(l)![i]!));
      if (paired.length >= 2) {
        const pc = orient(firstPrincipalComponent(paired.map((p) => [...p])), diff);
        pca.set(l, Float32Array.from(pc));
        row.separationPca = hp.length && hn.length ? cohensD(projections(at(hp, l), pc), projections(at(hn, l), pc)) : Number.NaN;
      }
    }
    layers.push(row);
  }
  // Recommended only where the separation is more than label noise would give.
  const clearing = layers.filter((r) => r.clearsNull);
  const recommendedLayer = clearing.length ? clearing.reduce((best, r) => (r.separation > best.separation ? r : best)).layer : null;
  return {
    layers,
    recommendedLayer,
    vectors,
    ...(pca ? { pca } : {}),
    counts: { answers, kept: { positive: kept.pos.length, negative: kept.neg.length }, heldOut: { positive: test(kept.pos).length, negative: test(kept.neg).length }, judgeFailures, missing },
  };
}

export function saveVectors(path: string, r: ExtractionResult): void {
  writeVectorFile(path, {
    layers: r.vectors,
    ...(r.pca ? { pca: r.pca } : {}),
    metadata: {
      trait: r.trait,
      model: r.model,
      hook: 'hook_resid_post',
      method: 'difference of means over answer tokens',
      ...(r.recommendedLayer !== null ? { recommended_layer: String(r.recommendedLayer) } : {}),
      separation: JSON.stringify(Object.fromEntries(r.layers.map((l) => [l.layer, l.separation]))),
      run: r.runId,
      ...(r.parts.some((p) => p.constructed) ? { constructed: constructedLines(r.parts).join(' ') } : {}),
      ...(r.parts.some((p) => p.simulated) ? { simulated: `yes: ${r.parts.filter((p) => p.simulated).map((p) => `${p.role} ${p.backend}`).join(', ')}` } : {}),
    },
  });
}

export interface MonitoredVector {
  name: string;
  layer: number;
  vector: Float32Array;
}

export interface MonitorRow {
  /** Index of the assistant turn (0-based) and of its message in the transcript. */
  turn: number;
  message: number;
  vector: string;
  layer: number;
  /** Mean over the turn's tokens of blocks.L.hook_resid_post, projected on the unit vector. */
  projection: number;
}

/** The projection of every assistant turn onto each vector (the turn's own tokens, with everything before it as context). */
export async function monitorTranscript(engine: Backend, messages: ChatMessage[], vectors: MonitoredVector[]): Promise<MonitorRow[]> {
  if (!engine.activations) throw new UserError('monitoring needs the engine: backend');
  const hooks = [...new Set(vectors.map((v) => `blocks.${v.layer}.hook_resid_post`))];
  const rows: MonitorRow[] = [];
  let turn = 0;
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.role !== 'assistant') continue;
    const r = await engine.activations({ messages: messages.slice(0, i + 1), hooks });
    for (const v of vectors) {
      const mean = storedMean(r, `blocks.${v.layer}.hook_resid_post`);
      rows.push({ turn, message: i, vector: v.name, layer: v.layer, projection: mean ? projections([[...mean]], [...v.vector])[0]! : Number.NaN });
    }
    turn++;
  }
  return rows;
}

export const NEUTRAL_TEXT = 'The library opens at nine in the morning and closes at six in the evening. Books can be borrowed for three weeks and renewed once. The reading room is on the second floor, next to the map collection.';

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

export interface SweepRow {
  layer: number;
  coef: number;
  /** Inventory domain scores under steering (1..5). */
  inventory: Record<'O' | 'C' | 'E' | 'A' | 'N', number>;
  /** Mean judge score (0..100) of the trait in steered answers, with the number parsed. */
  judge?: { mean: number; parsed: number; failed: number };
  /** Perplexity of a fixed neutral text: the fluency guard. */
  perplexity: number;
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
    const suite = commandSuite('sweep', `engine:${modelDir}`, o.concurrency);
    const rows: SweepRow[] = [];
    for (const layer of layers)
      for (const coef of o.coefs) {
        const backend = await EngineBackend.create({ model: modelDir, interventions: coef === 0 ? [] : [addIntervention(residPostOf(layer), set.layers.get(layer)!, coef)] });
        const ctx = new ProbeContext(suite, runId, store, [backend], new Map(), counters, undefined, () => o.onProgress?.(counters));
        const key = `sw|l${layer}|c${coef}`;
        await administerFork(ctx, { backend, keyPrefix: key, messages: [], items, options: instrument.options, oracle: {}, phase: 'sweep' });
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
