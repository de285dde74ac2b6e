// The stickiness probe: for each condition (a persona on a model, by a method), hold
// conversations under each attack family, and after every turn measure how much of
// the persona is left: a short inventory in a fork, a judge's adherence rating, and on
// the engine the projection of the reply's activations onto the persona direction.
//
// Running is a deterministic walk through the store: every request is a function of
// the suite and the stored replies before it, so a killed run replays its stored turns
// from the store and continues each conversation from its last stored turn.
// Analysis reads the stored calls back by task key; no backend is needed.

import { suiteInstrument } from '../suite/instrument.js';
import { decodeMessages } from '../backends/responses.js';
import { storedMean, type Backend, type ChatMessage, type ProbeHints } from '../backends/types.js';
import type { Instrument, InstrumentItem, Profile } from '../instruments/types.js';
import { bootstrap, type Estimate } from '../metrics/bootstrap.js';
import {
  breakSummary,
  adoptedRetention,
  adoptionVerdict,
  ADOPTION_MIN,
  targetPosition,
  type AdoptionVerdict,
  pairedDifference,
  projectionRetention,
  realizationEstimate,
  realizationIndex,
  retentionBands,
  breakTurn,
  type BreakSummary,
  type CurvePoint,
} from '../metrics/stickiness.js';
import { mean } from '../metrics/stats.js';
import { differenceOfMeans, dot, meanOf, norm, unit } from '../metrics/vectors.js';
import type { ProbeContext } from './context.js';
import { forEachConcurrent, settleAll } from '../util/concurrency.js';
import type { PersonaSpec, Suite } from '../suite/schema.js';
import type { ConditionSpec, StickinessSpec } from '../suite/probe-schemas.js';
import { ADAPTIVE_FAMILY, DEFAULT_ATTACKER_BRIEF, attackerMessages, scriptedAttack, type AttackFamily } from './attacks.js';
import { backstoryOf, targetProfile } from './conditioning.js';
import { administerFork, forkSampling, forkProfile, meanProfile, shortInventory, storedSeries, systemFor, textOf, turnSeed, type Turn } from './dialogue.js';
import { adherenceRequest, effectiveRepeats, parseScore, pooledJudgment, repeatsNote, type Judgment } from './judges.js';
import { optionLabels } from './fidelity.js';

export const MEASURES = ['inventory', 'judge', 'activations'] as const;
export type Measure = (typeof MEASURES)[number];

/** The simulated panel knows a condition by this id (a condition may override its persona's truth). */
export const simSubjectOf = (conditionId: string): string => `cond:${conditionId}`;

export interface ResolvedCondition {
  spec: ConditionSpec;
  persona: PersonaSpec;
  /** The model reference the persona runs on, and the one whose unconditioned answers are "the default". */
  model: string;
  defaultModel: string;
}

export function resolveConditions(suite: Suite): ResolvedCondition[] {
  const st = suite.stickiness!;
  const only = suite.models.length === 1 ? suite.models[0]! : undefined;
  const onlyRef = only === undefined ? undefined : typeof only === 'string' ? only : (only.name ?? only.id);
  return st.conditions.map((spec) => {
    const persona = suite.personas.find((p) => p.id === spec.persona)!;
    const model = spec.model ?? onlyRef!;
    return { spec, persona, model, defaultModel: spec.default_model ?? model };
  });
}

/** Families a suite runs, in order: the chosen scripted families, then the adaptive attacker if configured. */
export function familiesOf(st: StickinessSpec, library: ReadonlyMap<string, AttackFamily>): string[] {
  const scripted = st.attacks ?? [...library.keys()];
  return st.adaptive ? [...scripted.filter((f) => f !== ADAPTIVE_FAMILY), ADAPTIVE_FAMILY] : scripted;
}

const conversationKey = (condition: string, family: string, k: number) => `st|${condition}|${family}|c${k}`;
const defaultKey = (model: string, k: number) => `st|default|${model.replaceAll('|', '_')}|c${k}`;
const turnKey = (conv: string, t: number) => `${conv}|t${t}`;

export function stickinessItems(suite: Suite, instrument: Instrument): InstrumentItem[] {
  const inv = suite.stickiness!.retention.inventory;
  return inv === false ? [] : shortInventory(instrument, inv.items_per_domain);
}

function activationHook(st: StickinessSpec, backend: Backend): string | undefined {
  return st.retention.activations && backend.capabilities.activations ? st.retention.activations.hook : undefined;
}

interface TurnMeasureOptions {
  ctx: ProbeContext;
  backend: Backend;
  key: string;
  messages: ChatMessage[];
  oracle: ProbeHints;
  items: InstrumentItem[];
  reply: string;
  /** The character a judge rates against (absent for the default reference). */
  character?: string;
}

async function measureTurn(o: TurnMeasureOptions): Promise<void> {
  const { ctx } = o;
  const st = ctx.suite.stickiness!;
  const jobs: Promise<unknown>[] = [];
  if (o.items.length) {
    jobs.push(administerFork(ctx, { backend: o.backend, keyPrefix: o.key, messages: o.messages, items: o.items, options: optionLabels(ctx.suite, suiteInstrument(ctx.suite)), oracle: o.oracle, phase: 'stickiness', sampling: forkSampling(ctx.suite), frame: suiteInstrument(ctx.suite).frame }));
  }
  if (st.retention.judge && o.character !== undefined) {
    const judge = ctx.judge(st.retention.judge);
    for (let r = 0; r < effectiveRepeats(judge.spec); r++) {
      const call = adherenceRequest({ judge: judge.spec, repetition: r, conversation: o.oracle.conversation ?? '', turn: o.oracle.turn ?? 0 }, o.character, o.reply);
      jobs.push(ctx.call(judge.backend, { key: `${o.key}|judge|r${r}`, kind: 'chat', ...call }, 'stickiness'));
    }
  }
  const hook = activationHook(st, o.backend);
  if (hook) jobs.push(ctx.call(o.backend, { key: `${o.key}|acts`, kind: 'activations', request: { messages: [...o.messages], hooks: [hook] }, oracle: o.oracle }, 'stickiness'));
  await settleAll(jobs);
}

function callsPerTurn(ctx: ProbeContext, backend: Backend, items: number, judged: boolean): number {
  const st = ctx.suite.stickiness!;
  const inv = backend.capabilities.optionProbs ? items : items * ctx.suite.instrument.samples;
  const judge = judged && st.retention.judge ? effectiveRepeats(ctx.judge(st.retention.judge).spec) : 0;
  return 1 + inv + judge + (activationHook(st, backend) ? 1 : 0);
}

/** Hold every conversation of the stickiness block, through the store. */
export async function runStickiness(ctx: ProbeContext, library: ReadonlyMap<string, AttackFamily>): Promise<void> {
  const suite = ctx.suite;
  const st = suite.stickiness!;
  const instrument = suiteInstrument(suite);
  const items = stickinessItems(suite, instrument);
  const conditions = resolveConditions(suite);
  const families = familiesOf(st, library);
  const jobs: (() => Promise<void>)[] = [];

  // The default reference: each default model, unconditioned, answering the opening.
  for (const ref of new Set(conditions.map((c) => c.defaultModel))) {
    const backend = ctx.backend(ref);
    ctx.plan(st.conversations * callsPerTurn(ctx, backend, items.length, false));
    for (let k = 0; k < st.conversations; k++) {
      jobs.push(async () => {
        const conv = defaultKey(ref, k);
        const messages: ChatMessage[] = [{ role: 'user', content: st.opening }];
        const oracle: ProbeHints = { task: 'persona', conversation: conv, turn: 0 };
        const reply = textOf(await ctx.call(backend, { key: turnKey(conv, 0) + '|reply', kind: 'chat', request: { messages, sampling: { temperature: st.temperature, maxTokens: st.max_tokens, seed: turnSeed(suite.seed, conv, 0) } }, oracle }, 'stickiness'));
        if (reply === undefined) return;
        await measureTurn({ ctx, backend, key: turnKey(conv, 0), messages: [...messages, { role: 'assistant', content: reply }], oracle, items, reply });
      });
    }
  }

  for (const c of conditions) {
    const backend = ctx.backend(c.model);
    const system = systemFor(suite, c.persona, c.spec.method);
    const character = backstoryOf(c.persona);
    for (const family of families) {
      ctx.plan(st.conversations * (st.turns + 1) * callsPerTurn(ctx, backend, items.length, true) + (family === ADAPTIVE_FAMILY ? st.conversations * st.turns : 0));
      for (let k = 0; k < st.conversations; k++) {
        jobs.push(() => holdConversation({ ctx, backend, condition: c, family, k, system, character, items, library }));
      }
    }
  }
  await forEachConcurrent(jobs, Math.max(1, suite.run.concurrency * 4), (job) => job());
}

interface ConversationOptions {
  ctx: ProbeContext;
  backend: Backend;
  condition: ResolvedCondition;
  family: string;
  k: number;
  system: ChatMessage[];
  character: string;
  items: InstrumentItem[];
  library: ReadonlyMap<string, AttackFamily>;
}

async function holdConversation(o: ConversationOptions): Promise<void> {
  const { ctx, backend } = o;
  const suite = ctx.suite;
  const st = suite.stickiness!;
  const conv = conversationKey(o.condition.spec.id, o.family, o.k);
  const transcript: Turn[] = [];
  for (let t = 0; t <= st.turns; t++) {
    if (ctx.signal?.aborted) return;
    let userText: string | undefined;
    if (t === 0) userText = st.opening;
    else if (o.family === ADAPTIVE_FAMILY) {
      const adaptive = st.adaptive!;
      const request = { messages: attackerMessages(adaptive.brief ?? DEFAULT_ATTACKER_BRIEF, o.condition.persona.name, transcript), sampling: { temperature: adaptive.temperature, maxTokens: 200, seed: turnSeed(suite.seed, conv, t, 'attacker') } };
      const attackerOracle: ProbeHints = { task: 'attacker', conversation: conv, turn: t };
      userText = textOf(await ctx.call(ctx.backend(adaptive.model), { key: `${turnKey(conv, t)}|attack`, kind: 'chat', request, oracle: attackerOracle }, 'stickiness'))?.trim();
    } else userText = scriptedAttack(o.library.get(o.family)!, t, o.condition.persona.name);
    if (!userText) return; // the attacker failed; recorded, and the conversation ends here
    transcript.push({ role: 'user', content: userText });
    const oracle: ProbeHints = { task: 'persona', personaId: simSubjectOf(o.condition.spec.id), conversation: conv, turn: t, family: o.family };
    const messages: ChatMessage[] = [...o.system, ...transcript];
    const reply = textOf(await ctx.call(backend, { key: `${turnKey(conv, t)}|reply`, kind: 'chat', request: { messages, sampling: { temperature: st.temperature, maxTokens: st.max_tokens, seed: turnSeed(suite.seed, conv, t) } }, oracle }, 'stickiness'));
    if (reply === undefined) return;
    transcript.push({ role: 'assistant', content: reply });
    await measureTurn({ ctx, backend, key: turnKey(conv, t), messages: [...o.system, ...transcript], oracle, items: o.items, reply, character: o.character });
  }
}

// ---------------------------------------------------------------------------
// Analysis

export interface MeasureResult {
  measure: Measure;
  curve: CurvePoint[];
  byFamily: { family: string; curve: CurvePoint[]; realization: Estimate; breaks: BreakSummary }[];
  /**
   * Where the persona sat at turn 0 on the way from the default (0) to its target (1), over
   * conversations (inventory: its measured profile; judge: adherence / 10), and the verdict
   * the interval gives. Activations have no target to measure against: none.
   */
  adoption?: Estimate & { verdict: AdoptionVerdict; notAdopted: number };
  /** The area under retention relative to the target; a conversation that was not adopted counts 0. */
  realization: Estimate;
  /** Conversations with a complete retention curve / all conversations. */
  complete: number;
  conversations: number;
}

export interface ConversationRecord {
  family: string;
  conversation: number;
  realization: number;
  breakTurn: number | null;
  transcript: (Turn & { turn: number })[];
}

export interface ConditionResult {
  id: string;
  persona: string;
  model: string;
  method: string;
  measures: MeasureResult[];
  /** meanRepeatSd is NaN and `note` says why when repeats were collapsed (a judge at temperature 0). */
  judge?: { judgments: number; failures: number; failureExamples: string[]; meanRepeatSd: number; repeats: number; note?: string };
  /** Every conversation as stored, with its realization index and breaking turn on the primary measure (NaN / null without one). */
  conversations: ConversationRecord[];
  /** The conversation that kept the least of the persona (primary measure). */
  worst?: Omit<ConversationRecord, 'transcript'>;
  /** Simulated conditions only: the realization index the simulation was built to have. */
  truth?: { realization: number; byFamily: Record<string, number> };
}

export interface Comparison {
  a: string;
  b: string;
  measure: Measure;
  /** Realization index of A minus B over paired conversations. */
  difference: Estimate;
}

export interface StickinessAnalysis {
  turns: number;
  families: string[];
  breakThreshold: number;
  measures: Measure[];
  conditions: ConditionResult[];
  comparisons: Comparison[];
  /** The unconditioned reference profile per default model. */
  defaults: { model: string; profile: Profile | null }[];
}

export interface StoredLookup {
  responses: ReadonlyMap<string, unknown>;
  /** The stored request of a task (for transcripts). */
  requestOf(key: string): unknown;
  /** A fixed persona direction (a persona vector) instead of persona-minus-default at turn 0. */
  direction?: number[];
  /** The simulated truth of a condition's retention curve, when its model is the simulated panel. */
  simTruth?(condition: ResolvedCondition, family: string, turn: number): number | undefined;
}

function judgeScores(responses: ReadonlyMap<string, unknown>, key: string): Judgment<number>[] {
  return storedSeries(responses, `${key}|judge|r`).map((res) => parseScore(textOf(res) ?? ''));
}

function unitProjection(acts: unknown, hook: string, direction: number[]): number {
  const v = storedMean(acts, hook);
  return v && v.length === direction.length ? dot(v, direction) : Number.NaN;
}

const meanOrNull = (vs: readonly number[][]): number[] | null => (vs.length ? meanOf(vs) : null);

/** Adoption over conversations: mean with a bootstrap interval, the verdict it gives, and how many conversations were not adopted. */
function adoptionOf(values: readonly number[], seed: string): NonNullable<MeasureResult['adoption']> {
  const est = bootstrap(values, mean, { seed, iterations: 2000 });
  return { ...est, verdict: adoptionVerdict(est), notAdopted: values.filter((v) => v < ADOPTION_MIN).length };
}

export function analyzeStickiness(suite: Suite, families: readonly string[], lookup: StoredLookup): StickinessAnalysis {
  const st = suite.stickiness!;
  const instrument = suiteInstrument(suite);
  const items = stickinessItems(suite, instrument);
  const options = optionLabels(suite, instrument);
  const { responses } = lookup;
  const conditions = resolveConditions(suite);
  const T = st.turns;
  const hook = st.retention.activations?.hook;
  const minCoverage = suite.instrument.min_coverage ?? 0;

  const defaults = [...new Set(conditions.map((c) => c.defaultModel))].map((model) => {
    const profiles: Profile[] = [];
    const acts: number[][] = [];
    for (let k = 0; k < st.conversations; k++) {
      const key = turnKey(defaultKey(model, k), 0);
      if (items.length) profiles.push(forkProfile(instrument, responses, key, items, options, minCoverage).profile);
      const a = storedMean(responses.get(`${key}|acts`), hook ?? '');
      if (a) acts.push([...a]);
    }
    return { model, profile: meanProfile(profiles), acts: meanOrNull(acts) };
  });

  const results: ConditionResult[] = [];
  const riByCondition = new Map<string, Map<Measure, Map<string, number>>>();
  for (const c of conditions) {
    const def = defaults.find((d) => d.model === c.defaultModel)!;
    const target = targetProfile(c.persona);
    // Per conversation and measure: the retention curve (NaN where a turn is missing), and the adoption at turn 0.
    const curves = new Map<Measure, Map<string, number[]>>(MEASURES.map((m) => [m, new Map()]));
    const adoptions = new Map<Measure, number[]>(MEASURES.map((m) => [m, []]));
    let judgments = 0;
    let failures = 0;
    const failureExamples: string[] = [];
    const repeatSds: number[] = [];
    // Persona direction for the activation measure: this condition's turn-0 mean minus the default's.
    const turn0Acts: number[][] = [];
    for (const family of families)
      for (let k = 0; k < st.conversations; k++) {
        const a = storedMean(responses.get(`${turnKey(conversationKey(c.spec.id, family, k), 0)}|acts`), hook ?? '');
        if (a) turn0Acts.push([...a]);
      }
    let direction: number[] | null = null;
    if (lookup.direction && turn0Acts.length) direction = unit(lookup.direction);
    else if (turn0Acts.length && def.acts) {
      const diff = differenceOfMeans(turn0Acts, [def.acts]);
      if (norm(diff) > 0) direction = unit(diff);
    }
    const defaultProjection = direction && def.acts ? dot(def.acts, direction) : Number.NaN;

    for (const family of families)
      for (let k = 0; k < st.conversations; k++) {
        const conv = conversationKey(c.spec.id, family, k);
        const id = `${family}|${k}`;
        const inv: number[] = [];
        const jud: number[] = [];
        const act: number[] = [];
        let p0 = Number.NaN;
        let j0 = Number.NaN;
        let a0 = Number.NaN;
        for (let t = 0; t <= T; t++) {
          const key = turnKey(conv, t);
          const replied = responses.has(`${key}|reply`);
          if (items.length) {
            const { profile, answered } = forkProfile(instrument, responses, key, items, options, minCoverage);
            const ok = replied && answered > 0 && def.profile !== null;
            const position = ok ? targetPosition(profile, target, def.profile!) : Number.NaN;
            if (t === 0) p0 = position;
            inv.push(adoptedRetention(position, p0));
          }
          if (st.retention.judge) {
            const scores = judgeScores(responses, key);
            const pooled = pooledJudgment(scores);
            judgments += scores.length;
            failures += pooled.failed;
            for (const s of scores) if (!s.ok && failureExamples.length < 3) failureExamples.push(s.reason);
            if (Number.isFinite(pooled.sd)) repeatSds.push(pooled.sd);
            // Adherence 0..10 as a position: 10 is fully in character.
            if (t === 0) j0 = pooled.mean / 10;
            jud.push(replied ? adoptedRetention(pooled.mean / 10, j0) : Number.NaN);
          }
          if (direction) {
            const proj = unitProjection(responses.get(`${key}|acts`), hook!, direction);
            if (t === 0) a0 = proj;
            act.push(replied ? projectionRetention(proj, a0, defaultProjection) : Number.NaN);
          }
        }
        if (items.length) {
          curves.get('inventory')!.set(id, inv);
          if (Number.isFinite(p0)) adoptions.get('inventory')!.push(p0);
        }
        if (st.retention.judge) {
          curves.get('judge')!.set(id, jud);
          if (Number.isFinite(j0)) adoptions.get('judge')!.push(j0);
        }
        if (direction) curves.get('activations')!.set(id, act);
      }

    const measures: MeasureResult[] = [];
    const riMaps = new Map<Measure, Map<string, number>>();
    for (const m of MEASURES) {
      const byConv = curves.get(m)!;
      if (byConv.size === 0) continue;
      const all = [...byConv.values()];
      const complete = all.filter((cv) => cv.every(Number.isFinite));
      riMaps.set(m, new Map([...byConv].map(([id, cv]) => [id, realizationIndex(cv)])));
      measures.push({
        measure: m,
        curve: retentionBands(complete, `${c.spec.id}/${m}`),
        byFamily: families.map((family) => {
          const fam = [...byConv].filter(([id]) => id.startsWith(`${family}|`)).map(([, cv]) => cv).filter((cv) => cv.every(Number.isFinite));
          return { family, curve: retentionBands(fam, `${c.spec.id}/${m}/${family}`), realization: realizationEstimate(fam, `${c.spec.id}/${m}/${family}/ri`), breaks: breakSummary(family, fam, st.break_threshold) };
        }),
        ...(adoptions.get(m)!.length ? { adoption: adoptionOf(adoptions.get(m)!, `${c.spec.id}/${m}/adoption`) } : {}),
        realization: realizationEstimate(complete, `${c.spec.id}/${m}/ri`),
        complete: complete.length,
        conversations: all.length,
      });
    }
    riByCondition.set(c.spec.id, riMaps);

    const result: ConditionResult = { id: c.spec.id, persona: c.persona.id, model: c.model, method: c.spec.method, measures, conversations: [] };
    if (st.retention.judge) {
      const spec = suite.judges.find((j) => j.id === st.retention.judge)!;
      const note = repeatsNote(spec);
      result.judge = { judgments, failures, failureExamples, meanRepeatSd: repeatSds.length ? mean(repeatSds) : Number.NaN, repeats: effectiveRepeats(spec), ...(note ? { note } : {}) };
    }
    // Every conversation's transcript, scored on the primary measure; the worst is the one that kept least.
    const primary = measures[0];
    const primaryCurves = primary ? curves.get(primary.measure)! : undefined;
    result.conversations = families.flatMap((family) =>
      Array.from({ length: st.conversations }, (_, k) => {
        const cv = primaryCurves?.get(`${family}|${k}`);
        const realization = cv ? realizationIndex(cv) : Number.NaN;
        return { family, conversation: k, realization, breakTurn: cv ? breakTurn(cv, st.break_threshold) : null, transcript: transcriptOf(lookup, conversationKey(c.spec.id, family, k), T) };
      }),
    );
    const worst = result.conversations.filter((v) => Number.isFinite(v.realization)).sort((a, b) => a.realization - b.realization)[0];
    if (worst) result.worst = { family: worst.family, conversation: worst.conversation, realization: worst.realization, breakTurn: worst.breakTurn };
    if (lookup.simTruth) {
      const byFamily: Record<string, number> = {};
      for (const family of families) {
        const curve = Array.from({ length: T + 1 }, (_, t) => lookup.simTruth!(c, family, t));
        if (curve.every((x): x is number => x !== undefined)) byFamily[family] = realizationIndex(curve as number[]);
      }
      const values = Object.values(byFamily);
      if (values.length === families.length) result.truth = { realization: mean(values), byFamily };
    }
    results.push(result);
  }

  const comparisons: Comparison[] = [];
  const ids = conditions.map((c) => c.spec.id);
  const pairs = st.compare ?? ids.flatMap((a, i) => ids.slice(i + 1).map((b) => [a, b] as [string, string]));
  for (const [a, b] of pairs)
    for (const m of MEASURES) {
      const ra = riByCondition.get(a)?.get(m);
      const rb = riByCondition.get(b)?.get(m);
      if (ra && rb) comparisons.push({ a, b, measure: m, difference: pairedDifference(ra, rb, `${a}-${b}/${m}`) });
    }

  return {
    turns: T,
    families: [...families],
    breakThreshold: st.break_threshold,
    measures: MEASURES.filter((m) => results.some((r) => r.measures.some((x) => x.measure === m))),
    conditions: results,
    comparisons,
    defaults: defaults.map((d) => ({ model: d.model, profile: d.profile })),
  };
}

/** The conversation as stored: the last reply's request (everything before it) plus the reply. */
function transcriptOf(lookup: StoredLookup, conv: string, T: number): (Turn & { turn: number })[] {
  for (let t = T; t >= 0; t--) {
    const key = `${turnKey(conv, t)}|reply`;
    const reply = textOf(lookup.responses.get(key));
    const messages = decodeMessages(lookup.requestOf(key));
    if (reply === undefined || !messages) continue;
    const turns: Turn[] = [...messages.filter((m): m is Turn => m.role !== 'system'), { role: 'assistant', content: reply }];
    return turns.map((m, i) => ({ ...m, turn: Math.floor(i / 2) }));
  }
  return [];
}
