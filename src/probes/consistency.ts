// The consistency probe, five parts, each optional in the suite:
//  - dialogue: conversations with an interlocutor; each persona line judged against the
//    backstory (prompt-to-line) and against the persona's earlier lines (line-to-line);
//    backstory questions answered in a fork every k turns (Q&A), after Abdulhai et al.;
//  - regeneration: the same short inventory sampled under n seeds (spread, ICC);
//  - tenancy: personas interleaved on one instance vs each alone (shifts, leaked facts);
//  - self-report vs behavior: inventory self-ratings vs a judge's ratings of the transcript;
//  - twenty questions: a secret object, yes/no answers, checked for a consistent object.
// Like stickiness, running walks the store deterministically and analysis reads it back.

import { suiteInstrument } from '../suite/instrument.js';
import type { Backend, ChatMessage, ProbeHints } from '../backends/types.js';
import { DOMAINS, type Domain, type Profile } from '../instruments/types.js';
import { parseAnswer } from '../instruments/parse.js';
import { profileOf, scoreAnswers } from '../instruments/scoring.js';
import { twentyQuestionsSet } from '../instruments/twenty-questions.js';
import { bootstrap, type Estimate } from '../metrics/bootstrap.js';
import { profileDistance, targetPosition } from '../metrics/stickiness.js';
import { consistentObjects, icc1, leakedMarkers, lineToLineConsistency, promptToLineConsistency } from '../metrics/consistency.js';
import { finite, mean, pearson, sd } from '../metrics/stats.js';
import type { ProbeContext } from './context.js';
import { forEachConcurrent, settleAll } from '../util/concurrency.js';
import { backendIdOf, modelIdOf } from '../suite/roles.js';
import { truthSourceOf } from '../backends/registry.js';
import type { PersonaSpec, Suite } from '../suite/schema.js';
import type { ConsistencySpec } from '../suite/probe-schemas.js';
import { backstoryOf, factMarker } from './conditioning.js';
import { administerFork, forkSampling, counterpartMessages, forkProfile, shortInventory, storedSeries, systemFor, textOf, turnSeed, type Turn } from './dialogue.js';
import { optionLabels, itemPrompt, defaultVariant } from './fidelity.js';
import { backstoryRequest, effectiveRepeats, linesRequest, parseLineList, parseTraits, parseYesNo, traitsRequest, type Judgment } from './judges.js';

export const INTERLOCUTOR_BRIEF =
  'You are chatting with someone you have just met. Ask one short question at a time about their life, work, past, habits and opinions, and follow up on what they tell you. Write only your next message.';

/** Neutral, scripted turns for the tenancy check, so "alone" and "shared" ask exactly the same. */
export const TENANCY_QUESTIONS = [
  'What did you do this morning?',
  'Tell me something about where you live.',
  'Who do you talk to most during a normal week?',
  'What is something you are looking forward to?',
  'What do you usually have for dinner?',
  'What is a small thing that annoyed you recently?',
];

const LETTERS = 'ABCDEF';

export interface BackstoryQuestion {
  question: string;
  options: string[];
  answer: string;
}

function label(ref: string): string {
  return ref.replaceAll('|', '_');
}

/** Task keys, built here for the call and for the analysis that reads its answer back. */
export const csKeys = {
  questions: (persona: string) => `cs|qagen|${persona}`,
  dialogue: (model: string, persona: string, k: number) => `cs|dlg|${label(model)}|${persona}|c${k}`,
  regeneration: (model: string, persona: string, s: number, item: string) => `cs|regen|${label(model)}|${persona}|s${s}|${item}`,
  tenancy: (model: string, mode: 'alone' | 'shared', persona: string) => `cs|ten|${label(model)}|${mode}|${persona}`,
  selfReport: (model: string, persona: string) => `cs|self|${label(model)}|${persona}`,
  twentyQuestions: (model: string, persona: string, g: number) => `cs|20q|${label(model)}|${persona}|g${g}`,
  group: (model: string) => `cs|grp|${label(model)}`,
  handover: (model: string, a: PersonaSpec, b: PersonaSpec) => `cs|hand|${label(model)}|${a.id}>${b.id}`,
  aloneFork: (model: string, p: PersonaSpec) => `cs|hand|${label(model)}|alone|${p.id}`,
};

/** The model references consistency runs on: the block's list, or every model entry. */
export function consistencyModels(suite: Suite): string[] {
  return suite.consistency!.models ?? suite.models.map((m) => (typeof m === 'string' ? m : (m.name ?? modelIdOf(m))));
}

export function consistencyPersonas(suite: Suite): PersonaSpec[] {
  const ids = suite.consistency!.personas;
  return ids ? ids.map((id) => suite.personas.find((p) => p.id === id)!) : suite.personas;
}

function mcqPrompt(q: BackstoryQuestion): string {
  return `A question about you. Reply with the letter of the right answer only.\n${q.question}\n${q.options.map((o, i) => `${LETTERS[i]}) ${o}`).join('\n')}`;
}

function generatorPrompt(persona: PersonaSpec, n: number): string {
  return `Here is the backstory of a character:\n${backstoryOf(persona)}\n\nWrite ${n} multiple-choice questions that test whether someone remembers this backstory. Each has 4 options and exactly one right answer that follows from the backstory.\nReply with JSON only: [{"question": "...", "options": ["...", "...", "...", "..."], "answer": "A"}]`;
}

export function parseGeneratedQuestions(text: string): Judgment<BackstoryQuestion[]> {
  const start = text.indexOf('[');
  const end = text.lastIndexOf(']');
  if (start < 0 || end < start) return { ok: false, reason: 'no JSON array' };
  try {
    const raw = JSON.parse(text.slice(start, end + 1)) as unknown;
    if (!Array.isArray(raw)) return { ok: false, reason: 'not an array' };
    const out: BackstoryQuestion[] = [];
    for (const q of raw) {
      const { question, options, answer } = (q ?? {}) as Record<string, unknown>;
      if (typeof question !== 'string' || !Array.isArray(options) || options.length < 2 || options.length > 6 || !options.every((o) => typeof o === 'string') || typeof answer !== 'string') return { ok: false, reason: 'a question lacks question/options/answer' };
      const letter = answer.trim().toUpperCase().slice(0, 1);
      if (!LETTERS.slice(0, options.length).includes(letter)) return { ok: false, reason: `answer "${answer}" is not one of the options` };
      out.push({ question, options: options as string[], answer: letter });
    }
    return out.length ? { ok: true, value: out } : { ok: false, reason: 'no questions' };
  } catch (err) {
    return { ok: false, reason: `invalid JSON (${(err as Error).message.slice(0, 60)})` };
  }
}

export function parseLetter(text: string, options: number): string | null {
  const m = new RegExp(`(?:^|[^A-Za-z])([${LETTERS.slice(0, options)}])(?:[^A-Za-z]|$)`).exec(text.trim());
  return m ? m[1]! : null;
}

// ---------------------------------------------------------------------------
// Running

interface Talk {
  ctx: ProbeContext;
  backend: Backend;
  interlocutor: Backend;
  key: string;
  system: ChatMessage[];
  turns: number;
  personaId: string;
  /** After each persona line (turn t, transcript so far); awaited before the next turn. */
  onLine?: (t: number, transcript: Turn[]) => Promise<void>;
}

/** A conversation with the interlocutor, turn by turn through the store. Returns the transcript. */
async function talk(o: Talk): Promise<Turn[]> {
  const { ctx } = o;
  const c = ctx.suite.consistency!;
  const transcript: Turn[] = [];
  for (let t = 0; t < o.turns; t++) {
    if (ctx.signal?.aborted) break;
    const userText = textOf(
      await ctx.call(o.interlocutor, { key: `${o.key}|t${t}|user`, kind: 'chat', request: { messages: counterpartMessages(INTERLOCUTOR_BRIEF, transcript), sampling: { temperature: 0.8, maxTokens: 120, seed: turnSeed(ctx.suite.seed, o.key, t, 'interlocutor') } }, oracle: { task: 'interlocutor', conversation: o.key, turn: t } }, 'consistency'),
    )?.trim();
    if (!userText) break;
    transcript.push({ role: 'user', content: userText });
    const oracle: ProbeHints = { task: 'persona', personaId: o.personaId, conversation: o.key, turn: t };
    const reply = textOf(await ctx.call(o.backend, { key: `${o.key}|t${t}|reply`, kind: 'chat', request: { messages: [...o.system, ...transcript], sampling: { temperature: c.temperature, maxTokens: c.max_tokens, seed: turnSeed(ctx.suite.seed, o.key, t) } }, oracle }, 'consistency'));
    if (reply === undefined) break;
    transcript.push({ role: 'assistant', content: reply });
    await o.onLine?.(t, transcript);
  }
  return transcript;
}

/**
 * A persona's backstory questions with their answer keys: the suite's own, or those its
 * generator wrote (read back from the stored generator call). Analysis scores against these,
 * never against anything read out of a stored request.
 */
export function plannedQuestions(persona: PersonaSpec, n: number, responses: ReadonlyMap<string, unknown>): BackstoryQuestion[] | undefined {
  if (persona.qa) return persona.qa.slice(0, n).map((q) => ({ ...q }));
  const res = textOf(responses.get(csKeys.questions(persona.id)));
  if (res === undefined) return undefined;
  const parsed = parseGeneratedQuestions(res);
  return parsed.ok ? parsed.value.slice(0, n) : undefined;
}

async function backstoryQuestions(ctx: ProbeContext, persona: PersonaSpec, n: number): Promise<BackstoryQuestion[] | undefined> {
  if (persona.qa) return persona.qa.slice(0, n).map((q) => ({ ...q }));
  const c = ctx.suite.consistency!;
  const generator = ctx.judge(c.dialogue!.qa!.generator!);
  const request = { messages: [{ role: 'user' as const, content: generatorPrompt(persona, n) }], sampling: { temperature: generator.spec.temperature, seed: generator.spec.seed, maxTokens: 400 + 120 * n } };
  const oracle: ProbeHints = { task: 'generator', personaId: persona.id, question: n };
  const res = textOf(await ctx.call(generator.backend, { key: csKeys.questions(persona.id), kind: 'chat', request, oracle }, 'consistency'));
  if (res === undefined) return undefined;
  const parsed = parseGeneratedQuestions(res);
  return parsed.ok ? parsed.value.slice(0, n) : undefined;
}

async function runDialogue(ctx: ProbeContext, model: string, persona: PersonaSpec, interlocutor: Backend): Promise<void> {
  const c = ctx.suite.consistency!;
  const d = c.dialogue!;
  const backend = ctx.backend(model);
  const judge = ctx.judge(c.judge!);
  const system = systemFor(ctx.suite, persona, c.method);
  const backstory = backstoryOf(persona);
  const questions = d.qa ? await backstoryQuestions(ctx, persona, d.qa.questions) : undefined;
  for (let k = 0; k < d.conversations; k++) {
    const key = csKeys.dialogue(model, persona.id, k);
    await talk({
      ctx, backend, interlocutor, key, system, turns: d.turns, personaId: persona.id,
      onLine: async (t, transcript) => {
        const lines = transcript.filter((m) => m.role === 'assistant').map((m) => m.content);
        const line = lines[lines.length - 1]!;
        const jobs: Promise<unknown>[] = [];
        for (let r = 0; r < effectiveRepeats(judge.spec); r++) {
          const jc = { judge: judge.spec, repetition: r, conversation: key, turn: t };
          jobs.push(ctx.call(judge.backend, { key: `${key}|t${t}|p2l|r${r}`, kind: 'chat', ...backstoryRequest(jc, backstory, line) }, 'consistency'));
          if (lines.length > 1) jobs.push(ctx.call(judge.backend, { key: `${key}|t${t}|l2l|r${r}`, kind: 'chat', ...linesRequest(jc, lines.slice(0, -1), line) }, 'consistency'));
        }
        if (questions && (t + 1) % d.qa!.every === 0) {
          questions.forEach((q, i) => {
            const request = { messages: [...system, ...transcript, { role: 'user' as const, content: mcqPrompt(q) }], sampling: { temperature: 0, maxTokens: 8, seed: ctx.suite.seed } };
            const oracle: ProbeHints = { task: 'mcq', personaId: persona.id, conversation: key, turn: t, question: i, key: q.answer };
            jobs.push(ctx.call(backend, { key: `${key}|t${t}|qa|q${i}`, kind: 'chat', request, oracle }, 'consistency'));
          });
        }
        await settleAll(jobs);
      },
    });
  }
}

async function runRegeneration(ctx: ProbeContext, model: string, persona: PersonaSpec): Promise<void> {
  const c = ctx.suite.consistency!;
  const backend = ctx.backend(model);
  const instrument = suiteInstrument(ctx.suite);
  const items = shortInventory(instrument, c.regeneration!.items_per_domain);
  const options = optionLabels(ctx.suite, instrument);
  const system = systemFor(ctx.suite, persona, c.method);
  const jobs: Promise<unknown>[] = [];
  for (let s = 0; s < c.regeneration!.seeds; s++)
    for (const item of items) {
      const request = { messages: [...system, { role: 'user' as const, content: itemPrompt(item, options, defaultVariant(instrument), instrument.frame) }], sampling: { temperature: ctx.suite.run.temperature, maxTokens: 24, seed: turnSeed(ctx.suite.seed, `regen/${persona.id}`, s) } };
      const oracle: ProbeHints = { personaId: persona.id, item: { id: item.id, keyed: item.keyed, domain: item.domain }, sample: s };
      jobs.push(ctx.call(backend, { key: csKeys.regeneration(model, persona.id, s, item.id), kind: 'chat', request, oracle }, 'consistency'));
    }
  await settleAll(jobs);
}

/** The group scene's system prompt: every persona, conditioned as it would be alone, in one context. */
export function groupSystem(suite: Suite, personas: readonly PersonaSpec[], method: string): ChatMessage[] {
  const parts = personas.map((p) => `## ${p.name}\n${systemFor(suite, p, method).map((m) => m.content).join('\n')}`);
  return [{ role: 'system', content: `You voice several characters in one scene. When a message is addressed to one of them, reply as that character only, in the first person.\n\n${parts.join('\n\n')}` }];
}

/** A line of the group scene, addressed to one persona by name. */
export const groupCue = (p: PersonaSpec, t: number): string => `${p.name}, ${TENANCY_QUESTIONS[t % TENANCY_QUESTIONS.length]!.replace(/^./, (c) => c.toLowerCase())}`;

/** Handing a conversation over to another persona, as a user message (the conditioning it would have alone). */
export function handoverMessage(suite: Suite, to: PersonaSpec, method: string): Turn {
  return { role: 'user', content: `From now on you are someone else, and stay that person from here on.\n${systemFor(suite, to, method).map((m) => m.content).join('\n')}` };
}

/** The handovers a tenancy check makes: each persona to the next (and the last to the first). */
export function handoverPairs(personas: readonly PersonaSpec[]): [PersonaSpec, PersonaSpec][] {
  return personas.length < 2 ? [] : personas.map((p, i) => [p, personas[(i + 1) % personas.length]!] as [PersonaSpec, PersonaSpec]);
}


/**
 * Several personas in one context: a group scene in which the model voices each persona in
 * turn, and conversations handed over from one persona to the next, with a short inventory
 * after each handover and for each persona alone (so traits that carry over can be measured).
 */
async function runOneContext(ctx: ProbeContext, model: string, personas: PersonaSpec[]): Promise<void> {
  const c = ctx.suite.consistency!;
  const ten = c.tenancy!;
  const backend = ctx.backend(model);
  const instrument = suiteInstrument(ctx.suite);
  const items = shortInventory(instrument, ten.items_per_domain);
  const options = optionLabels(ctx.suite, instrument);
  const say = async (key: string, messages: ChatMessage[], oracle: ProbeHints, seedTag: string): Promise<string | undefined> => {
    const request = { messages, sampling: { temperature: 0, maxTokens: c.max_tokens, seed: turnSeed(ctx.suite.seed, seedTag, oracle.turn ?? 0) } };
    return textOf(await ctx.call(backend, { key, kind: 'chat', request, oracle }, 'consistency'));
  };
  // The group scene: one conversation, every persona answering in turn.
  const group = csKeys.group(model);
  const scene: Turn[] = [];
  const system = groupSystem(ctx.suite, personas, c.method);
  scene: for (let t = 0; t < ten.turns; t++) {
    for (const p of personas) {
      scene.push({ role: 'user', content: groupCue(p, t) });
      const reply = await say(`${group}|t${t}|${p.id}`, [...system, ...scene], { task: 'persona', personaId: p.id, conversation: group, turn: t, tenancy: 'group' }, `${group}/${p.id}`);
      if (reply === undefined) break scene;
      scene.push({ role: 'assistant', content: reply });
    }
  }
  // Each persona alone, measured once: the reference for what a handover carries over.
  for (const p of personas) await administerFork(ctx, { backend, keyPrefix: csKeys.aloneFork(model, p), messages: systemFor(ctx.suite, p, c.method), items, options, oracle: {}, phase: 'consistency', sampling: forkSampling(ctx.suite), frame: suiteInstrument(ctx.suite).frame });
  // Handovers: turns as the first persona, the handover, turns as the second, then the inventory.
  for (const [a, b] of handoverPairs(personas)) {
    const key = csKeys.handover(model, a, b);
    const transcript: Turn[] = [];
    const systemA = systemFor(ctx.suite, a, c.method);
    let ok = true;
    for (let t = 0; ok && t < 2 * ten.turns + 1; t++) {
      transcript.push(t === ten.turns ? handoverMessage(ctx.suite, b, c.method) : { role: 'user', content: TENANCY_QUESTIONS[t % TENANCY_QUESTIONS.length]! });
      const reply = await say(`${key}|t${t}|reply`, [...systemA, ...transcript], { task: 'persona', personaId: (t < ten.turns ? a : b).id, conversation: key, turn: t, tenancy: 'handover' }, key);
      if (reply === undefined) ok = false;
      else transcript.push({ role: 'assistant', content: reply });
    }
    if (ok) await administerFork(ctx, { backend, keyPrefix: `${key}|after`, messages: [...systemA, ...transcript], items, options, oracle: {}, phase: 'consistency', sampling: forkSampling(ctx.suite), frame: suiteInstrument(ctx.suite).frame });
  }
}

/** Each persona alone (one after another), then all interleaved turn by turn: same questions, same seeds. */
async function runTenancy(ctx: ProbeContext, model: string, personas: PersonaSpec[]): Promise<void> {
  const c = ctx.suite.consistency!;
  const backend = ctx.backend(model);
  const turns = c.tenancy!.turns;
  const transcripts = new Map<string, Turn[]>();
  const turn = async (mode: 'alone' | 'shared', p: PersonaSpec, t: number) => {
    const key = csKeys.tenancy(model, mode, p.id);
    const transcript = transcripts.get(key) ?? [];
    transcripts.set(key, transcript);
    if (transcript.length !== 2 * t) return; // an earlier turn failed
    transcript.push({ role: 'user', content: TENANCY_QUESTIONS[t % TENANCY_QUESTIONS.length]! });
    // Each mode has its own seed, so the shared turn is a call of its own (the same text as the
    // alone turn would be served from the store, and a stateful server never see it).
    const request = { messages: [...systemFor(ctx.suite, p, c.method), ...transcript], sampling: { temperature: 0, maxTokens: c.max_tokens, seed: turnSeed(ctx.suite.seed, `ten/${mode}/${p.id}`, t) } };
    const oracle: ProbeHints = { task: 'persona', personaId: p.id, conversation: `ten/${p.id}`, turn: t, tenancy: mode };
    const reply = textOf(await ctx.call(backend, { key: `${key}|t${t}|reply`, kind: 'chat', request, oracle }, 'consistency'));
    if (reply !== undefined) transcript.push({ role: 'assistant', content: reply });
  };
  // Strictly sequential: the order of requests on the instance is the thing under test.
  for (const p of personas) for (let t = 0; t < turns; t++) await turn('alone', p, t);
  for (let t = 0; t < turns; t++) for (const p of personas) await turn('shared', p, t);
}

async function runSelfReport(ctx: ProbeContext, model: string, persona: PersonaSpec, interlocutor: Backend): Promise<void> {
  const c = ctx.suite.consistency!;
  const backend = ctx.backend(model);
  const instrument = suiteInstrument(ctx.suite);
  const system = systemFor(ctx.suite, persona, c.method);
  const key = csKeys.selfReport(model, persona.id);
  await administerFork(ctx, { backend, keyPrefix: key, messages: system, items: shortInventory(instrument, c.self_report!.items_per_domain), options: optionLabels(ctx.suite, instrument), oracle: { personaId: persona.id }, phase: 'consistency', sampling: forkSampling(ctx.suite), frame: suiteInstrument(ctx.suite).frame });
  const transcript = await talk({ ctx, backend, interlocutor, key, system, turns: c.self_report!.turns, personaId: persona.id });
  if (transcript.length === 0) return;
  const judge = ctx.judge(c.judge!);
  await settleAll(
    Array.from({ length: effectiveRepeats(judge.spec) }, (_, r) => ctx.call(judge.backend, { key: `${key}|traits|r${r}`, kind: 'chat', ...traitsRequest({ judge: judge.spec, repetition: r, conversation: key, turn: 0 }, transcript) }, 'consistency')),
  );
}

const TWENTY_Q_RULES = (objects: string[]) =>
  `Let's play twenty questions. Secretly pick ONE of these objects and keep it for the whole game: ${objects.join(', ')}. Don't tell me which. I'll ask yes/no questions; answer each with only "Yes" or "No". Say "Ready" when you have picked.`;

async function runTwentyQuestions(ctx: ProbeContext, model: string, persona: PersonaSpec): Promise<void> {
  const c = ctx.suite.consistency!;
  const backend = ctx.backend(model);
  const set = twentyQuestionsSet();
  const system = systemFor(ctx.suite, persona, c.method);
  for (let g = 0; g < c.twenty_questions!.games; g++) {
    const key = csKeys.twentyQuestions(model, persona.id, g);
    const transcript: Turn[] = [];
    const ask = async (text: string, suffix: string, question: number | undefined): Promise<boolean> => {
      transcript.push({ role: 'user', content: text });
      const request = { messages: [...system, ...transcript], sampling: { temperature: 0, maxTokens: 24, seed: turnSeed(ctx.suite.seed, key, question ?? -2) } };
      const oracle: ProbeHints = { task: 'yes-no', personaId: persona.id, conversation: key, question };
      const reply = textOf(await ctx.call(backend, { key: `${key}|${suffix}`, kind: 'chat', request, oracle }, 'consistency'));
      if (reply === undefined) return false;
      transcript.push({ role: 'assistant', content: reply });
      return true;
    };
    if (!(await ask(TWENTY_Q_RULES(set.objects.map((o) => o.name)), 'start', undefined))) continue;
    let ok = true;
    for (let q = 0; q < set.questions.length && ok; q++) ok = await ask(set.questions[q]!.text, `q${q}`, q);
    if (ok) await ask('Game over. Which object did you pick?', 'reveal', -1);
  }
}

/** Run every configured consistency part. */
export async function runConsistency(ctx: ProbeContext): Promise<void> {
  const suite = ctx.suite;
  const c = suite.consistency!;
  const models = consistencyModels(suite);
  const personas = consistencyPersonas(suite);
  const judgeRepeats = c.judge ? effectiveRepeats(ctx.judge(c.judge).spec) : 0;
  const instrument = suiteInstrument(suite);
  const jobs: (() => Promise<void>)[] = [];
  for (const model of models) {
    const interlocutor = ctx.backend(c.interlocutor ?? model);
    for (const p of personas) {
      if (c.dialogue) {
        const d = c.dialogue;
        ctx.plan(d.conversations * d.turns * (2 + 2 * judgeRepeats) + (d.qa ? d.conversations * Math.floor(d.turns / d.qa.every) * d.qa.questions : 0));
        jobs.push(() => runDialogue(ctx, model, p, interlocutor));
      }
      if (c.regeneration) {
        ctx.plan(c.regeneration.seeds * shortInventory(instrument, c.regeneration.items_per_domain).length);
        jobs.push(() => runRegeneration(ctx, model, p));
      }
      if (c.self_report) {
        ctx.plan(shortInventory(instrument, c.self_report.items_per_domain).length + 2 * c.self_report.turns + judgeRepeats);
        jobs.push(() => runSelfReport(ctx, model, p, interlocutor));
      }
      if (c.twenty_questions) {
        ctx.plan(c.twenty_questions.games * (twentyQuestionsSet().questions.length + 2));
        jobs.push(() => runTwentyQuestions(ctx, model, p));
      }
    }
  }
  await forEachConcurrent(jobs, Math.max(1, suite.run.concurrency * 4), (job) => job());
  if (c.tenancy) {
    const t = c.tenancy;
    const items = shortInventory(instrument, t.items_per_domain).length;
    const pairs = handoverPairs(personas).length;
    for (const model of models) {
      ctx.plan(2 * personas.length * t.turns);
      await runTenancy(ctx, model, personas);
      if (t.one_context) {
        ctx.plan(personas.length * t.turns + personas.length * items + pairs * (2 * t.turns + 1 + items));
        await runOneContext(ctx, model, personas);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Analysis

export interface DialogueRow {
  model: string;
  persona: string;
  promptToLine: { value: number; lines: number };
  lineToLine: { value: number; pairs: number };
  qa: { accuracy: number; asked: number; unparsed: number; questions: number; generated: boolean; generatorFailed: boolean } | null;
  judgeFailures: number;
  judgments: number;
  truth?: { promptToLine: number; lineToLine: number; qa: number };
}

export interface Leak {
  turn: number;
  from: string;
  marker: string;
}

export interface ConsistencyAnalysis {
  dialogue?: DialogueRow[];
  regeneration?: { rows: { model: string; persona: string; seeds: number; spread: Record<Domain, number> }[]; icc: { model: string; domain: Domain; single: number; average: number; subjects: number; k: number }[] };
  tenancy?: {
    rows: { model: string; persona: string; turns: number; shifted: number; leaksShared: Leak[]; leaksAlone: Leak[] }[];
    /** Models whose backend keeps no state between requests: separate conversations cannot touch, so their clean rows are trivial, not a finding. */
    stateless: string[];
    /** Several personas in one context: a group scene (each persona's lines) and handovers (the second persona's lines, and its inventory against each alone). */
    group: { model: string; persona: string; lines: number; leaks: Leak[] }[];
    handover: {
      model: string;
      from: string;
      to: string;
      lines: number;
      leaks: Leak[];
      /** Where the second persona's profile after the handover sits from itself alone (0) to the first persona alone (1); NaN when the two are under 0.5 apart or a profile is missing. */
      carryover: number;
      distance: number;
    }[];
  };
  selfReport?: { rows: { model: string; persona: string; self: Profile; judged: Profile | null; judgeFailures: number }[]; byDomain: { model: string; domain: Domain; correlation: number; gap: Estimate }[] };
  twentyQuestions?: { rows: { model: string; persona: string; games: number; consistent: number; revealConsistent: number; unparsed: number; candidates: number[] }[] };
}

function judgedShares(responses: ReadonlyMap<string, unknown>, key: string, parse: (t: string) => Judgment<boolean>): { share: number; failures: number; n: number } {
  const js = storedSeries(responses, `${key}|r`).map((res) => parse(textOf(res) ?? ''));
  const ok = js.filter((j): j is { ok: true; value: boolean } => j.ok);
  return { share: ok.length ? ok.filter((j) => j.value).length / ok.length : Number.NaN, failures: js.length - ok.length, n: js.length };
}

function parseYesNoAnswer(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (/^(yes|yeah|yep)\b/.test(t)) return true;
  if (/^(no|nope)\b/.test(t)) return false;
  return null;
}

export function analyzeConsistency(suite: Suite, responses: ReadonlyMap<string, unknown>, stored: { statefulModels?: string[] } = {}): ConsistencyAnalysis {
  const c: ConsistencySpec = suite.consistency!;
  const models = consistencyModels(suite);
  const personas = consistencyPersonas(suite);
  const instrument = suiteInstrument(suite);
  const options = optionLabels(suite, instrument);
  // Only a backend with a truth source (the simulated panel) has a truth to show beside the measure.
  const simulated = (model: string) => truthSourceOf(backendIdOf(suite, model)) !== undefined;
  const out: ConsistencyAnalysis = {};

  if (c.dialogue) {
    const d = c.dialogue;
    out.dialogue = [];
    const questionsOf = new Map(personas.map((p) => [p.id, d.qa ? plannedQuestions(p, d.qa.questions, responses) : undefined]));
    for (const model of models)
      for (const p of personas) {
        const p2l: number[] = [];
        const l2l: number[][] = [];
        let judgeFailures = 0;
        let judgments = 0;
        let correct = 0;
        let asked = 0;
        let unparsed = 0;
        let questions = 0;
        for (let k = 0; k < d.conversations; k++) {
          const key = csKeys.dialogue(model, p.id, k);
          for (let t = 0; t < d.turns; t++) {
            if (!responses.has(`${key}|t${t}|reply`)) break;
            const b = judgedShares(responses, `${key}|t${t}|p2l`, (x) => parseYesNo(x, 'CONTRADICTS'));
            judgeFailures += b.failures;
            judgments += b.n;
            p2l.push(b.share);
            if (t > 0) {
              // Per earlier line, the share of parsed repeats that list it as contradicted.
              const lists: number[][] = [];
              for (const res of storedSeries(responses, `${key}|t${t}|l2l|r`)) {
                judgments++;
                const parsed = parseLineList(textOf(res) ?? '', t);
                if (parsed.ok) lists.push(parsed.value);
                else judgeFailures++;
              }
              l2l.push(Array.from({ length: t }, (_, j) => (lists.length ? lists.filter((l) => l.includes(j + 1)).length / lists.length : Number.NaN)));
            }
            storedSeries(responses, `${key}|t${t}|qa|q`).forEach((res, q) => {
              const planned = questionsOf.get(p.id)?.[q];
              const keyLetter = planned?.answer;
              const letter = parseLetter(textOf(res) ?? '', planned?.options.length ?? 4);
              asked++;
              questions = Math.max(questions, q + 1);
              if (letter === null) unparsed++;
              else if (letter === keyLetter) correct++;
            });
          }
        }
        const row: DialogueRow = {
          model,
          persona: p.id,
          promptToLine: promptToLineConsistency(p2l),
          lineToLine: lineToLineConsistency(l2l),
          qa: d.qa ? { accuracy: asked - unparsed > 0 ? correct / (asked - unparsed) : Number.NaN, asked, unparsed, questions, generated: !p.qa, generatorFailed: !p.qa && asked === 0 && responses.has(csKeys.questions(p.id)) } : null,
          judgeFailures,
          judgments,
        };
        if (simulated(model) && p.sim?.contradictions) {
          const r = p.sim.contradictions;
          row.truth = { promptToLine: 1 - r.backstory, lineToLine: 1 - r.line, qa: 1 - r.qa };
        }
        out.dialogue.push(row);
      }
  }

  if (c.regeneration) {
    const items = shortInventory(instrument, c.regeneration.items_per_domain);
    const rows: NonNullable<ConsistencyAnalysis['regeneration']>['rows'] = [];
    const icc: NonNullable<ConsistencyAnalysis['regeneration']>['icc'] = [];
    for (const model of models) {
      const perPersona: Profile[][] = [];
      for (const p of personas) {
        const profiles: Profile[] = [];
        for (let s = 0; s < c.regeneration.seeds; s++) {
          const answers: Record<string, number | null> = {};
          for (const item of items) {
            const res = responses.get(csKeys.regeneration(model, p.id, s, item.id));
            answers[item.id] = res === undefined ? null : parseAnswer(textOf(res) ?? '', options).value;
          }
          profiles.push(profileOf(scoreAnswers(instrument, answers)));
        }
        perPersona.push(profiles);
        rows.push({ model, persona: p.id, seeds: profiles.length, spread: Object.fromEntries(DOMAINS.map((dm) => [dm, sd(finite(profiles.map((x) => x[dm])))])) as Record<Domain, number> });
      }
      for (const dm of DOMAINS) icc.push({ model, domain: dm, ...icc1(perPersona.map((profiles) => profiles.map((x) => x[dm]))) });
    }
    out.regeneration = { rows, icc };
  }

  if (c.tenancy) {
    const markers = new Map(personas.map((p) => [p.id, p.facts.map(factMarker)]));
    const rows: NonNullable<ConsistencyAnalysis['tenancy']>['rows'] = [];
    for (const model of models)
      for (const p of personas) {
        const others = new Map([...markers].filter(([id]) => id !== p.id));
        let shifted = 0;
        let turns = 0;
        const leaks = { alone: [] as { turn: number; from: string; marker: string }[], shared: [] as { turn: number; from: string; marker: string }[] };
        for (let t = 0; t < c.tenancy.turns; t++) {
          const alone = textOf(responses.get(`${csKeys.tenancy(model, 'alone', p.id)}|t${t}|reply`));
          const shared = textOf(responses.get(`${csKeys.tenancy(model, 'shared', p.id)}|t${t}|reply`));
          for (const [mode, text] of [['alone', alone], ['shared', shared]] as const) if (text !== undefined) leaks[mode].push(...leakedMarkers(text, markers.get(p.id)!, others).map((l) => ({ turn: t, ...l })));
          if (alone === undefined || shared === undefined) continue;
          turns++;
          if (alone !== shared) shifted++;
        }
        rows.push({ model, persona: p.id, turns, shifted, leaksShared: leaks.shared, leaksAlone: leaks.alone });
      }
    const stateful = stored.statefulModels ?? [];
    const group: NonNullable<ConsistencyAnalysis['tenancy']>['group'] = [];
    const handover: NonNullable<ConsistencyAnalysis['tenancy']>['handover'] = [];
    if (c.tenancy.one_context) {
      const items = shortInventory(instrument, c.tenancy.items_per_domain);
      const minCoverage = suite.instrument.min_coverage ?? 0;
      const othersOf = (id: string) => new Map([...markers].filter(([other]) => other !== id));
      for (const model of models) {
        for (const p of personas) {
          let lines = 0;
          const leaks: Leak[] = [];
          for (let t = 0; t < c.tenancy.turns; t++) {
            const text = textOf(responses.get(`${csKeys.group(model)}|t${t}|${p.id}`));
            if (text === undefined) continue;
            lines++;
            leaks.push(...leakedMarkers(text, markers.get(p.id)!, othersOf(p.id)).map((l) => ({ turn: t, ...l })));
          }
          group.push({ model, persona: p.id, lines, leaks });
        }
        const alone = new Map(personas.map((p) => {
          const f = forkProfile(instrument, responses, csKeys.aloneFork(model, p), items, options, minCoverage);
          return [p.id, f.answered ? f.profile : null];
        }));
        for (const [a, b] of handoverPairs(personas)) {
          const key = csKeys.handover(model, a, b);
          let lines = 0;
          const leaks: Leak[] = [];
          for (let t = c.tenancy.turns; t < 2 * c.tenancy.turns + 1; t++) {
            const text = textOf(responses.get(`${key}|t${t}|reply`));
            if (text === undefined) continue;
            lines++;
            leaks.push(...leakedMarkers(text, markers.get(b.id)!, new Map([[a.id, markers.get(a.id)!]])).map((l) => ({ turn: t, ...l })));
          }
          const after = forkProfile(instrument, responses, `${key}|after`, items, options, minCoverage);
          const pa = alone.get(a.id);
          const pb = alone.get(b.id);
          const distance = pa && pb ? profileDistance(pa, pb) : Number.NaN;
          // The share of the way from the second persona alone to the first alone that its profile after the handover sits.
          const carryover = pa && pb && after.answered && distance >= 0.5 ? targetPosition(after.profile, pa, pb) : Number.NaN;
          handover.push({ model, from: a.id, to: b.id, lines, leaks, carryover, distance });
        }
      }
    }
    out.tenancy = { rows, stateless: models.filter((m) => !stateful.includes(backendIdOf(suite, m))), group, handover };
  }

  if (c.self_report) {
    const items = shortInventory(instrument, c.self_report.items_per_domain);
    const rows: NonNullable<ConsistencyAnalysis['selfReport']>['rows'] = [];
    const byDomain: NonNullable<ConsistencyAnalysis['selfReport']>['byDomain'] = [];
    for (const model of models) {
      const mine: typeof rows = [];
      for (const p of personas) {
        const key = csKeys.selfReport(model, p.id);
        const self = forkProfile(instrument, responses, key, items, options, suite.instrument.min_coverage ?? 0).profile;
        const ratings: Profile[] = [];
        let failures = 0;
        for (const res of storedSeries(responses, `${key}|traits|r`)) {
          const parsed = parseTraits(textOf(res) ?? '');
          if (parsed.ok) ratings.push(parsed.value);
          else failures++;
        }
        const judged = ratings.length ? (Object.fromEntries(DOMAINS.map((dm) => [dm, mean(ratings.map((x) => x[dm]))])) as Profile) : null;
        mine.push({ model, persona: p.id, self, judged, judgeFailures: failures });
      }
      rows.push(...mine);
      const paired = mine.filter((r) => r.judged && DOMAINS.every((dm) => Number.isFinite(r.self[dm])));
      for (const dm of DOMAINS) {
        const gaps = paired.map((r) => r.judged![dm] - r.self[dm]);
        byDomain.push({ model, domain: dm, correlation: paired.length >= 3 ? pearson(paired.map((r) => r.self[dm]), paired.map((r) => r.judged![dm])) : Number.NaN, gap: bootstrap(gaps, mean, { seed: `gap/${model}/${dm}` }) });
      }
    }
    out.selfReport = { rows, byDomain };
  }

  if (c.twenty_questions) {
    const set = twentyQuestionsSet();
    const rows: NonNullable<ConsistencyAnalysis['twentyQuestions']>['rows'] = [];
    for (const model of models)
      for (const p of personas) {
        let games = 0;
        let consistent = 0;
        let revealConsistent = 0;
        let unparsed = 0;
        const candidates: number[] = [];
        for (let g = 0; g < c.twenty_questions.games; g++) {
          const key = csKeys.twentyQuestions(model, p.id, g);
          const answers = set.questions.map((_, q) => {
            const res = responses.get(`${key}|q${q}`);
            return res === undefined ? undefined : parseYesNoAnswer(textOf(res) ?? '');
          });
          if (answers.some((a) => a === undefined)) continue; // an unfinished game is not judged
          games++;
          unparsed += answers.filter((a) => a === null).length;
          const fits = consistentObjects(set.objects, answers as (boolean | null)[]);
          candidates.push(fits.length);
          if (fits.length > 0) consistent++;
          const reveal = textOf(responses.get(`${key}|reveal`))?.toLowerCase() ?? '';
          if (fits.some((name) => reveal.includes(name.toLowerCase()))) revealConsistent++;
        }
        rows.push({ model, persona: p.id, games, consistent, revealConsistent, unparsed, candidates });
      }
    out.twentyQuestions = { rows };
  }
  return out;
}
