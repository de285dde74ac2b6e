// Building blocks of multi-turn probes: conditioning, a persona's turn, a short
// inventory administered in a fork of the conversation (the item never enters the
// conversation), and reading a fork's stored answers back into a profile.

import type { Backend, ChatMessage, ProbeHints } from '../backends/types.js';
import { decodeChat, decodeOptionProbs } from '../backends/responses.js';
import type { Instrument, InstrumentItem, ItemFrame, Profile } from '../instruments/types.js';
import { DOMAINS } from '../instruments/types.js';
import { parseAnswer } from '../instruments/parse.js';
import { profileOf, scoreAnswers } from '../instruments/scoring.js';
import type { CallSink } from './context.js';
import { forEachConcurrent } from '../util/concurrency.js';
import type { CallTask } from '../backends/types.js';
import type { PersonaSpec, Suite } from '../suite/schema.js';
import { seedFromString } from '../util/rng.js';
import { suiteConditioning } from './conditioning.js';
import { defaultVariant, itemPrompt, OPTION_DIGITS, DEFAULT_VARIANTS } from './fidelity.js';

export const NO_METHOD = 'none';

export type Turn = { role: 'user' | 'assistant'; content: string };

/** The system messages of a persona under a method; "none" means the persona is in the model itself. */
export function systemFor(suite: Suite, persona: PersonaSpec, methodId: string): ChatMessage[] {
  if (methodId === NO_METHOD) return [];
  const method = suite.methods.find((m) => m.id === methodId);
  if (!method) throw new RangeError(`unknown method ${methodId}`);
  return suiteConditioning(suite, persona, method);
}

/** A deterministic sampling seed per conversation and turn, so a resumed run makes the same requests. */
export function turnSeed(suiteSeed: number, conversation: string, turn: number, salt = ''): number {
  return seedFromString(`${suiteSeed}/${conversation}/${turn}/${salt}`) % 2_147_483_647;
}

/**
 * A short inventory: `perDomain` items per domain, alternating plus- and minus-keyed
 * items where the instrument has both, so acquiescence does not masquerade as a trait.
 */
export function shortInventory(instrument: Instrument, perDomain: number): InstrumentItem[] {
  const out: InstrumentItem[] = [];
  for (const d of DOMAINS) {
    const plus = instrument.items.filter((i) => i.domain === d && i.keyed === 'plus');
    const minus = instrument.items.filter((i) => i.domain === d && i.keyed === 'minus');
    for (let k = 0; out.filter((i) => i.domain === d).length < perDomain && (plus.length || minus.length); k++) {
      const from = (k % 2 === 0 && plus.length) || !minus.length ? plus : minus;
      out.push(from.shift()!);
    }
  }
  return out;
}

export interface ForkOptions {
  backend: Backend;
  keyPrefix: string;
  /** The conversation so far (system messages included). */
  messages: ChatMessage[];
  items: InstrumentItem[];
  options: string[];
  /** What the probe knows about the conversation (the oracle beside each request). */
  oracle: ProbeHints;
  phase: string;
  /** How a model without option probabilities is sampled: forkSampling(suite) in a suite's probes. */
  sampling: ForkSampling;
  /** The instrument's item frame (its language); default English. */
  frame?: ItemFrame;
}

export interface ForkSampling {
  /** Samples per item. */
  samples: number;
  temperature: number;
  /** The seed each sample's own seed is derived from. */
  seed: number;
}

/** A suite's sampling for forked items: its instrument's samples, its run temperature and seed. */
export const forkSampling = (suite: Suite): ForkSampling => ({ samples: suite.instrument.samples, temperature: suite.run.temperature, seed: suite.seed });

/** Administer items in a fork: each item is asked after the conversation so far, never added to it. */
export async function administerFork(ctx: CallSink, o: ForkOptions): Promise<void> {
  const samples = o.backend.capabilities.optionProbs ? 1 : o.sampling.samples;
  const tasks = o.items.flatMap((item): CallTask[] => {
    const messages: ChatMessage[] = [...o.messages, { role: 'user', content: itemPrompt(item, o.options, o.frame ? defaultVariant({ frame: o.frame }) : DEFAULT_VARIANTS[0]!, o.frame) }];
    const oracle: ProbeHints = { ...o.oracle, item: { id: item.id, keyed: item.keyed, domain: item.domain } };
    if (o.backend.capabilities.optionProbs) return [{ key: `${o.keyPrefix}|inv|${item.id}`, kind: 'optionProbs' as const, request: { messages, options: OPTION_DIGITS }, oracle }];
    return Array.from({ length: samples }, (_, s) => ({
      key: `${o.keyPrefix}|inv|${item.id}|s${s}`,
      kind: 'chat' as const,
      request: { messages, sampling: { temperature: o.sampling.temperature, maxTokens: 24, seed: turnSeed(o.sampling.seed, o.keyPrefix, s, item.id) } },
      oracle: { ...oracle, sample: s },
    }));
  });
  await forEachConcurrent(tasks, ctx.concurrency, async (t) => {
    await ctx.call(o.backend, t, o.phase);
  });
}

/** Stored responses at `${prefix}0`, `${prefix}1`, ... up to the first missing one (judge repeats, samples). */
export function storedSeries(responses: ReadonlyMap<string, unknown>, prefix: string): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; ; i++) {
    const r = responses.get(`${prefix}${i}`);
    if (r === undefined) return out;
    out.push(r);
  }
}

/**
 * One item's stored answer on the option scale (option i is `first + i`): the expected value of
 * its option probabilities at `key`, else the mean of its parsed samples at `key|s0`, `key|s1`, ...;
 * null when nothing parsed.
 */
export function storedAnswer(responses: ReadonlyMap<string, unknown>, key: string, options: string[], first = 1, minCoverage = 0): number | null {
  const direct = decodeOptionProbs(responses.get(key), options.length);
  // Too little probability on the options (off-format): missing, not renormalised into an answer.
  if (direct) return direct.coverage < minCoverage ? null : direct.probs.reduce((s, p, i) => s + p * (first + i), 0);
  const parsed = storedSeries(responses, `${key}|s`)
    .map((r) => parseAnswer(textOf(r) ?? '', options).value)
    .filter((v): v is number => v !== null);
  return parsed.length ? parsed.reduce((a, b) => a + b, 0) / parsed.length + (first - 1) : null;
}

/** The profile a fork's stored answers give (expected value for probabilities, mean of parsed samples otherwise). */
export function forkProfile(instrument: Instrument, responses: ReadonlyMap<string, unknown>, keyPrefix: string, items: readonly InstrumentItem[], options: string[], minCoverage = 0): { profile: Profile; answered: number } {
  const answers: Record<string, number | null> = {};
  let answered = 0;
  for (const item of items) {
    const value = storedAnswer(responses, `${keyPrefix}|inv|${item.id}`, options, 1, minCoverage);
    answers[item.id] = value;
    if (value !== null) answered++;
  }
  return { profile: profileOf(scoreAnswers(instrument, answers)), answered };
}

export function meanProfile(profiles: readonly Profile[]): Profile | null {
  const ok = profiles.filter((p) => DOMAINS.every((d) => Number.isFinite(p[d])));
  if (!ok.length) return null;
  return Object.fromEntries(DOMAINS.map((d) => [d, ok.reduce((s, p) => s + p[d], 0) / ok.length])) as Profile;
}

export function textOf(response: unknown): string | undefined {
  return decodeChat(response)?.text;
}

/**
 * The conversation as the other party (attacker, interlocutor) sees it: its own turns
 * are "assistant", the persona's are "user", after its brief and a cue to begin.
 */
export function counterpartMessages(brief: string, transcript: readonly Turn[]): ChatMessage[] {
  return [
    { role: 'system', content: brief },
    { role: 'user', content: 'Begin. Write your first message.' },
    ...transcript.map((m): ChatMessage => ({ role: m.role === 'user' ? 'assistant' : 'user', content: m.content })),
  ];
}
