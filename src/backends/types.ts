import type { SimIdentity, SimPersonaTruth } from './sim.js';
import type { InstrumentItem } from '../instruments/types.js';
import { decodeF32 } from '../util/f32.js';

// The one small interface every model sits behind (in the spirit of the Vercel AI
// SDK's provider interface): chat, plus option probabilities as a capability.

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

export interface SamplingOptions {
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
}

/**
 * The oracle: what a probe knows about a call (the part it plays, the conversation and
 * turn, a multiple-choice key, a twin's real answer). It travels beside the request, never
 * in it: it is not stored, not part of the cache key, and the runner hands it only to a
 * backend that declares `readsOracle` (the simulated panel), which still has to find the
 * persona and the item in the text it is sent.
 */
export interface ProbeHints {
  personaId?: string;
  item?: { id: string; keyed: 'plus' | 'minus'; domain?: string };
  /** Sample index when the same prompt is sampled k times. */
  sample?: number;
  repetition?: number;
  /** The part this call plays in a multi-turn probe. */
  task?: ProbeTask;
  /** A stable id of the conversation the call belongs to (seeds the simulation). */
  conversation?: string;
  /** Turn within the conversation (0 = the opening). */
  turn?: number;
  /** Attack family of a stickiness conversation. */
  family?: string;
  /** What a judge is asked to judge. */
  judge?: JudgeKind;
  /** Question index (Q&A, 20 questions) or, for a question generator, how many to write. */
  question?: number;
  /** The answer key of a multiple-choice question (the probe knows it; only `sim:` reads it). */
  key?: string;
  /** One model instance serving interleaved personas ('shared') or each alone ('alone'); several personas in one context ('group', 'handover'). */
  tenancy?: 'shared' | 'alone' | 'group' | 'handover';
  /** Human twins: the real person's answer and the item's population and group means (only `sim:` reads them). */
  twin?: { real: number; itemMean: number; groupOffset: number; min: number; max: number; person: string };
}

export type ProbeTask = 'persona' | 'attacker' | 'interlocutor' | 'judge' | 'generator' | 'mcq' | 'yes-no';
export type JudgeKind = 'adherence' | 'backstory' | 'lines' | 'traits' | 'coherence' | 'roleplay';

export interface ChatRequest {
  messages: ChatMessage[];
  sampling?: SamplingOptions;
}

export interface ChatResult {
  text: string;
  usage?: { inputTokens?: number; outputTokens?: number };
  finishReason?: string;
}

export interface OptionProbsRequest {
  messages: ChatMessage[];
  /** The literal answers, e.g. ["1","2","3","4","5"]; probabilities are of the first token of each. */
  options: string[];
}

export interface OptionProbsResult {
  /** Probabilities of the options, normalised over the options. */
  probs: number[];
  /** Probability mass the model put on the options before normalising (how on-format it was). */
  coverage: number;
  usage?: { inputTokens?: number; outputTokens?: number };
}

export interface BackendCapabilities {
  optionProbs: boolean;
  /** Residual-stream activations (the engine backend). */
  activations?: boolean;
}

export interface ActivationsRequest {
  /** The conversation; the last message is the one whose tokens are pooled. */
  messages: ChatMessage[];
  hooks: string[];
}

export interface ActivationsResult {
  /** hook -> mean over the tokens of the last message, [d_model] float32 as base64 (util/f32.ts). */
  means: Record<string, string>;
  tokens: number;
}

/** One hook's pooled mean from a stored activations response, or undefined. */
export function storedMean(response: unknown, hook: string): Float32Array | undefined {
  if (!response || typeof response !== 'object' || !('means' in response)) return undefined;
  const means = response.means;
  const text = means && typeof means === 'object' && hook in means ? (means as Record<string, unknown>)[hook] : undefined;
  if (typeof text !== 'string') return undefined;
  const v = decodeF32(text);
  return v.every(Number.isFinite) ? v : undefined;
}

/** A persona as a suite declares it: its truth, and what it can be recognised by in text. */
export interface DeclaredPersona {
  id: string;
  /** Its truth; without a fidelity, the backend's own default. */
  truth: Omit<SimPersonaTruth, 'fidelity'> & { fidelity?: number };
  identity: SimIdentity;
}

/** What a suite declares to a backend that reads it (readsSuite). */
export interface DeclaredSuite {
  items: readonly InstrumentItem[];
  /** The answer options' labels in the instrument's order (a prompt may list them in another). */
  options?: readonly string[];
  /** Each option's value (default 1..n): a higher value is further along the scale, whatever the listing order. */
  values?: readonly number[];
  personas: readonly DeclaredPersona[];
}

/**
 * Where a backend kind can say, from its id alone and without a call, what a noiseless
 * measurement would give (only the simulated panel can): the ground truth of parameter
 * recovery and of the stickiness truth column.
 */
export interface TruthSource {
  /** Fidelity of a persona declared without one. */
  readonly defaultFidelity: number;
  readsSuite(declared: DeclaredSuite): void;
  trueAdherence(subject: string, family: string | undefined, turn: number): number;
  trueAdoption(subject: string): number;
}

export interface Backend {
  /** Stable id, e.g. "openai:gpt-4o-mini@http://127.0.0.1:8080/v1". Never contains a secret. */
  readonly id: string;
  readonly kind: string;
  /** True only for the simulated panel: every output it touches is labelled as a simulation. */
  readonly simulated: boolean;
  /**
   * Set for a constructed model (a glass-box model with persona structure planted in its
   * weights): one line saying what it is. Every output it touches says it is not a language model.
   */
  readonly constructed?: string;
  /** A content fingerprint of a local model's weights (part of the id, and of the run id): rebuilt weights are new calls. */
  readonly weights?: string;
  readonly capabilities: BackendCapabilities;
  /** True only for the simulated panel: the runner passes it each call's oracle. No other backend ever gets one. */
  readonly readsOracle?: boolean;
  /**
   * True for a backend that keeps state across requests (one instance serving several
   * tenants). Only on such a backend can separate conversations touch; on any other, the
   * tenancy check's separate-conversation rows are trivially clean.
   */
  readonly keepsState?: boolean;
  /**
   * Only a backend that plays personas from their declared truth (the simulated panel) reads
   * this: before a run, the runner hands every backend that has it the suite's personas and
   * items; every other backend has no such method and learns nothing but its requests.
   */
  readsSuite?(declared: DeclaredSuite): void;
  chat(request: ChatRequest, signal?: AbortSignal, oracle?: ProbeHints): Promise<ChatResult>;
  optionProbs?(request: OptionProbsRequest, signal?: AbortSignal, oracle?: ProbeHints): Promise<OptionProbsResult>;
  activations?(request: ActivationsRequest, signal?: AbortSignal, oracle?: ProbeHints): Promise<ActivationsResult>;
  /**
   * For a backend that keeps state across requests (one instance serving several tenants):
   * each chat request served from the store instead of the backend, in the order the run
   * makes it, so a resumed run rebuilds the state an uninterrupted run would have had.
   */
  observe?(request: ChatRequest, oracle?: ProbeHints): void;
  /**
   * Reach the backend once, cheaply (a model list), before its first call is made: a
   * backend that cannot be reached or refuses the key fails here with the real cause,
   * instead of after thousands of retried calls.
   */
  preflight?(signal?: AbortSignal): Promise<void>;
  /**
   * For a backend that runs a model in process (engine:): decode up to `batch` concurrent chat
   * requests together, and keep each reply's mean activations at `captureHooks` so that an
   * activations request for the same messages and reply is answered without a second pass.
   * The mechanism commands, which generate many short answers and then read their activations,
   * turn this on; replies are those of one request at a time, to float rounding.
   */
  batchGeneration?(settings: { batch: number; captureHooks?: string[] }): void;
  close?(): Promise<void>;
}

/** A failed call. `retriable` says whether backing off and trying again can help. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    message: string,
    readonly retriable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Normalise a map token-text -> probability onto the options (by first characters). */
export function normaliseOptionProbs(options: string[], probOf: (option: string) => number): OptionProbsResult {
  const raw = options.map((o) => probOf(o));
  raw.forEach((p, i) => {
    if (!Number.isFinite(p) || p < 0 || p > 1 + 1e-6) throw new BackendError(`the probability of option "${options[i]}" is ${p}, not a probability`, true);
  });
  const coverage = raw.reduce((a, b) => a + b, 0);
  if (coverage > 1 + 1e-4) throw new BackendError(`the answer options carry probability ${coverage}, more than 1`, true);
  if (!(coverage > 0)) throw new BackendError('the model put no probability on any answer option', false);
  return { probs: raw.map((p) => p / coverage), coverage };
}

/** A call to make: its key in the run, the request (what is sent, stored and hashed) and the oracle beside it (see ProbeHints). */
export type CallTask =
  | { key: string; kind: 'chat'; request: ChatRequest; oracle?: ProbeHints }
  | { key: string; kind: 'optionProbs'; request: OptionProbsRequest; oracle?: ProbeHints }
  | { key: string; kind: 'activations'; request: ActivationsRequest; oracle?: ProbeHints };

export interface CallCounters {
  done: number;
  total: number;
  /** Calls that reached the backend and succeeded in this process. */
  calls: number;
  cacheHits: number;
  /** Tasks that ended without a response after all attempts. */
  errors: number;
  retries: number;
}
