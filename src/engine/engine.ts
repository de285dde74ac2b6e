// The activation engine: a Hugging Face model folder run as an ONNX graph of our
// own on onnxruntime-node, with hook points readable and writable.
//
// Sessions are cached per graph layout (exposed hooks x intervention points x KV
// cache). Vectors, coefficients and bounds are inputs, so a sweep over them reuses
// one session; a new layout builds a new graph (seconds for a 135M model).

import { constants as fsConstants, copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { UserError } from '../util/errors.js';
import { sha256 } from '../util/hash.js';
import { createRng, type Rng } from '../util/rng.js';
import type { ChatMessage } from '../backends/types.js';
import { ropeAttentionScale, ropeInvFreq, ropeTablesAt, type ArchSpec } from './arch.js';
import {
  buildDecoderGraph,
  GRAPH_INPUTS,
  ivInput,
  layoutKey,
  pastKey,
  pastValue,
  newKey,
  newValue,
  type GraphLayout,
} from './decoder-graph.js';
import { resolveHooks } from './hooks.js';
import { checkInterventions, norm, type Intervention } from './interventions.js';
import { externalWeights, inlineWeights, openModelFolder, type ModelFolder } from './model-folder.js';
import { checkFits, estimateMemory, type MemoryEstimate } from './memory.js';
import { quantizeWeight, type WeightQuant } from './quantize.js';
import type { ExternalRef } from './onnx/builder.js';
import type { StackedQuant, WeightProvider } from './decoder-graph.js';
import { DerivedWeights } from './derived-weights.js';
import { readRows, readTensorBytes, toFloat32 } from './formats/safetensors.js';
import { ModelTokenizer } from './tokenizer.js';
import { resolveModelFolder } from './hub.js';

export interface EngineOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /**
   * How the graph gets its weights. 'inline': converted to float32 inside the
   * protobuf (limited to 2 GB). 'external': ONNX external data read by the runtime
   * straight from the safetensors files (no copy in JS; any size). 'auto' (default):
   * external when the weight files can be hard-linked into the cache, else inline
   * below 1.5 GiB, else external through a one-time copy into the cache.
   */
  weights?: 'auto' | 'inline' | 'external';
  /** How many graph layouts keep a live session (each holds its own copy of the weights). Default 1. */
  sessionCacheSize?: number;
  /** Where `hf:` model folders are downloaded (default ~/.cache/persona-probe/hub). */
  hubCacheDir?: string;
  /** ONNX Runtime execution providers (default ['cpu']). */
  executionProviders?: string[];
  /** Refuse a model whose estimated peak is above this (default: the machine's total memory). */
  memoryLimitBytes?: number;
  /**
   * Weight-only quantization of every matrix product (attention and MLP projections, the
   * unembedding): block-wise int8 or int4 codes read by ONNX Runtime's MatMulNBits, float32
   * activations; hooks and interventions are unchanged. Also spelled `DIR?weights=int4`.
   */
  quantize?: WeightQuant;
  /** With quantize: 'int8' activations in the products (default; fast) or 'float32' (exact with the decoded weights; slow for int8). */
  quantizedActivations?: 'int8' | 'float32';
}

/** `DIR?weights=int8|int4|float32`: the folder, and the weights asked for. */
export function parseWeightsQuery(model: string): { dir: string; quantize?: WeightQuant } {
  const m = /^(.*)\?weights=([^&]*)$/.exec(model);
  if (!m) return { dir: model };
  const w = m[2]!;
  if (w === 'float32') return { dir: m[1]! };
  if (w === 'int8' || w === 'int4') return { dir: m[1]!, quantize: w };
  throw new UserError(`${model}: weights=${w} is not one the engine has (float32, int8, int4)`);
}

/**
 * Keys and values of the tokens run so far, per layer, in buffers of `capacity`
 * slots: keys transposed [kvHeads, headDim, capacity], values [kvHeads, capacity, headDim]. forward() extends a cache in place
 * (growing it geometrically), so a cache belongs to one continuation.
 */
export interface KvCache {
  keys: Float32Array[];
  values: Float32Array[];
  length: number;
  capacity: number;
}

/**
 * Several sequences run as one: the new tokens' sequences and positions (each sequence counts
 * from its own start). A token attends only to earlier tokens of its own sequence, in the cache
 * and among the new tokens (a block-diagonal causal mask): each sequence's numbers are those of
 * running it alone, to float rounding, and no token is padding.
 */
export interface Packing {
  seqs: readonly number[];
  positions: readonly number[];
  /** Per token, prompt or generated (for interventions' `positions`); default: the call's scope. */
  scopes?: readonly TokenScope[];
  /** The rows whose logits are wanted (default: the last token of each sequence). */
  logitRows?: readonly number[];
}

/** Above this, inline float32 weights would approach protobuf's 2 GiB limit. */
const INLINE_LIMIT = 1.5 * 2 ** 30;
const PROTOBUF_LIMIT = 2 ** 31 - 64 * 2 ** 20;

export type TokenScope = 'prompt' | 'generated';

export interface ForwardOptions {
  hooks?: string[];
  interventions?: Intervention[];
  /** Which rows get logits: every position, or only the last. */
  logits?: 'all' | 'last';
  /** Continue from a KV cache (the graph then returns the extended cache). */
  past?: KvCache;
  /** Keep a KV cache for further decoding. */
  keepCache?: boolean;
  /** Whether these tokens are prompt or generated (for interventions' `positions`). */
  scope?: TokenScope;
  /**
   * Run several sequences packed into this one call (see Packing): from no cache (decodeRows
   * continues them, from the kept cache), or all continuing `past` as a prefix they share
   * (positions from its length on; the cache is not kept).
   */
  packing?: Packing;
}

export interface ForwardResult {
  /** [rows, vocab], row-major. */
  logits: Float32Array;
  rows: number;
  /** Hook name -> [tokens, d_model], row-major. */
  hooks: Map<string, Float32Array>;
  cache?: KvCache;
}

export interface GenerateOptions {
  maxTokens?: number;
  /** 0 (default) is greedy. */
  temperature?: number;
  topP?: number;
  seed?: number;
  interventions?: Intervention[];
  /** Stop strings, checked on the decoded text. */
  stop?: string[];
  /** Called with each hook's rows for every forward pass (prompt, then each generated token). */
  onHooks?: (hooks: Map<string, Float32Array>, scope: TokenScope, tokens: number) => void;
  hooks?: string[];
  /** Called for each generated token with the logits it was drawn from (for logprobs and streaming). */
  onToken?: (token: number, logits: Float32Array) => void;
  signal?: AbortSignal;
}

/** generateBatch's options: the generation settings, overridable per sequence, and callbacks that name the sequence. */
export interface BatchGenerateOptions extends Omit<GenerateOptions, 'onHooks' | 'onToken'> {
  sequences?: readonly Pick<GenerateOptions, 'maxTokens' | 'temperature' | 'topP' | 'seed' | 'stop' | 'signal'>[];
  onHooks?: (sequence: number, hooks: Map<string, Float32Array>, scope: TokenScope, tokens: number) => void;
  onToken?: (sequence: number, token: number, logits: Float32Array) => void;
  /** Also run a sequence's last token when it stops at maxTokens or a stop string, for its hook rows. */
  feedLast?: boolean;
}

/**
 * Caches of several sequences, one row each ([rows, kvHeads, headDim, capacity] keys, transposed
 * as the key cache is kept; [rows, kvHeads, capacity, headDim] values), for decodeRows.
 */
export interface RowCache {
  keys: Float32Array[];
  values: Float32Array[];
  /** Filled slots per row (slot j holds the sequence's position j). */
  lengths: number[];
  capacity: number;
}

export interface GenerateResult {
  tokens: number[];
  text: string;
  finishReason: 'stop' | 'length';
  promptTokens: number;
}

export class Engine {
  /** Live sessions by layout key, least recently used first, each with the layout it was built for. */
  private readonly sessions = new Map<string, { layout: GraphLayout; session: Promise<ort.InferenceSession> }>();
  /** Graphs built over this engine's life (a layout evicted and needed again is built again). */
  sessionsBuilt = 0;
  private readonly invFreq: Float64Array;
  /** Gemma 3's sliding layers' frequencies (their own base). */
  private readonly invFreqLocal?: Float64Array;

  private constructor(
    readonly folder: ModelFolder,
    readonly tokenizer: ModelTokenizer,
    private readonly options: EngineOptions,
  ) {
    this.invFreq = ropeInvFreq(folder.spec);
    const local = folder.spec.localRope;
    if (local) this.invFreqLocal = ropeInvFreq({ headDim: folder.spec.headDim, ropeTheta: local.theta, ropeScaling: local.scaling });
  }

  /** `dir`: a local model folder, or `hf:owner/repo[@revision]` (downloaded once, checksummed). */
  static async load(model: string, options: EngineOptions = {}): Promise<Engine> {
    const { dir, quantize } = parseWeightsQuery(model);
    if (quantize && options.quantize && quantize !== options.quantize) throw new UserError(`${model}: weights=${quantize} and the quantize option ${options.quantize} disagree`);
    if (quantize) options = { ...options, quantize };
    const folder = openModelFolder(await resolveModelFolder(dir, options.hubCacheDir));
    const tokenizer = await ModelTokenizer.load(folder.dir, folder.spec.eosTokenIds);
    const engine = new Engine(folder, tokenizer, options);
    // Refused before any session holds the weights.
    checkFits(folder.dir, engine.memory, options.memoryLimitBytes);
    return engine;
  }

  get spec(): ArchSpec {
    return this.folder.spec;
  }

  /**
   * The ONNX session for a layout, built on first use. A live session whose graph exposes every
   * hook asked for (and more) with the same interventions serves too: its extra outputs are
   * computed and not fetched. So generation (no hooks) runs on the graph that captured
   * activations, and `vectors extract`, alternating the two, builds two graphs, not one per switch.
   */
  async session(layout: GraphLayout): Promise<ort.InferenceSession> {
    const key = layoutKey(layout);
    const covering = this.sessions.has(key) ? key : [...this.sessions].find(([, live]) => covers(live.layout, layout, this.spec.layers))?.[0];
    if (covering !== undefined) {
      const hit = this.sessions.get(covering)!;
      this.sessions.delete(covering);
      this.sessions.set(covering, hit); // most recently used last
      return hit.session;
    }
    while (this.sessions.size >= this.sessionLimit()) {
      const [oldKey, old] = this.sessions.entries().next().value as [string, { session: Promise<ort.InferenceSession> }];
      this.sessions.delete(oldKey);
      void old.session.then((s) => s.release()).catch(() => undefined);
    }
    const created = this.createSession(layout);
    this.sessionsBuilt++;
    this.sessions.set(key, { layout, session: created });
    created.catch(() => this.sessions.delete(key));
    return created;
  }

  private async createSession(layout: GraphLayout): Promise<ort.InferenceSession> {
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: this.options.threads ?? availableParallelism(),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      executionProviders: this.options.executionProviders ?? ['cpu'],
    };
    const kind = this.options.quantize;
    const activations = this.options.quantizedActivations ?? 'int8';
    if (this.usesInlineWeights()) {
      const quant = kind ? { kind, activations, stacked: (names: string[]) => this.stackedQuant(kind, names) } : undefined;
      if (this.folder.float32Bytes > PROTOBUF_LIMIT) throw new UserError(`${this.folder.dir}: ${(this.folder.float32Bytes / 2 ** 30).toFixed(1)} GiB of float32 weights do not fit in one protobuf (2 GiB); use external weights`);
      const graph = buildDecoderGraph(this.spec, inlineWeights(this.folder), layout, quant);
      return ort.InferenceSession.create(graph.encode(), sessionOptions);
    }
    // External data: the graph refers to the safetensors files by offset. ONNX Runtime
    // resolves locations relative to the graph file and refuses any that leave its
    // folder, symlinks included, so the graph sits in a cache folder beside hard links
    // to the weight files (a copy where the cache is on another file system).
    const dir = this.externalDataDir();
    const alias = new Map(this.folder.weightFiles.map((file, i) => [file, `weights-${i}.safetensors`]));
    const quant = kind ? { kind, activations, stacked: (names: string[]) => this.stackedQuant(kind, names, dir) } : undefined;
    const graph = buildDecoderGraph(this.spec, this.externalFloat32(dir, alias), layout, quant);
    for (const made of this.derived.values()) made.save();
    const path = join(dir, `decoder-${sha256(layoutKey(layout)).slice(0, 16)}.onnx`);
    writeFileSync(path, graph.encode());
    try {
      return await ort.InferenceSession.create(path, sessionOptions);
    } finally {
      rmSync(path, { force: true });
    }
  }

  private linkable?: boolean;
  /** Quantized stacks made for inline graphs (in memory). */
  private readonly quantized = new Map<string, StackedQuant>();
  /** Weights derived into the cache folder, by kind: quantized stacks, float32 copies. */
  private readonly derived = new Map<string, DerivedWeights<unknown>>();

  private derivedIn<E>(dir: string, label: string, refsOf: (e: E) => ExternalRef[]): DerivedWeights<E> {
    const key = `${dir}\0${label}`;
    if (!this.derived.has(key)) this.derived.set(key, new DerivedWeights<E>(dir, label, refsOf) as DerivedWeights<unknown>);
    return this.derived.get(key) as DerivedWeights<E>;
  }

  /**
   * The named weights stacked by rows and quantized, once per engine. With a cache folder they
   * are appended to a `quant-KIND` file there (external data beside the graph, reused by the next
   * process); otherwise they stay in memory.
   */
  private stackedQuant(kind: WeightQuant, names: string[], dir?: string): StackedQuant {
    const key = `${kind}:${names.join('+')}`;
    const cache = dir ? this.derivedIn<StackedQuant>(dir, `quant-${kind}`, (e) => [e.codes, e.scales].flatMap((t) => (t.kind === 'external' ? [t.ref] : []))) : undefined;
    const hit = cache ? cache.get(key) : this.quantized.get(key);
    if (hit) return hit;
    const shapes = names.map((n) => this.folder.tensors.get(n)!.info.shape);
    const K = shapes[0]![1]!;
    const N = shapes.reduce((a, sh) => a + sh[0]!, 0);
    const stacked = new Float32Array(N * K);
    let at = 0;
    for (const n of names) {
      const data = this.readFloat32(n);
      stacked.set(data, at);
      at += data.length;
    }
    const q = quantizeWeight(stacked, N, K, kind);
    const scaleBytes = new Uint8Array(q.scales.buffer, q.scales.byteOffset, q.scales.byteLength);
    if (cache) return cache.add(key, [q.codes, scaleBytes], ([codes, scales]) => ({ N, K, bits: q.bits, codes: { kind: 'external', ref: codes! }, scales: { kind: 'external', ref: scales! } }));
    const made: StackedQuant = { N, K, bits: q.bits, codes: { kind: 'inline', data: q.codes }, scales: { kind: 'inline', data: scaleBytes } };
    this.quantized.set(key, made);
    return made;
  }

  /**
   * External weights as the graph reads them: float32 files as they are; a 16-bit weight through
   * its float32 copy in the cache folder, made once, a tensor at a time. (Cast in the graph, ONNX
   * Runtime would hold the whole 16-bit file and its float32 cast at once while loading: 10 GB
   * at peak for a 2.9 GB bfloat16 Qwen2.5-1.5B.)
   */
  private externalFloat32(dir: string, alias: Map<string, string>): WeightProvider {
    const files = externalWeights(this.folder, alias);
    const copies = this.derivedIn<ExternalRef>(dir, 'float32', (ref) => [ref]);
    return {
      has: files.has,
      get: (name) => {
        const w = files.get(name);
        if (w.kind !== 'external' || w.elem === 'float32') return w;
        const ref = copies.get(name) ?? copies.add(name, [new Uint8Array(this.readFloat32(name).buffer)], ([r]) => r!);
        return { kind: 'external', shape: w.shape, elem: 'float32', ref };
      },
    };
  }

  /** One stored weight as float32 (to quantize it). */
  private readFloat32(name: string): Float32Array {
    const t = this.folder.tensors.get(name);
    if (!t) throw new UserError(`${this.folder.dir}: missing weight ${name}`);
    return toFloat32(readTensorBytes(t.info, t.file), t.info.dtype);
  }

  /** Whether graphs embed their weights (see EngineOptions.weights). */
  private usesInlineWeights(): boolean {
    const mode = this.options.weights ?? 'auto';
    return mode === 'inline' || (mode === 'auto' && !this.canLinkWeights() && this.folder.float32Bytes <= INLINE_LIMIT);
  }

  /** Live sessions kept (sessionCacheSize, default 1: each holds its own copy of the weights). */
  private sessionLimit(): number {
    return Math.max(1, this.options.sessionCacheSize ?? 1);
  }

  /** What running this model will take at peak (the weights per live session, and the rest). */
  get memory(): MemoryEstimate {
    return estimateMemory(this.folder, { sessions: this.sessionLimit(), inline: this.usesInlineWeights(), ...(this.options.quantize ? { quantize: this.options.quantize } : {}) });
  }

  /** Whether the weight files can be hard-linked into the cache (same file system, writable cache). */
  private canLinkWeights(): boolean {
    if (this.linkable === undefined) {
      try {
        const probe = join(this.cacheRoot(), `.link-probe-${process.pid}`);
        mkdirSync(this.cacheRoot(), { recursive: true });
        rmSync(probe, { force: true });
        linkSync(this.folder.weightFiles[0]!, probe);
        rmSync(probe, { force: true });
        this.linkable = true;
      } catch {
        this.linkable = false;
      }
    }
    return this.linkable;
  }

  private cacheRoot(): string {
    return join(process.env.PERSONA_PROBE_CACHE ?? join(homedir(), '.cache', 'persona-probe'), 'engine');
  }

  private pruneCache(): void {
    if (prunedCaches.has(this.cacheRoot())) return;
    prunedCaches.add(this.cacheRoot());
    pruneEngineCache(this.cacheRoot());
  }

  /** Cache folder for external-data graphs: links (or copies) of the weights, keyed by their identity. */
  private externalDataDir(): string {
    this.pruneCache();
    const files = this.folder.weightFiles.map((f) => {
      const st = statSync(f);
      return [f, st.size, st.mtimeMs, st.ino];
    });
    const dir = join(this.cacheRoot(), sha256(JSON.stringify(files)).slice(0, 16));
    mkdirSync(dir, { recursive: true });
    this.folder.weightFiles.forEach((file, i) => {
      const target = join(dir, `weights-${i}.safetensors`);
      if (existsSync(target) && statSync(target).size === statSync(file).size) return;
      rmSync(target, { force: true });
      try {
        linkSync(file, target);
      } catch {
        process.stderr.write(`persona-probe: copying ${file} into ${dir} (no hard link across file systems; done once)\n`);
        copyFileSync(file, target, fsConstants.COPYFILE_FICLONE);
        writeFileSync(join(dir, COPIED_MARKER), `${file}\n`);
      }
    });
    return dir;
  }

  /** Check hook names and interventions against this model (one-line errors). */
  resolveHooks(spec: string | string[]): string[] {
    return resolveHooks(spec, this.spec.layers);
  }

  checkInterventions(list: Intervention[]): void {
    checkInterventions(list, this.spec.layers, this.spec.dModel, 'interventions', this.spec.ffn);
  }

  /** One forward pass over `ids` (appended to `past` when given). */
  async forward(ids: number[], options: ForwardOptions = {}): Promise<ForwardResult> {
    const spec = this.spec;
    const T = ids.length;
    if (T === 0) throw new UserError('nothing to run: zero tokens');
    const P = options.past?.length ?? 0;
    const S = P + T;
    const C = Math.max(1, options.past?.capacity ?? 1);
    const rope = spec.ropeScaling;
    if (rope.kind === 'longrope' && S > rope.originalMaxPositions) {
      throw new UserError(`${S} tokens: past original_max_position_embeddings (${rope.originalMaxPositions}) transformers rotates the whole sequence with LongRoPE's long factors; the engine implements the short ones, for contexts up to ${rope.originalMaxPositions} tokens`);
    }
    for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= spec.vocab) throw new UserError(`token id ${id} is outside the vocabulary (0-${spec.vocab - 1})`);
    const hooks = options.hooks ?? [];
    const interventions = options.interventions ?? [];
    // Every layout has the KV cache inputs and outputs, so a trace and a generation
    // share one session; presents are fetched only when kept.
    const kvCache = Boolean(options.keepCache || (options.past && !options.packing));
    const session = await this.session({ hooks, interventions: interventions.map((i) => ({ hook: i.hook, op: i.op })), kvCache: true });

    const packing = options.packing;
    if (packing && (packing.seqs.length !== T || packing.positions.length !== T)) throw new RangeError(`packing: ${packing.seqs.length} sequence ids and ${packing.positions.length} positions for ${T} tokens`);
    // Packed sequences start from no cache, or all continue one shared past (an inventory's prompt prefix); decodeRows continues each in its own row.
    if (packing && options.past && options.keepCache) throw new RangeError('packing: packed sequences over a shared past cannot keep the cache (decodeRows continues sequences in rows of their own)');
    if (packing && packing.positions.some((p) => p < P)) throw new RangeError(`packing: positions start after the shared past (${P} tokens)`);
    const furthest = packing ? packing.positions.reduce((a, b) => Math.max(a, b), 0) : 0;
    if (packing && rope.kind === 'longrope' && furthest >= rope.originalMaxPositions) throw new UserError(`position ${furthest}: past original_max_position_embeddings (${rope.originalMaxPositions})`);
    const W = spec.slidingWindow;
    const { bias, windowBias } = packing ? packedBias(packing, C, W, P) : sequenceBias(T, P, C, W);
    const rows = packing ? [...(packing.logitRows ?? lastOfEach(packing.seqs))] : options.logits === 'all' ? Array.from({ length: T }, (_, i) => i) : [T - 1];
    const positions = packing ? packing.positions : Array.from({ length: T }, (_, i) => P + i);
    const feeds: Record<string, ort.Tensor> = {
      [GRAPH_INPUTS.embeds]: this.embedRows(ids),
      ...this.ropeInputs(positions),
      [GRAPH_INPUTS.bias]: new ort.Tensor('float32', bias, [1, T, C + T]),
      ...(windowBias ? { [GRAPH_INPUTS.windowBias]: new ort.Tensor('float32', windowBias, [1, T, C + T]) } : {}),
      [GRAPH_INPUTS.logitIndex]: new ort.Tensor('int64', BigInt64Array.from(rows, BigInt), [rows.length]),
    };
    const emptySlot = new Float32Array(spec.kvHeads * spec.headDim);
    for (let l = 0; l < spec.layers; l++) {
      feeds[pastKey(l)] = new ort.Tensor('float32', options.past?.keys[l] ?? emptySlot, [1, spec.kvHeads, spec.headDim, C]);
      feeds[pastValue(l)] = new ort.Tensor('float32', options.past?.values[l] ?? emptySlot, [1, spec.kvHeads, C, spec.headDim]);
    }
    const scope = options.scope ?? 'prompt';
    Object.assign(feeds, interventionFeeds(interventions, packing?.scopes ?? new Array<TokenScope>(T).fill(scope), spec));
    const fetches = ['logits', ...hooks];
    if (kvCache) for (let l = 0; l < spec.layers; l++) fetches.push(newKey(l), newValue(l));
    const out = await session.run(feeds, fetches);
    const result: ForwardResult = {
      logits: out.logits!.data as Float32Array,
      rows: rows.length,
      hooks: new Map(hooks.map((h) => [h, out[h]!.data as Float32Array])),
    };
    if (kvCache) {
      const cache = options.past ?? { keys: [], values: [], length: 0, capacity: 0 };
      appendToCache(cache, spec.layers, spec.kvHeads, spec.headDim, T, (l) => [out[newKey(l)]!.data as Float32Array, out[newValue(l)]!.data as Float32Array]);
      result.cache = cache;
    }
    return result;
  }

  /** Log-probabilities of the next token after `ids`. */
  async nextTokenLogProbs(ids: number[], interventions: Intervention[] = []): Promise<Float32Array> {
    const r = await this.forward(ids, { interventions });
    return logSoftmax(r.logits);
  }

  /** Decode from a prompt with a KV cache: greedy, or seeded temperature/top-p sampling. */
  async generate(promptIds: number[], options: GenerateOptions = {}): Promise<GenerateResult> {
    const maxTokens = options.maxTokens ?? 256;
    const temperature = options.temperature ?? 0;
    const rng = createRng(options.seed ?? 0);
    const hooks = options.hooks ?? [];
    const common = { hooks, interventions: options.interventions ?? [], keepCache: true };
    let r = await this.forward(promptIds, { ...common, scope: 'prompt' });
    options.onHooks?.(r.hooks, 'prompt', promptIds.length);
    const tokens: number[] = [];
    let finishReason: GenerateResult['finishReason'] = 'length';
    while (tokens.length < maxTokens) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
      const logits = r.logits.subarray(r.logits.length - this.spec.vocab);
      const next = pickToken(logits, temperature, options.topP ?? 1, rng);
      if (this.tokenizer.stopIds.has(next)) {
        finishReason = 'stop';
        break;
      }
      tokens.push(next);
      options.onToken?.(next, logits);
      if (options.stop?.length) {
        const text = this.tokenizer.decode(tokens);
        if (options.stop.some((s) => text.includes(s))) {
          finishReason = 'stop';
          break;
        }
      }
      if (tokens.length >= maxTokens) break;
      r = await this.forward([next], { ...common, past: r.cache, scope: 'generated' });
      options.onHooks?.(r.hooks, 'generated', 1);
    }
    let text = this.tokenizer.decode(tokens);
    if (options.stop?.length) for (const s of options.stop) if (text.includes(s)) text = text.slice(0, text.indexOf(s));
    return { tokens, text, finishReason, promptTokens: promptIds.length };
  }

  /**
   * Decode several prompts at once: the prompts prefilled packed (see Packing), then each step runs
   * one token of every unfinished sequence together, each against its own cache row (decodeRows),
   * so the weights are read once per step for all of them and no sequence attends to another's.
   * Each sequence samples with its own settings and seed, and its tokens are those generate()
   * gives it alone, to float rounding. `onHooks` gets each sequence's own rows; with `feedLast`,
   * a sequence that ran out of tokens also runs its last one, so every reply token has hook rows.
   */
  async generateBatch(prompts: readonly number[][], options: BatchGenerateOptions = {}): Promise<GenerateResult[]> {
    const n = prompts.length;
    if (n === 0) return [];
    const per = (b: number) => ({ ...options, ...(options.sequences?.[b] ?? {}) });
    const hooks = options.hooks ?? [];
    const interventions = options.interventions ?? [];
    const V = this.spec.vocab;
    const rngs = prompts.map((_, b) => createRng(per(b).seed ?? 0));
    const state = prompts.map(() => ({ tokens: [] as number[], finish: undefined as GenerateResult['finishReason'] | undefined }));
    const split = (r: ForwardResult, seqs: readonly number[], scope: TokenScope) => {
      if (!options.onHooks) return;
      for (const b of new Set(seqs)) {
        const idx = seqs.flatMap((s, i) => (s === b ? [i] : []));
        const rows = new Map([...r.hooks].map(([h, all]) => {
          const w = all.length / seqs.length;
          const out = new Float32Array(idx.length * w);
          idx.forEach((i, k) => out.set(all.subarray(i * w, (i + 1) * w), k * w));
          return [h, out];
        }));
        options.onHooks(b, rows, scope, idx.length);
      }
    };
    // Prefill: every prompt at once.
    const seqs = prompts.flatMap((p, b) => p.map(() => b));
    const prefill: Packing = { seqs, positions: prompts.flatMap((p) => p.map((_, i) => i)), scopes: seqs.map(() => 'prompt') };
    const r = await this.forward(prompts.flat(), { hooks, interventions, keepCache: true, packing: prefill });
    split(r, seqs, 'prompt');
    // Each live sequence's next-token logits (the prefill gives them in sequence order).
    let logitsOf = new Map(prompts.map((_, b) => [b, r.logits.subarray(b * V, (b + 1) * V)]));
    // Then each step decodes one token of every sequence still going, each in its own cache row.
    let rows: RowCache | undefined;
    let rowSeqs: number[] = [];
    let live = prompts.map((_, b) => b);
    while (live.length) {
      const feed: number[] = [];
      live.forEach((b) => {
        const o = per(b);
        const s = state[b]!;
        if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
        // A sequence whose own request was abandoned stops; the others go on (its caller rejects it).
        if (options.sequences?.[b]?.signal?.aborted) {
          s.finish = 'stop';
          return;
        }
        if (s.tokens.length >= (o.maxTokens ?? 256)) {
          s.finish = 'length';
          return;
        }
        const logits = logitsOf.get(b)!;
        const next = pickToken(logits, o.temperature ?? 0, o.topP ?? 1, rngs[b]!);
        if (this.tokenizer.stopIds.has(next)) {
          s.finish = 'stop';
          return;
        }
        s.tokens.push(next);
        options.onToken?.(b, next, logits);
        if (o.stop?.length && o.stop.some((x) => this.tokenizer.decode(s.tokens).includes(x))) s.finish = 'stop';
        else if (s.tokens.length >= (o.maxTokens ?? 256)) s.finish = 'length';
        if (!s.finish || options.feedLast) feed.push(b);
      });
      const going = feed.filter((b) => !state[b]!.finish);
      if (!feed.length) break;
      rows = rows ? keepRows(rows, feed.map((b) => rowSeqs.indexOf(b)), this.spec) : rowsFromPacked(r.cache!, prefill, feed, this.spec, CACHE_HEADROOM);
      rowSeqs = feed;
      const out = await this.decodeRows(feed.map((b) => state[b]!.tokens.at(-1)!), feed.map((b) => prompts[b]!.length + state[b]!.tokens.length - 1), rows, { hooks, interventions, scope: 'generated' });
      split(out, feed, 'generated');
      logitsOf = new Map(feed.map((b, i) => [b, out.logits.subarray(i * V, (i + 1) * V)]));
      live = going;
    }
    return prompts.map((p, b) => {
      const s = state[b]!;
      let text = this.tokenizer.decode(s.tokens);
      const stop = per(b).stop;
      if (stop?.length) for (const x of stop) if (text.includes(x)) text = text.slice(0, text.indexOf(x));
      return { tokens: s.tokens, text, finishReason: s.finish ?? 'length', promptTokens: p.length };
    });
  }

  /** The tokens' embedding rows, read from the weight file (the graph's first input). */
  private embedRows(ids: readonly number[]): ort.Tensor {
    const t = this.folder.tensors.get('model.embed_tokens.weight')!;
    return new ort.Tensor('float32', readRows(t.info, t.file, ids), [ids.length, this.spec.dModel]);
  }

  /** The rotary inputs for tokens at these positions: the global frequencies, and Gemma 3's local ones. */
  private ropeInputs(positions: readonly number[]): Record<string, ort.Tensor> {
    const spec = this.spec;
    const half = spec.headDim / 2;
    return {
      ...ropeFeeds(this.invFreq, positions, half, GRAPH_INPUTS.cos, GRAPH_INPUTS.sin, ropeAttentionScale(spec.ropeScaling)),
      ...(this.invFreqLocal ? ropeFeeds(this.invFreqLocal, positions, half, GRAPH_INPUTS.cosLocal, GRAPH_INPUTS.sinLocal, ropeAttentionScale(spec.localRope!.scaling)) : {}),
    };
  }

  /**
   * One decode step of several sequences, each in its own row of a RowCache: row r runs token
   * tokens[r] at positions[r] against its own cache (no other sequence's slots are attended), and
   * its keys and values are appended to its row. Hooks come back [rows, width]; logits [rows, vocab].
   */
  async decodeRows(tokens: readonly number[], positions: readonly number[], cache: RowCache, options: { hooks?: string[]; interventions?: Intervention[]; scope?: TokenScope } = {}): Promise<ForwardResult> {
    const spec = this.spec;
    const R = tokens.length;
    if (R !== cache.lengths.length || R !== positions.length) throw new RangeError(`decodeRows: ${R} tokens, ${positions.length} positions and ${cache.lengths.length} cache rows`);
    for (const id of tokens) if (!Number.isInteger(id) || id < 0 || id >= spec.vocab) throw new UserError(`token id ${id} is outside the vocabulary (0-${spec.vocab - 1})`);
    growRows(cache, spec, Math.max(...cache.lengths) + 1);
    const C = cache.capacity;
    const hooks = options.hooks ?? [];
    const interventions = options.interventions ?? [];
    const session = await this.session({ hooks, interventions: interventions.map((i) => ({ hook: i.hook, op: i.op })), kvCache: true });
    const W = spec.slidingWindow;
    // Row r: its filled slots (slot j holds its position j), then its new token.
    const bias = new Float32Array(R * (C + 1)).fill(-Infinity);
    const windowBias = W === undefined ? undefined : new Float32Array(R * (C + 1)).fill(-Infinity);
    for (let r = 0; r < R; r++) {
      const row = r * (C + 1);
      const n = cache.lengths[r]!;
      bias.fill(0, row, row + n);
      bias[row + C] = 0;
      if (windowBias) {
        windowBias.fill(0, row + Math.max(0, positions[r]! - W! + 1), row + n);
        windowBias[row + C] = 0;
      }
    }
    const feeds: Record<string, ort.Tensor> = {
      [GRAPH_INPUTS.embeds]: this.embedRows(tokens),
      ...this.ropeInputs(positions),
      [GRAPH_INPUTS.bias]: new ort.Tensor('float32', bias, [R, 1, C + 1]),
      ...(windowBias ? { [GRAPH_INPUTS.windowBias]: new ort.Tensor('float32', windowBias, [R, 1, C + 1]) } : {}),
      [GRAPH_INPUTS.logitIndex]: new ort.Tensor('int64', BigInt64Array.from({ length: R }, (_, r) => BigInt(r)), [R]),
      ...interventionFeeds(interventions, new Array<TokenScope>(R).fill(options.scope ?? 'generated'), spec),
    };
    for (let l = 0; l < spec.layers; l++) {
      feeds[pastKey(l)] = new ort.Tensor('float32', cache.keys[l]!, [R, spec.kvHeads, spec.headDim, C]);
      feeds[pastValue(l)] = new ort.Tensor('float32', cache.values[l]!, [R, spec.kvHeads, C, spec.headDim]);
    }
    const fetches = ['logits', ...hooks];
    for (let l = 0; l < spec.layers; l++) fetches.push(newKey(l), newValue(l));
    const out = await session.run(feeds, fetches);
    // Append row r's key and value at its next slot.
    const { kvHeads: KV, headDim: hd } = spec;
    for (let l = 0; l < spec.layers; l++) {
      const k = out[newKey(l)]!.data as Float32Array;
      const v = out[newValue(l)]!.data as Float32Array;
      const K = cache.keys[l]!;
      const V = cache.values[l]!;
      for (let r = 0; r < R; r++) {
        const slot = cache.lengths[r]!;
        for (let h = 0; h < KV; h++) {
          const base = (r * KV + h) * hd;
          for (let e = 0; e < hd; e++) K[(base + e) * C + slot] = k[base + e]!;
          V.set(v.subarray(base, base + hd), ((r * KV + h) * C + slot) * hd);
        }
      }
    }
    for (let r = 0; r < R; r++) cache.lengths[r]!++;
    return { logits: out.logits!.data as Float32Array, rows: R, hooks: new Map(hooks.map((h) => [h, out[h]!.data as Float32Array])) };
  }

  /** Token ids for chat messages (template applied, assistant turn opened) or plain text (as is). */
  promptIds(input: { text: string } | { messages: ChatMessage[] } | { ids: number[] }): number[] {
    if ('ids' in input) return input.ids;
    if ('messages' in input) return this.tokenizer.chatIds(input.messages);
    return this.tokenizer.encode(input.text);
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()].map((live) => live.session);
    this.sessions.clear();
    for (const s of all) await s.then((x) => x.release()).catch(() => undefined);
  }
}

/**
 * Decode attends over the whole buffer (unused slots are masked, not skipped), so the
 * buffer is kept close to what is filled: a prompt gets CACHE_HEADROOM slots past its end,
 * and a full buffer grows by an eighth (at least CACHE_HEADROOM slots). The copy on growth
 * is amortized over the slots it adds; doubling instead left up to half the attention
 * reading empty slots (decode at context 2,048 ran over 4,096).
 */
const CACHE_HEADROOM = 64;

/**
 * Append T new tokens to every layer's buffers, growing capacity when full (see CACHE_HEADROOM).
 * Keys: [kv, hd, cap] (each of kv*hd rows gets T values at `length`); values:
 * [kv, cap, hd] (each head gets T rows of hd).
 */
function appendToCache(cache: KvCache, layers: number, kvHeads: number, hd: number, T: number, rows: (l: number) => [Float32Array, Float32Array]): void {
  const P = cache.length;
  const needed = P + T;
  if (needed > cache.capacity) {
    const old = cache.capacity;
    const capacity = old === 0 ? needed + CACHE_HEADROOM : Math.max(needed + CACHE_HEADROOM, old + Math.max(CACHE_HEADROOM, Math.ceil(old / 8)));
    for (let l = 0; l < layers; l++) {
      const k = new Float32Array(kvHeads * hd * capacity);
      const v = new Float32Array(kvHeads * capacity * hd);
      const oldK = cache.keys[l];
      const oldV = cache.values[l];
      if (oldK && oldV) {
        for (let r = 0; r < kvHeads * hd; r++) k.set(oldK.subarray(r * old, r * old + P), r * capacity);
        for (let h = 0; h < kvHeads; h++) v.set(oldV.subarray(h * old * hd, (h * old + P) * hd), h * capacity * hd);
      }
      cache.keys[l] = k;
      cache.values[l] = v;
    }
    cache.capacity = capacity;
  }
  const cap = cache.capacity;
  for (let l = 0; l < layers; l++) {
    const [k, v] = rows(l);
    const K = cache.keys[l]!;
    const Vb = cache.values[l]!;
    for (let r = 0; r < kvHeads * hd; r++) K.set(k.subarray(r * T, (r + 1) * T), r * cap + P);
    for (let h = 0; h < kvHeads; h++) Vb.set(v.subarray(h * T * hd, (h + 1) * T * hd), (h * cap + P) * hd);
  }
  cache.length = needed;
}

/** The rotary cos/sin inputs for tokens at the given positions, of one set of frequencies (the global one, or Gemma 3's local one). */
function ropeFeeds(invFreq: Float64Array, positions: readonly number[], half: number, cosName: string, sinName: string, scale: number): Record<string, ort.Tensor> {
  const { cos, sin } = ropeTablesAt(invFreq, positions, scale);
  const T = positions.length;
  return { [cosName]: new ort.Tensor('float32', cos, [T, half]), [sinName]: new ort.Tensor('float32', sin, [T, half]) };
}

/**
 * One sequence's additive masks: columns are C cache slots (the first P hold tokens), then the T
 * new tokens (causal); sliding layers also mask keys at positions <= P + i - W.
 */
function sequenceBias(T: number, P: number, C: number, W: number | undefined): { bias: Float32Array; windowBias?: Float32Array } {
  const bias = new Float32Array(T * (C + T));
  for (let i = 0; i < T; i++) {
    const row = i * (C + T);
    bias.fill(-Infinity, row + P, row + C);
    bias.fill(-Infinity, row + C + i + 1, row + C + T);
  }
  if (W === undefined) return { bias };
  const windowBias = bias.slice();
  for (let i = 0; i < T; i++) {
    const row = i * (C + T);
    const oldest = P + i - W + 1; // the first absolute position still in the window
    if (oldest > 0) windowBias.fill(-Infinity, row, row + Math.min(P, oldest));
    if (oldest > P) windowBias.fill(-Infinity, row + C, row + C + Math.min(T, oldest - P));
  }
  return { bias, windowBias };
}

/**
 * Packed sequences' masks: a token sees the tokens of its own sequence at its position or before,
 * and the first P cache slots, a past every sequence shares (slot j at position j); on sliding
 * layers, only those within the window. Slots past P stay masked.
 */
function packedBias(packing: Packing, C: number, W: number | undefined, P = 0): { bias: Float32Array; windowBias?: Float32Array } {
  const T = packing.seqs.length;
  const bias = new Float32Array(T * (C + T)).fill(-Infinity);
  const windowBias = W === undefined ? undefined : new Float32Array(T * (C + T)).fill(-Infinity);
  for (let i = 0; i < T; i++) {
    const row = i * (C + T);
    const s = packing.seqs[i]!;
    const p = packing.positions[i]!;
    const see = (col: number, seq: number, pos: number) => {
      if (seq !== s || pos > p) return;
      bias[row + col] = 0;
      if (windowBias && pos > p - W!) windowBias[row + col] = 0;
    };
    for (let j = 0; j < P; j++) see(j, s, j);
    for (let k = 0; k <= i; k++) see(C + k, packing.seqs[k]!, packing.positions[k]!);
  }
  return { bias, ...(windowBias ? { windowBias } : {}) };
}

/** The interventions' inputs for T tokens, each in its scope (prompt or generated). */
function interventionFeeds(interventions: readonly Intervention[], scopes: readonly TokenScope[], spec: ArchSpec): Record<string, ort.Tensor> {
  const T = scopes.length;
  const feeds: Record<string, ort.Tensor> = {};
  interventions.forEach((iv, i) => {
    const activeAt = (t: number) => iv.positions === 'all' || iv.positions === scopes[t];
    // add and neurons are switched on per token by a 0/1 gate; cap by its bounds.
    if (iv.op !== 'cap') feeds[ivInput(i, 'gate')] = new ort.Tensor('float32', Float32Array.from({ length: T }, (_, t) => (activeAt(t) ? 1 : 0)), [T, 1]);
    if (iv.op === 'add') {
      feeds[ivInput(i, 'vector')] = new ort.Tensor('float32', iv.vector.map((x) => x * iv.coef), [spec.dModel]);
    } else if (iv.op === 'neurons') {
      feeds[ivInput(i, 'value')] = new ort.Tensor('float32', iv.vector, [spec.ffn]);
      feeds[ivInput(i, 'replace')] = new ort.Tensor('float32', iv.keep!.map((k) => 1 - k), [spec.ffn]);
    } else {
      const n = norm(iv.vector);
      feeds[ivInput(i, 'unit')] = new ort.Tensor('float32', iv.vector.map((x) => x / n), [spec.dModel, 1]);
      feeds[ivInput(i, 'min')] = new ort.Tensor('float32', Float32Array.from({ length: T }, (_, t) => (activeAt(t) ? iv.min : -Infinity)), [T, 1]);
      feeds[ivInput(i, 'max')] = new ort.Tensor('float32', Float32Array.from({ length: T }, (_, t) => (activeAt(t) ? iv.max : Infinity)), [T, 1]);
    }
  });
  return feeds;
}

/** Room for `needed` slots in every row (growing by an eighth, at least CACHE_HEADROOM, as appendToCache does). */
function growRows(cache: RowCache, spec: ArchSpec, needed: number): void {
  if (needed <= cache.capacity) return;
  const old = cache.capacity;
  const capacity = Math.max(needed + CACHE_HEADROOM, old + Math.max(CACHE_HEADROOM, Math.ceil(old / 8)));
  const R = cache.lengths.length;
  const { kvHeads: KV, headDim: hd } = spec;
  for (let l = 0; l < spec.layers; l++) {
    const k = new Float32Array(R * KV * hd * capacity);
    const v = new Float32Array(R * KV * capacity * hd);
    const oldK = cache.keys[l]!;
    const oldV = cache.values[l]!;
    for (let r = 0; r < R * KV * hd; r++) k.set(oldK.subarray(r * old, r * old + old), r * capacity);
    for (let r = 0; r < R * KV; r++) v.set(oldV.subarray(r * old * hd, (r + 1) * old * hd), r * capacity * hd);
    cache.keys[l] = k;
    cache.values[l] = v;
  }
  cache.capacity = capacity;
}

/**
 * A RowCache of the given sequences of a packed prefill (row r = sequence seqs[r]; slot j of the
 * packed cache is the packing's token j), with room for `extra` more slots each.
 */
function rowsFromPacked(packed: KvCache, packing: Pick<Packing, 'seqs' | 'positions'>, seqs: readonly number[], spec: ArchSpec, extra: number): RowCache {
  const { kvHeads: KV, headDim: hd } = spec;
  const lengths = seqs.map((s) => packing.seqs.filter((x) => x === s).length);
  const capacity = Math.max(...lengths) + extra;
  const P = packed.capacity;
  const cache: RowCache = { keys: [], values: [], lengths, capacity };
  for (let l = 0; l < spec.layers; l++) {
    const k = new Float32Array(seqs.length * KV * hd * capacity);
    const v = new Float32Array(seqs.length * KV * capacity * hd);
    const pk = packed.keys[l]!;
    const pv = packed.values[l]!;
    seqs.forEach((s, r) => {
      for (let j = 0; j < packed.length; j++) {
        if (packing.seqs[j] !== s) continue;
        const pos = packing.positions[j]!;
        for (let h = 0; h < KV; h++) {
          for (let e = 0; e < hd; e++) k[((r * KV + h) * hd + e) * capacity + pos] = pk[(h * hd + e) * P + j]!;
          v.set(pv.subarray((h * P + j) * hd, (h * P + j + 1) * hd), ((r * KV + h) * capacity + pos) * hd);
        }
      }
    });
    cache.keys.push(k);
    cache.values.push(v);
  }
  return cache;
}

/** The rows of a RowCache to keep, in order (sequences that finished leave it). */
function keepRows(cache: RowCache, rows: readonly number[], spec: ArchSpec): RowCache {
  if (rows.length === cache.lengths.length && rows.every((r, i) => r === i)) return cache;
  const { kvHeads: KV, headDim: hd } = spec;
  const C = cache.capacity;
  const per = KV * hd * C;
  const out: RowCache = { keys: [], values: [], lengths: rows.map((r) => cache.lengths[r]!), capacity: C };
  for (let l = 0; l < spec.layers; l++) {
    const k = new Float32Array(rows.length * per);
    const v = new Float32Array(rows.length * per);
    rows.forEach((r, i) => {
      k.set(cache.keys[l]!.subarray(r * per, (r + 1) * per), i * per);
      v.set(cache.values[l]!.subarray(r * per, (r + 1) * per), i * per);
    });
    out.keys.push(k);
    out.values.push(v);
  }
  return out;
}

/** The index of each sequence's last token in a packing. */
function lastOfEach(seqs: readonly number[]): number[] {
  const last = new Map<number, number>();
  seqs.forEach((s, i) => last.set(s, i));
  return [...last.values()].sort((a, b) => a - b);
}

/**
 * Drop the cache folders whose model is gone: their weights were hard links, and a link that is
 * the file's only name keeps a deleted model's bytes on disk (temporary models made thousands).
 * Copies (another file system) carry a COPIED marker and are kept. Returns how many were removed.
 */
export function pruneEngineCache(root: string): number {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of entries) {
    const dir = join(root, name);
    try {
      const files = readdirSync(dir);
      if (files.includes(COPIED_MARKER)) continue;
      const weights = files.filter((f) => /^weights-\d+\.safetensors$/.test(f));
      if (weights.length && weights.every((f) => statSync(join(dir, f)).nlink === 1)) {
        rmSync(dir, { recursive: true, force: true });
        removed++;
      }
    } catch {
      // Another process may be pruning or writing it: leave it.
    }
  }
  return removed;
}

/**
 * Whether a graph built for `big` can serve `small`: the same interventions and cache outputs,
 * every hook `small` fetches, and at most two extra hooks per layer (unfetched outputs still
 * hold memory for the whole run, T x d each).
 */
function covers(big: GraphLayout, small: GraphLayout, layers: number): boolean {
  if (big.kvCache !== small.kvCache) return false;
  if (JSON.stringify(big.interventions) !== JSON.stringify(small.interventions)) return false;
  if (big.hooks.length - small.hooks.length > 2 * layers) return false;
  const hooks = new Set(big.hooks);
  return small.hooks.every((h) => hooks.has(h));
}

/** Cache roots already pruned by this process. */
const prunedCaches = new Set<string>();
/** Marks a cache folder whose weights are copies, not links (kept by pruning). */
const COPIED_MARKER = 'COPIED';

export function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  const lse = max + Math.log(sum);
  return logits.map((x) => x - lse);
}

/**
 * The listed tokens' probabilities renormalised among themselves, from logits or
 * log-probabilities alike; undefined when none of them is finite (no mass on them).
 */
export function optionDistribution(scores: Float32Array, ids: readonly number[]): number[] | undefined {
  let max = -Infinity;
  for (const id of ids) max = Math.max(max, scores[id]!);
  if (!Number.isFinite(max)) return undefined;
  const p = ids.map((id) => Math.exp(scores[id]! - max));
  const mass = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / mass);
}

/** Greedy at temperature 0; otherwise softmax(logits / T) restricted to the top-p nucleus. */
/** pickToken's scratch weights. */
let weightsBuffer = new Float64Array(0);

export function pickToken(logits: Float32Array, temperature: number, topP: number, rng: Rng): number {
  if (!(temperature > 0)) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  // One buffer reused across calls (a fresh 400 kB array per token showed in batched decoding).
  if (weightsBuffer.length < logits.length) weightsBuffer = new Float64Array(logits.length);
  const p = weightsBuffer.subarray(0, logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp((logits[i]! - max) / temperature);
  if (topP >= 1) {
    // The nucleus is the whole vocabulary: sample without sorting (a sort per token costs more than the forward pass of a small model).
    let u = rng.next() * sum;
    for (let i = 0; i < p.length; i++) {
      u -= p[i]!;
      if (u <= 0) return i;
    }
    return p.length - 1;
  }
  const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]!);
  let kept = 0;
  let n = 0;
  while (n < order.length && (n === 0 || kept / sum < topP)) kept += p[order[n++]!]!;
  let u = rng.next() * kept;
  for (let i = 0; i < n; i++) {
    u -= p[order[i]!]!;
    if (u <= 0) return order[i]!;
  }
  return order[n - 1]!;
}
