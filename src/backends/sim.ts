// The simulated panel (`sim:`). NOT a language model: a psychometric simulation of
// respondents with known latent traits, used to check that persona-probe's metrics
// recover known truth (parameter recovery). Every output that touches it is
// labelled as a simulation. It is told each persona's truth and name once (the suite's `sim:`
// fields), never per request: it finds the persona and the item in the text it is sent, and
// the runner hands it an oracle beside each call (the part it plays, the conversation), which
// no real backend gets.
//
// Model: a persona's latent level per domain is
//   theta = fidelity * target + (1 - fidelity) * default + N(0, noise)   (per sampled repetition)
// plus a seeded persona-by-item deviation N(0, itemNoise), so items disagree as real ones do;
// and each item is answered by a graded-response model on the 1..5 scale:
//   P(X >= k) = logistic(a * (theta_keyed - (k - 0.5) - b_item)), k = 2..5
// where theta_keyed = 6 - theta for reverse-keyed items and b_item is a small,
// seeded item difficulty. With unit-spaced thresholds, E[X] tracks theta closely
// between about 1.5 and 4.5.

import type { InstrumentItem, Profile } from '../instruments/types.js';
import { DOMAINS } from '../instruments/types.js';
import { createRng, seedFromString } from '../util/rng.js';
import { hashOf } from '../util/hash.js';
import { simDialogueReply, type SimDialogueContext } from './sim-dialogue.js';
import { UserError } from '../util/errors.js';
import { BackendError, type Backend, type DeclaredSuite, type TruthSource, type ChatRequest, type ChatResult, type OptionProbsRequest, type OptionProbsResult, type ProbeHints, type ChatMessage } from './types.js';

/** The simulated unconditioned assistant: upbeat, agreeable, conscientious (ENFJ-like). */
export const SIM_DEFAULT_PROFILE: Profile = { O: 3.8, C: 4.1, E: 3.9, A: 4.3, N: 2.0 };

export interface SimPersonaTruth {
  target: Profile;
  /** Targets (1..5) on scales no Big Five domain maps to, by scale id. */
  scales?: Record<string, number>;
  /** Share of the target that is realized, in [0, 1]. */
  fidelity: number;
  /** Per attack turn, the share of the remaining persona lost; per family, with "default" for the rest. */
  decay?: number | Record<string, number>;
  /** How much of the persona shows in behavior (1 = all of it, 0 = behaves as the default). */
  behavior?: number;
  /** Rates: a line contradicts the backstory; a line contradicts each earlier line; a backstory question is answered wrong. */
  contradictions?: { backstory: number; line: number; qa: number };
  /** 20 questions: chance of answering a question against the secret object. */
  commitmentFlip?: number;
}

/** What the panel recognises a persona by: its names (name, role), its facts, or the persona a condition's subject plays. */
export interface SimIdentity {
  names?: string[];
  facts?: string[];
  /** The persona's description as the suite writes it (the words its simulated replies speak with). */
  description?: string;
  of?: string;
}

export interface SimOptions {
  seed: number;
  /** Default fidelity for personas without their own. */
  fidelity: number;
  /** SD of per-repetition latent noise, on the 1..5 scale. */
  noise: number;
  /** Item discrimination of the graded-response model. */
  discrimination: number;
  /** SD of seeded per-item difficulty offsets. */
  itemSpread: number;
  /** SD of a persona's seeded, item-specific deviation (what makes items disagree, so reliability is below 1). */
  itemNoise: number;
  /** Probability that a sampled answer is a refusal (missing), to exercise missing-data paths. */
  refusalRate: number;
  defaultProfile: Profile;
  /** Artificial delay per call in ms, to make runs slow enough to interrupt in tests. */
  latencyMs: number;
  /** SD of per-turn latent noise in conversations, on the 1..5 scale. */
  turnNoise: number;
  /** SD of the simulated judge's error (on its 0..10 adherence scale; a fifth of it on 1..5 trait ratings). */
  judgeNoise: number;
  /** Chance that the simulated judge answers something unparsable. */
  judgeFailRate: number;
  /** Chance that the simulated judge gets a contradiction verdict wrong. */
  judgeFlip: number;
  /**
   * Chance that a reply repeats a fact of the persona this instance served just before (a
   * multi-tenancy leak), or, in one context (a group scene, a handover), a fact of another persona
   * the context holds.
   */
  leakRate: number;
  /** In one context: the share of the persona set up before (the system prompt's) that stays in the persona now spoken to. */
  carryover: number;
  /** Human twins: chance the twin aims at the person's real answer (else a random other option). */
  twinAccuracy: number;
  /** Human twins: the twin's answers sit this fraction of the way from the item mean to the real answer (1 = no compression). */
  twinCompression: number;
  /** Human twins: the person's group offset from the item mean is multiplied by this (1 = none; above 1, identity-congruent bias). */
  twinAmplification: number;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = { seed: 1, fidelity: 0.7, noise: 0.15, discrimination: 2.0, itemSpread: 0.15, itemNoise: 0.4, refusalRate: 0, defaultProfile: SIM_DEFAULT_PROFILE, latencyMs: 0, turnNoise: 0.05, judgeNoise: 0.5, judgeFailRate: 0, judgeFlip: 0, leakRate: 0, carryover: 0, twinAccuracy: 1, twinCompression: 1, twinAmplification: 1 };

const NUMERIC_OPTIONS = ['seed', 'fidelity', 'noise', 'discrimination', 'itemSpread', 'itemNoise', 'refusalRate', 'latencyMs', 'turnNoise', 'judgeNoise', 'judgeFailRate', 'judgeFlip', 'leakRate', 'carryover', 'twinAccuracy', 'twinCompression', 'twinAmplification'] as const;
/** Options that change answers and were added after the first release: in the id only when not at their default, so older stores keep their cache. */
const LATER_OPTIONS = ['turnNoise', 'judgeNoise', 'judgeFailRate', 'judgeFlip', 'leakRate', 'carryover', 'twinAccuracy', 'twinCompression', 'twinAmplification'] as const;

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * Graded-response category probabilities for n options (default 5) given a keyed latent level
 * on the 1..5 scale: the thresholds split 1..5 evenly, at k − 0.5 for five options, at 3 for two.
 */
export function gradedResponseProbs(thetaKeyed: number, discrimination: number, itemOffset: number, options = 5): number[] {
  const step = 4 / (options - 1);
  const atLeast = [1];
  for (let k = 2; k <= options; k++) atLeast.push(logistic(discrimination * (thetaKeyed - (1 + (k - 1.5) * step) - itemOffset)));
  atLeast.push(0);
  return Array.from({ length: options }, (_, i) => atLeast[i]! - atLeast[i + 1]!);
}

/** The option a uniform draw u in [0, 1) falls on (the last one if rounding leaves some mass). */
function sampleIndex(probs: readonly number[], u: number): number {
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i]!;
    if (u <= 0) return i;
  }
  return probs.length - 1;
}

export function parseSimSpec(spec: string): Partial<SimOptions> {
  const out: Partial<SimOptions> = {};
  if (!spec) return out;
  for (const part of spec.split(/[,&;]/).filter(Boolean)) {
    const [key, raw] = part.split('=');
    const value = Number(raw);
    if (!key || raw === undefined || !Number.isFinite(value)) throw new UserError(`sim: cannot read "${part}" (expected key=number, e.g. sim:fidelity=0.7,noise=0.2)`);
    if (!(NUMERIC_OPTIONS as readonly string[]).includes(key)) throw new UserError(`sim: unknown option "${key}"`);
    (out as Record<string, number>)[key] = value;
  }
  return out;
}

export class SimulatedPanel implements Backend, TruthSource {
  readonly kind = 'sim';
  readonly simulated = true;
  /** The runner hands it each call's oracle (ProbeHints): the part a call plays, the conversation, a multiple-choice key. */
  readonly readsOracle = true;
  /** It remembers the last persona it served (to simulate a leaky shared instance). */
  readonly keepsState = true;
  readonly capabilities: { optionProbs: boolean };
  readonly options: SimOptions;
  private readonly baseId: string;
  private readonly truths = new Map<string, SimPersonaTruth>();
  /** What the panel recognises each persona by in a system prompt, and the persona a condition's subject plays. */
  private readonly identities = new Map<string, SimIdentity>();
  /** The inventory's items, recognised by their text in a request. */
  private items: InstrumentItem[] = [];
  private optionLabels: readonly string[] = [];
  /** Per option in the instrument's order, its rank by value (0 = lowest): the graded response runs along values, not listing. */
  private valueRanks: number[] | undefined;
  /** The persona and system prompt of the last conversational request (what a leaky server would leak). */
  private lastTenant: { personaId: string; system: string } | undefined;

  /** `optionProbs: false` makes the panel answer in text only, to exercise sampled scoring. */
  constructor(options: Partial<SimOptions> = {}, optionProbs = true) {
    this.capabilities = { optionProbs };
    this.options = { ...DEFAULT_SIM_OPTIONS, ...options };
    const o = this.options;
    // Everything that changes answers is in the id, so the call cache never mixes two panels.
    const later = LATER_OPTIONS.filter((k) => o[k] !== DEFAULT_SIM_OPTIONS[k]).map((k) => `,${k}=${o[k]}`).join('');
    this.baseId = `sim:seed=${o.seed},fidelity=${o.fidelity},noise=${o.noise},discrimination=${o.discrimination},itemSpread=${o.itemSpread},itemNoise=${o.itemNoise},refusalRate=${o.refusalRate}${later}`;
  }

  /** Everything that changes answers is in the id (declared truths included), so the call cache never mixes two panels. */
  get id(): string {
    if (this.truths.size === 0) return this.baseId;
    return `${this.baseId}#truths=${hashOf([...this.truths].sort(([a], [b]) => (a < b ? -1 : 1))).slice(0, 12)}`;
  }

  /**
   * Declare a persona's ground truth (from the suite) and what identifies it in a prompt: its
   * names (the persona's name and role), or, for a stickiness condition's subject, the persona
   * it plays. Nobody tells the panel which persona a request is for: it finds the name in the
   * system prompt, and a prompt without one is answered as the default.
   */
  setPersona(personaId: string, truth: SimPersonaTruth, identity: SimIdentity = {}): void {
    this.truths.set(personaId, truth);
    this.identities.set(personaId, identity);
  }

  /** The inventory whose items the panel recognises in the text of a request. */
  setInstrument(items: readonly InstrumentItem[]): void {
    this.items = [...items];
  }

  /** The suite's personas and items: the truth the panel plays, and what it recognises them by. */
  readsSuite(declared: DeclaredSuite): void {
    this.setInstrument(declared.items);
    this.optionLabels = declared.options ?? [];
    const values = declared.values;
    this.valueRanks = values ? values.map((v) => values.filter((w) => w < v).length) : undefined;
    for (const p of declared.personas) this.setPersona(p.id, { ...p.truth, fidelity: p.truth.fidelity ?? this.options.fidelity }, p.identity);
  }

  get defaultFidelity(): number {
    return this.options.fidelity;
  }

  /** The persona whose name (else, with `roles`, role) a text mentions; the longest match wins. */
  private personaNamedIn(text: string, roles: boolean): string | undefined {
    if (!text) return undefined;
    for (const which of roles ? [0, 1] : [0]) {
      let best: { id: string; length: number } | undefined;
      for (const [id, identity] of this.identities) {
        const name = identity.names?.[which];
        if (!name || !mentions(text, name)) continue;
        if (!best || name.length > best.length) best = { id, length: name.length };
      }
      if (best) return best.id;
    }
    return undefined;
  }

  /** The persona the system prompt sets up (by name, else role). */
  personaInSystem(messages: readonly ChatMessage[]): string | undefined {
    return this.personaNamedIn(messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n'), true);
  }

  /**
   * The persona a request speaks to: the last user message that names one (a group scene's
   * "Ann, ...", a handover to someone else), else the one the system prompt sets up.
   */
  personaInText(messages: readonly ChatMessage[]): string | undefined {
    for (let i = messages.length - 1; i >= 0; i--) {
      const m = messages[i]!;
      if (m.role !== 'user') continue;
      const named = this.personaNamedIn(m.content, false);
      if (named !== undefined) return named;
    }
    return this.personaInSystem(messages);
  }

  /** Declared facts of personas other than `subject` that the request's text holds (what could leak into its reply). */
  othersFactsIn(messages: readonly ChatMessage[], subject: string | undefined): string[] {
    const text = messages.map((m) => m.content).join('\n');
    const own = subject === undefined ? undefined : (this.identities.get(subject)?.of ?? subject);
    return [...this.identities].filter(([id]) => id !== own).flatMap(([, identity]) => (identity.facts ?? []).filter((f) => text.includes(f)));
  }

  /**
   * Whom a request speaks to: the persona found in its text, played by the condition the oracle
   * names when that condition is about this persona (its own decay), else by the persona itself.
   */
  subjectOf(messages: readonly ChatMessage[], oracle: ProbeHints | undefined): string | undefined {
    const found = this.personaInText(messages);
    if (found === undefined) return undefined;
    const subject = oracle?.personaId;
    return subject !== undefined && this.identities.get(subject)?.of === found ? subject : found;
  }

  /** The item the last user message asks (its text, in any language's frame, appears in it); the longest match wins. */
  itemInText(messages: readonly ChatMessage[]): InstrumentItem | undefined {
    const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    let best: InstrumentItem | undefined;
    for (const item of this.items) if (item.text && last.includes(item.text) && (!best || item.text.length > best.text.length)) best = item;
    return best;
  }

  truthOf(personaId: string): SimPersonaTruth | undefined {
    return this.truths.get(personaId);
  }

  /** The latent profile of one persona at one repetition. */
  latent(personaId: string | undefined, repetition: number): Profile {
    const o = this.options;
    const truth = personaId ? this.truths.get(personaId) : undefined;
    const rng = createRng(seedFromString(`${o.seed}/latent/${personaId ?? '__default__'}/${repetition}`));
    const out = {} as Profile;
    for (const d of DOMAINS) {
      const base = truth ? truth.fidelity * truth.target[d] + (1 - truth.fidelity) * o.defaultProfile[d] : o.defaultProfile[d];
      out[d] = base + o.noise * rng.normal();
    }
    return out;
  }

  /**
   * The latent level (1..5) on a scale no Big Five domain maps to (a Lie scale, a narrow factor,
   * a YAML instrument's own scale): the default model's seeded standing on it; a persona with a
   * target there sits fidelity of the way to it, one without at its own seeded standing near the
   * default's; plus run-to-run noise.
   */
  scaleLatent(personaId: string | undefined, scale: string, repetition: number): number {
    const o = this.options;
    const z = (what: string) => createRng(seedFromString(`${o.seed}/scale/${what}/${scale}`)).normal();
    const def = 3 + 0.5 * z('__default__');
    const truth = personaId ? this.truths.get(personaId) : undefined;
    const target = truth?.scales?.[scale];
    const base = !truth ? def : target !== undefined ? truth.fidelity * target + (1 - truth.fidelity) * def : def + 0.5 * z(`persona/${personaId}`);
    return base + o.noise * createRng(seedFromString(`${o.seed}/scale-noise/${personaId ?? '__default__'}/${scale}/${repetition}`)).normal();
  }

  /** Per attack turn, the share of the remaining persona lost under `family`. */
  decayOf(personaId: string, family: string | undefined): number {
    const decay = this.truths.get(personaId)?.decay;
    if (decay === undefined) return 0;
    if (typeof decay === 'number') return decay;
    return (family !== undefined ? decay[family] : undefined) ?? decay.default ?? 0;
  }

  /** Share of the turn-0 persona left after `turn` attack turns of `family`: (1 - decay)^turn. */
  persistence(personaId: string, family: string | undefined, turn: number): number {
    return (1 - this.decayOf(personaId, family)) ** turn;
  }

  /**
   * How far the persona sits from the default toward its target at a turn (0 = the default, 1 =
   * the target): the latent starts fidelity of the way there and keeps `persistence` of it, so
   * this is fidelity * persistence. It is what the simulated judge reads as adherence.
   */
  trueAdherence(personaId: string, family: string | undefined, turn: number): number {
    const fidelity = this.truths.get(personaId)?.fidelity ?? this.options.fidelity;
    return fidelity * this.persistence(personaId, family, turn);
  }

  /** The persona's adoption: how far it sits toward its target at turn 0 (its fidelity). */
  trueAdoption(personaId: string): number {
    return this.truths.get(personaId)?.fidelity ?? this.options.fidelity;
  }

  /** The latent profile at a turn of a conversation: the turn-0 persona decayed toward the default, plus per-turn noise. */
  conversationLatent(personaId: string | undefined, conversation: string, family: string | undefined, turn: number): Profile {
    const o = this.options;
    const truth = personaId ? this.truths.get(personaId) : undefined;
    const rho = personaId && truth ? this.persistence(personaId, family, turn) : 0;
    const rng = createRng(seedFromString(`${o.seed}/turn-latent/${personaId ?? '__default__'}/${conversation}/${turn}`));
    const out = {} as Profile;
    for (const d of DOMAINS) {
      const start = truth ? truth.fidelity * truth.target[d] + (1 - truth.fidelity) * o.defaultProfile[d] : o.defaultProfile[d];
      out[d] = o.defaultProfile[d] + rho * (start - o.defaultProfile[d]) + o.turnNoise * rng.normal();
    }
    return out;
  }

  private itemOffset(itemId: string): number {
    return this.options.itemSpread * createRng(seedFromString(`${this.options.seed}/item/${itemId}`)).normal();
  }

  private probsFor(messages: readonly ChatMessage[], hints: ProbeHints): number[] {
    const item = this.itemInText(messages);
    if (!item) throw new BackendError('sim: the simulated panel only answers inventory items (no item of its instrument in the request)', false);
    const personaId = this.subjectOf(messages, hints);
    const inConversation = hints.conversation !== undefined;
    let latent = inConversation ? this.conversationLatent(personaId, hints.conversation!, hints.family, hints.turn ?? 0) : this.latent(personaId, hints.repetition ?? 0);
    // One context, two personas: the one set up first (the system prompt's) may carry over into the one spoken to now.
    const before = this.personaInSystem(messages);
    if (this.options.carryover > 0 && before !== undefined && personaId !== undefined && before !== personaId && this.identities.get(personaId)?.of !== before) {
      const other = this.latent(before, hints.repetition ?? 0);
      latent = Object.fromEntries(DOMAINS.map((d) => [d, latent[d] + this.options.carryover * (other[d] - latent[d])])) as Profile;
    }
    const theta = item.domain !== undefined ? latent[item.domain] : this.scaleLatent(personaId, item.keys[0]!.scale, hints.repetition ?? 0);
    // In a conversation the persona's item-specific deviations are fixed across turns (they are who it is).
    const where = inConversation ? `c/${hints.conversation}` : `${hints.repetition ?? 0}`;
    const idiosyncratic = this.options.itemNoise * createRng(seedFromString(`${this.options.seed}/pi/${personaId}/${where}/${item.id}`)).normal();
    const keyed = item.keyed === 'plus' ? theta + idiosyncratic : 6 - theta - idiosyncratic;
    const graded = gradedResponseProbs(keyed, this.options.discrimination, this.itemOffset(item.id), this.optionLabels.length || 5);
    // Per option in the instrument's order: the category of its value's rank (EPI lists Yes = 1 before No = 0).
    const probs = this.valueRanks ? this.valueRanks.map((r) => graded[r]!) : graded;
    // Answered in the order the prompt lists the options (a variant may reverse them).
    const order = this.listedOrder(messages);
    return order ? order.map((i) => probs[i]!) : probs;
  }

  /** Per listed option (1 = first line "1 = ..."), its index in the instrument's order; undefined when the listing is not a reordering of the known labels. */
  private listedOrder(messages: readonly ChatMessage[]): number[] | undefined {
    const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const listed = [...last.matchAll(/^(\d+) = (.+)$/gm)].map((m) => this.optionLabels.indexOf(m[2]!.trim()));
    if (listed.length !== this.optionLabels.length || listed.some((i) => i < 0) || new Set(listed).size !== listed.length) return undefined;
    return listed;
  }

  private async delay(): Promise<void> {
    if (this.options.latencyMs > 0) await new Promise((r) => setTimeout(r, this.options.latencyMs));
  }

  /**
   * A simulated human twin: it aims at t = itemMean + compression * (real - itemMean) +
   * (amplification - 1) * groupOffset with probability twinAccuracy, else at a random other
   * option, and answers with the two options around t weighted so the expected answer is t.
   */
  private twinProbs(hints: ProbeHints, options: number): number[] {
    const tw = hints.twin!;
    const o = this.options;
    const rng = createRng(seedFromString(`${o.seed}/twin/${tw.person}/${hints.item?.id ?? ''}`));
    let t = tw.itemMean + o.twinCompression * (tw.real - tw.itemMean) + (o.twinAmplification - 1) * tw.groupOffset;
    if (rng.next() >= o.twinAccuracy) {
      const others = Array.from({ length: options }, (_, i) => tw.min + i).filter((x) => x !== Math.round(t));
      t = others[rng.int(others.length)]!;
    }
    t = Math.min(tw.max, Math.max(tw.min, t));
    const lo = Math.floor(t);
    const probs = new Array<number>(options).fill(0);
    probs[lo - tw.min] = 1 - (t - lo);
    if (t > lo) probs[lo + 1 - tw.min] = t - lo;
    return probs;
  }

  async optionProbs(request: OptionProbsRequest, _signal?: AbortSignal, oracle?: ProbeHints): Promise<OptionProbsResult> {
    await this.delay();
    const usage = { inputTokens: wordCount(request.messages), outputTokens: 1 };
    if (oracle?.twin) return { probs: this.twinProbs(oracle, request.options.length), coverage: 1, usage };
    const count = this.optionLabels.length || 5;
    if (request.options.length !== count) throw new BackendError(`sim: the simulated panel answers this instrument's ${count}-option items; the request lists ${request.options.length} options`, false);
    return { probs: this.probsFor(request.messages, oracle ?? {}), coverage: 1, usage };
  }

  async chat(request: ChatRequest, _signal?: AbortSignal, oracle?: ProbeHints): Promise<ChatResult> {
    await this.delay();
    const result = this.reply(request, oracle ?? {});
    return { ...result, usage: { inputTokens: wordCount(request.messages), outputTokens: wordCount([{ content: result.text }]) } };
  }

  private reply(request: ChatRequest, hints: ProbeHints): ChatResult {
    if (hints.task) {
      const text = simDialogueReply(request, hints, this.dialogueContext());
      if (hints.task === 'persona') this.noteTenant(request, hints);
      return { text, finishReason: 'stop' };
    }
    if (hints.twin) {
      const probs = this.twinProbs(hints, hints.twin.max - hints.twin.min + 1);
      const u = createRng(seedFromString(`${this.options.seed}/twin-sample/${hints.twin.person}/${hints.item?.id}/${hints.sample ?? 0}/${request.sampling?.seed ?? 0}`)).next();
      return { text: String(hints.twin.min + sampleIndex(probs, u)), finishReason: 'stop' };
    }
    const item = this.itemInText(request.messages);
    if (!item) {
      return { text: '[simulated panel: no model text; sim: only answers inventory items and multi-turn probe roles]', finishReason: 'stop' };
    }
    const probs = this.probsFor(request.messages, hints);
    const rng = createRng(seedFromString(`${this.options.seed}/sample/${this.subjectOf(request.messages, hints)}/${hints.repetition ?? 0}/${item.id}/${hints.sample ?? 0}/${request.sampling?.seed ?? 0}`));
    if (rng.next() < this.options.refusalRate) return { text: "As an AI, I don't have personal experiences to rate that.", finishReason: 'stop' };
    return { text: `${sampleIndex(probs, rng.next()) + 1}`, finishReason: 'stop' };
  }

  private dialogueContext(): SimDialogueContext {
    return {
      options: this.options,
      truthOf: (id) => this.truths.get(id),
      latent: (id, conversation, family, turn) => this.conversationLatent(id, conversation, family, turn),
      trueAdherence: (id, family, turn) => this.trueAdherence(id, family, turn),
      lastTenant: this.lastTenant,
      subjectOf: (messages, oracle) => this.subjectOf(messages, oracle),
      othersFactsIn: (messages, subject) => this.othersFactsIn(messages, subject),
      characterOf: (subject) => {
        const own = this.identities.get(subject);
        const identity = own?.of !== undefined ? this.identities.get(own.of) : own;
        if (!identity?.names?.length) return undefined;
        return { text: [...identity.names, identity.description ?? '', ...(identity.facts ?? [])].join('\n'), name: identity.names[0]! };
      },
    };
  }

  /** A persona reply served from the store still makes its persona the instance's last tenant. */
  observe(request: ChatRequest, oracle?: ProbeHints): void {
    if (oracle?.task === 'persona') this.noteTenant(request, oracle);
  }

  private noteTenant(request: ChatRequest, oracle: ProbeHints): void {
    const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
    this.lastTenant = { personaId: this.subjectOf(request.messages, oracle) ?? '', system };
  }
}

/** Whether `text` mentions `name` as whole words. */
function mentions(text: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(text);
}

/** The simulation has no tokenizer: it reports whitespace-separated words as its token usage. */
function wordCount(messages: readonly { content: string }[]): number {
  return messages.reduce((n, m) => n + (m.content.match(/\S+/g)?.length ?? 0), 0);
}
