// The project's own activation engine as a backend: a Hugging Face model folder run
// in process, with exact next-token probabilities and optional interventions
// (steering / capping) applied to every call.

import { createHash } from 'node:crypto';
import { encodeF32 } from '../util/f32.js';
import { weightsFingerprint } from '../util/fingerprint.js';
import { Engine, logSoftmax, type EngineOptions, type KvCache } from '../engine/engine.js';
import { loadInterventionFile, type Intervention } from '../engine/interventions.js';
import { constructedNote, readGlassBox } from '../engine/glass-box.js';
import { BackendError, normaliseOptionProbs, type ActivationsRequest, type ActivationsResult, type Backend, type ChatRequest, type ChatResult, type OptionProbsRequest, type OptionProbsResult } from './types.js';

export interface EngineBackendConfig extends EngineOptions {
  /** Model folder (config.json, tokenizer.json, safetensors). */
  model: string;
  /** Interventions YAML applied to every call. */
  interventionsFile?: string;
  /** Or interventions built in code. */
  interventions?: Intervention[];
  /**
   * Keep the KV cache of the prefix option-probability requests share (an inventory's template
   * and persona) and run each one's own tokens on top of it (default true; the results are the
   * same to float rounding).
   */
  prefixReuse?: boolean;
}

/** A short fingerprint of interventions, so steered and plain runs of one model never share cached calls. */
export function interventionsFingerprint(list: Intervention[]): string {
  const h = createHash('sha256');
  for (const iv of list) {
    h.update(JSON.stringify([iv.hook, iv.op, iv.coef, iv.min, iv.max, iv.positions]));
    h.update(new Uint8Array(iv.vector.buffer, iv.vector.byteOffset, iv.vector.byteLength));
    if (iv.keep) h.update(new Uint8Array(iv.keep.buffer, iv.keep.byteOffset, iv.keep.byteLength));
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * One engine per model folder and options, shared by every backend that names it, with the
 * fingerprint of the weights it loaded: a folder rebuilt with other weights loads again.
 */
const engines = new Map<string, Promise<{ engine: Engine; weights: string }>>();

function currentFingerprint(engine: Engine): string | undefined {
  try {
    return weightsFingerprint(engine.folder.weightFiles);
  } catch {
    return undefined; // a weight file is gone: the folder changed
  }
}
/** At most this many option-probability prompts in flight together run as one packed call. */
const OPTION_BATCH = 8;

/** Below this many shared tokens a prefix is not worth a cache of its own. */
const MIN_PREFIX = 16;

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const startsWith = (ids: readonly number[], prefix: readonly number[]) => prefix.length <= ids.length && prefix.every((t, i) => ids[i] === t);

/** Replies' captured activations kept at most (each a few vectors). */
const MAX_CAPTURED = 4096;

const captureKey = (prompt: readonly number[], reply: readonly number[], hooks: readonly string[]) => `${prompt.join(',')}|${reply.join(',')}|${hooks.join(',')}`;

/** The tail of each engine's queue of calls. */
const chains = new WeakMap<Engine, Promise<unknown>>();

export class EngineBackend implements Backend {
  readonly kind = 'engine';
  readonly simulated = false;
  readonly constructed?: string;
  /** The model folder the engine loaded (an hf: id resolved to its local copy). */
  readonly modelDir: string;
  readonly capabilities = { optionProbs: true, activations: true };
  readonly id: string;

  private constructor(
    private readonly engine: Engine,
    private readonly interventions: Intervention[],
    model: string,
    /** A content fingerprint of the weights (util/fingerprint.ts): part of the id, so of every cache key. */
    readonly weights: string,
    private readonly prefixReuse = true,
  ) {
    const base = `engine:${model}#w${weights}`;
    this.modelDir = engine.folder.dir;
    const glass = readGlassBox(engine.folder.dir);
    if (glass) this.constructed = constructedNote(glass);
    this.id = interventions.length ? `${base}+interventions:${interventionsFingerprint(interventions)}` : base;
  }

  static async create(config: EngineBackendConfig): Promise<EngineBackend> {
    const key = JSON.stringify([config.model, config.threads, config.weights, config.executionProviders]);
    let loaded = engines.get(key);
    if (loaded) {
      const { engine, weights } = await loaded;
      if (currentFingerprint(engine) !== weights) {
        engines.delete(key);
        loaded = undefined;
      }
    }
    if (!loaded) {
      loaded = Engine.load(config.model, config).then((engine) => ({ engine, weights: weightsFingerprint(engine.folder.weightFiles) }));
      engines.set(key, loaded);
      loaded.catch(() => engines.delete(key));
    }
    const { engine, weights } = await loaded;
    const interventions = [...(config.interventions ?? []), ...(config.interventionsFile ? loadInterventionFile(config.interventionsFile, engine.spec) : [])];
    engine.checkInterventions(interventions);
    return new EngineBackend(engine, interventions, config.model, weights, config.prefixReuse ?? true);
  }

  /**
   * One call at a time per engine, across every backend sharing it (plain and steered
   * entries of one model): its threads are busy with one call, and a call with another
   * layout may evict the session a concurrent call is using.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = (chains.get(this.engine) ?? Promise.resolve()).then(fn);
    chains.set(this.engine, result.catch(() => undefined));
    return result;
  }

  /** Batched generation (batchGeneration): how many chats decode together, and the hooks captured while they do. */
  private batching: { batch: number; captureHooks: string[] } | undefined;
  /** Chat requests waiting for the next batch. */
  private readonly waiting: { request: ChatRequest; signal?: AbortSignal; resolve: (r: ChatResult) => void; reject: (e: unknown) => void }[] = [];
  private draining = false;
  /** Mean activations of replies decoded with capture on, by prompt and reply tokens; taken by activations(). */
  private readonly captured = new Map<string, ActivationsResult>();
  /** What batching did: batches decoded, chats in them, activations answered from a capture. */
  readonly batchStats = { batches: 0, chats: 0, captureHits: 0 };

  batchGeneration(settings: { batch: number; captureHooks?: string[] }): void {
    if (!Number.isInteger(settings.batch) || settings.batch < 1) throw new BackendError(`engine: batch must be a positive integer, got ${settings.batch}`, false);
    this.batching = { batch: settings.batch, captureHooks: settings.captureHooks ? this.engine.resolveHooks(settings.captureHooks) : [] };
  }

  chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
    if (this.batching) {
      return new Promise((resolve, reject) => {
        this.waiting.push({ request, signal, resolve, reject });
        this.drain();
      });
    }
    return this.serial(async () => {
      const ids = this.engine.tokenizer.chatIds(request.messages);
      const s = request.sampling ?? {};
      const r = await this.engine.generate(ids, {
        maxTokens: s.maxTokens ?? 256,
        temperature: s.temperature ?? 0,
        topP: s.topP,
        seed: s.seed,
        stop: s.stop,
        interventions: this.interventions,
        signal,
      });
      return { text: r.text, finishReason: r.finishReason, usage: { inputTokens: r.promptTokens, outputTokens: r.tokens.length } };
    });
  }

  /** Decode the waiting chats in batches, one batch at a time on the engine's queue. */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    void this.serial(async () => {
      // Let the requests made in the same turn of the event loop join this batch.
      await new Promise((r) => setImmediate(r));
      const batch = this.waiting.splice(0, this.batching!.batch);
      this.draining = false;
      if (this.waiting.length) this.drain();
      try {
        await this.decodeBatch(batch);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    });
  }

  private async decodeBatch(batch: typeof this.waiting): Promise<void> {
    const live = batch.filter((w) => {
      if (!w.signal?.aborted) return true;
      w.reject(w.signal.reason ?? new Error('aborted'));
      return false;
    });
    if (!live.length) return;
    this.batchStats.batches++;
    this.batchStats.chats += live.length;
    const prompts = live.map((w) => this.engine.tokenizer.chatIds(w.request.messages));
    const hooks = this.batching!.captureHooks;
    const d = this.engine.spec.dModel;
    const sums = live.map(() => new Map(hooks.map((h) => [h, new Float64Array(d)])));
    const results = await this.engine.generateBatch(prompts, {
      interventions: this.interventions,
      sequences: live.map((w) => ({ maxTokens: w.request.sampling?.maxTokens ?? 256, temperature: w.request.sampling?.temperature ?? 0, topP: w.request.sampling?.topP, seed: w.request.sampling?.seed, stop: w.request.sampling?.stop, signal: w.signal })),
      hooks,
      feedLast: hooks.length > 0,
      onHooks: (b, rows, scope, n) => {
        if (scope !== 'generated') return;
        for (const [h, sum] of sums[b]!) {
          const r = rows.get(h)!;
          for (let t = 0; t < n; t++) for (let i = 0; i < d; i++) sum[i]! += r[t * d + i]!;
        }
      },
    });
    live.forEach((w, b) => {
      const r = results[b]!;
      if (w.signal?.aborted) return w.reject(w.signal.reason ?? new Error('aborted'));
      if (hooks.length && r.tokens.length) {
        const means = Object.fromEntries([...sums[b]!].map(([h, sum]) => [h, encodeF32(Array.from(sum, (x) => x / r.tokens.length))]));
        this.captured.set(captureKey(prompts[b]!, r.tokens, hooks), { means, tokens: r.tokens.length });
        // Bounded: a reply whose activations are never asked for does not stay forever.
        while (this.captured.size > MAX_CAPTURED) this.captured.delete(this.captured.keys().next().value!);
      }
      w.resolve({ text: r.text, finishReason: r.finishReason, usage: { inputTokens: r.promptTokens, outputTokens: r.tokens.length } });
    });
  }

  /** The KV cache of the prompt prefix the last option-probability requests shared (an inventory's template and persona). */
  private kept: { ids: number[]; cache: KvCache } | undefined;
  /** Prompt tokens run through the model and tokens served from the kept prefix, over this backend's life. */
  readonly prefix = { evaluated: 0, reused: 0 };
  /** Option-probability calls that ran packed, and the prompts they held. */
  readonly packed = { calls: 0, prompts: 0 };
  private lastIds: number[] | undefined;

  async optionProbs(request: OptionProbsRequest): Promise<OptionProbsResult> {
    const ids = this.engine.tokenizer.chatIds(request.messages);
    const logProbs = await this.queuedLogProbs(ids);
    const res = normaliseOptionProbs(request.options, (o) => {
      const first = this.engine.tokenizer.encode(o)[0];
      return first === undefined ? 0 : Math.exp(logProbs[first]!);
    });
    return { ...res, usage: { inputTokens: ids.length, outputTokens: 0 } };
  }

  /** Option-probability prompts waiting for the engine: those in flight together run as one packed call. */
  private readonly pendingLogProbs: { ids: number[]; resolve: (lp: Float32Array) => void; reject: (err: unknown) => void }[] = [];

  private queuedLogProbs(ids: number[]): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pendingLogProbs.push({ ids, resolve, reject });
      if (this.pendingLogProbs.length === 1) void this.serial(() => this.drainLogProbs());
    });
  }

  private async drainLogProbs(): Promise<void> {
    const batch = this.pendingLogProbs.splice(0, OPTION_BATCH);
    if (this.pendingLogProbs.length) void this.serial(() => this.drainLogProbs());
    if (batch.length > 1) {
      try {
        const out = await this.logProbsOf(batch.map((b) => b.ids));
        batch.forEach((b, i) => b.resolve(out[i]!));
        return;
      } catch {
        // One bad prompt must not fail the others: each runs alone, and gets its own result or error.
      }
    }
    for (const b of batch) await this.logProbsOf([b.ids]).then(([lp]) => b.resolve(lp!), b.reject);
  }

  /**
   * Next-token log-probabilities of one or more prompts in one packed call (see Engine.forward's
   * packing): their own tokens over the kept prefix when they all continue it, or over the prefix
   * they share (then kept), or whole. One prompt shares with the one before it: the items of one
   * inventory under one persona repeat the same template and persona prompt, so that part is
   * computed once. The same numbers as each prompt whole, to float rounding.
   */
  private async logProbsOf(list: number[][]): Promise<Float32Array[]> {
    let p = this.kept;
    if (this.prefixReuse) {
      const shortest = Math.min(...list.map((ids) => ids.length));
      const [first, ...rest] = list.length > 1 ? list : this.lastIds ? [this.lastIds, list[0]!] : [[], list[0]!];
      const shared = Math.min(shortest - 1, rest.reduce((n, ids) => Math.min(n, commonPrefix(first!, ids)), shortest));
      const continues = (q: { ids: number[] }) => list.every((ids) => q.ids.length < ids.length && startsWith(ids, q.ids));
      if (!(p && continues(p) && p.ids.length >= shared) && shared >= MIN_PREFIX) {
        const r = await this.engine.forward(list[0]!.slice(0, shared), { interventions: this.interventions, keepCache: true });
        this.prefix.evaluated += shared;
        p = this.kept = { ids: list[0]!.slice(0, shared), cache: r.cache! };
      }
      if (p && !continues(p)) p = undefined;
    } else p = undefined;
    this.lastIds = list.at(-1);
    const P = p?.ids.length ?? 0;
    const own = list.map((ids) => ids.slice(P));
    this.prefix.reused += P * list.length;
    this.prefix.evaluated += own.reduce((n, x) => n + x.length, 0);
    const packing = { seqs: own.flatMap((x, b) => x.map(() => b)), positions: own.flatMap((x) => x.map((_, i) => P + i)) };
    const r = await this.engine.forward(own.flat(), { interventions: this.interventions, packing, ...(p ? { past: p.cache } : {}) });
    if (list.length > 1) {
      this.packed.calls++;
      this.packed.prompts += list.length;
    }
    const V = this.engine.spec.vocab;
    return list.map((_, b) => logSoftmax(r.logits.subarray(b * V, (b + 1) * V)));
  }

  /**
   * Mean of each hook over the tokens of the last message, run exactly as generation
   * saw it: the earlier messages with the assistant turn opened, then the reply's tokens.
   */
  activations(request: ActivationsRequest): Promise<ActivationsResult> {
    return this.serial(async () => {
      const last = request.messages[request.messages.length - 1];
      if (!last || last.role !== 'assistant') throw new BackendError('engine: activations pool the last message, which must be an assistant reply', false);
      const prompt = this.engine.tokenizer.chatIds(request.messages.slice(0, -1));
      const reply = this.engine.tokenizer.encode(last.content);
      const hooks = this.engine.resolveHooks(request.hooks);
      // An empty reply has nothing to pool: no means, which analysis reads as a missing turn.
      if (reply.length === 0) return { means: {}, tokens: 0 };
      // Captured while the reply was decoded (the same prompt and reply tokens): no second pass.
      const key = captureKey(prompt, reply, hooks);
      const hit = this.captured.get(key);
      if (hit) {
        this.batchStats.captureHits++;
        this.captured.delete(key);
        return hit;
      }
      const r = await this.engine.forward([...prompt, ...reply], { hooks, interventions: this.interventions });
      const d = this.engine.spec.dModel;
      const means: Record<string, string> = {};
      for (const h of hooks) {
        const rows = r.hooks.get(h)!;
        const sum = new Float64Array(d);
        for (let t = prompt.length; t < prompt.length + reply.length; t++) for (let i = 0; i < d; i++) sum[i]! += rows[t * d + i]!;
        means[h] = encodeF32(Array.from(sum, (x) => x / reply.length));
      }
      return { means, tokens: reply.length };
    });
  }

  /**
   * Per hook, each reply token's projection on a unit vector (the last message's tokens, run as
   * activations() runs them): the per-token distribution that capping acts on, where activations()
   * gives only the mean.
   */
  tokenProjections(request: ActivationsRequest, units: ReadonlyMap<string, Float32Array>): Promise<Map<string, number[]>> {
    return this.serial(async () => {
      const last = request.messages[request.messages.length - 1];
      if (!last || last.role !== 'assistant') throw new BackendError('engine: token projections read the last message, which must be an assistant reply', false);
      const prompt = this.engine.tokenizer.chatIds(request.messages.slice(0, -1));
      const reply = this.engine.tokenizer.encode(last.content);
      const hooks = [...units.keys()];
      const out = new Map<string, number[]>(hooks.map((h) => [h, []]));
      if (reply.length === 0) return out;
      const r = await this.engine.forward([...prompt, ...reply], { hooks: this.engine.resolveHooks(hooks), interventions: this.interventions });
      const d = this.engine.spec.dModel;
      for (const h of hooks) {
        const rows = r.hooks.get(h)!;
        const u = units.get(h)!;
        for (let t = prompt.length; t < prompt.length + reply.length; t++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += rows[t * d + i]! * u[i]!;
          out.get(h)!.push(s);
        }
      }
      return out;
    });
  }

  /** Perplexity of a text (as is, no template) under this backend's interventions: the fluency guard of steering sweeps. */
  perplexity(text: string): Promise<number> {
    return this.serial(async () => {
      const ids = this.engine.tokenizer.encode(text);
      if (ids.length < 2) throw new BackendError('engine: perplexity needs at least two tokens', false);
      const r = await this.engine.forward(ids, { interventions: this.interventions, logits: 'all' });
      const V = this.engine.spec.vocab;
      let nll = 0;
      for (let t = 0; t + 1 < ids.length; t++) nll -= logSoftmax(r.logits.subarray(t * V, (t + 1) * V))[ids[t + 1]!]!;
      return Math.exp(nll / (ids.length - 1));
    });
  }

  async close(): Promise<void> {
    // The engine is shared; its sessions are released when the process exits.
  }
}
