// In-process GGUF models through node-llama-cpp: chat generation and exact
// next-token probabilities over answer options.

import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token, ChatHistoryItem, ChatWrapper } from 'node-llama-cpp';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { weightsFingerprint } from '../util/fingerprint.js';
import { UserError } from '../util/errors.js';
import { BackendError, normaliseOptionProbs, type Backend, type ChatMessage, type ChatRequest, type ChatResult, type OptionProbsRequest, type OptionProbsResult } from './types.js';

export interface LlamaCppBackendConfig {
  /** A local .gguf path, or an `hf:` URI / URL resolved (and downloaded once) by node-llama-cpp. */
  model: string;
  /** Where downloaded models are cached. */
  cacheDir?: string;
  contextSize?: number;
  threads?: number;
  /**
   * Keep the KV cache of the previous call and evaluate only what differs (default true): an
   * inventory's items share the chat template and persona prompt, computed once per persona.
   */
  prefixReuse?: boolean;
}

let llamaPromise: Promise<Llama> | undefined;
async function sharedLlama(): Promise<Llama> {
  if (!llamaPromise) {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    // CPU only and no source builds: the prebuilt binary is used as shipped.
    llamaPromise = getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  }
  return llamaPromise;
}

export function isRemoteModelRef(ref: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/.test(ref);
}

export async function resolveGgufPath(ref: string, cacheDir?: string, download: 'auto' | false = 'auto'): Promise<string> {
  if (!isRemoteModelRef(ref)) {
    if (!existsSync(ref)) throw new UserError(`llamacpp: model file not found: ${ref}`);
    return ref;
  }
  const { resolveModelFile } = await import('node-llama-cpp');
  // A download says how far it is, a line every 10 seconds (stderr), instead of minutes of silence.
  let last = Date.now();
  const onProgress = ({ totalSize, downloadedSize }: { totalSize: number; downloadedSize: number }) => {
    if (Date.now() - last < 10_000) return;
    last = Date.now();
    process.stderr.write(`persona-probe: downloading ${ref}: ${(downloadedSize / 1e6).toFixed(0)} of ${(totalSize / 1e6).toFixed(0)} MB\n`);
  };
  return resolveModelFile(ref, { directory: cacheDir, download, cli: false, onProgress });
}

/** A mutex, because one context sequence serves one evaluation at a time. */
class Lock {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}

export class LlamaCppBackend implements Backend {
  readonly kind = 'llamacpp';
  readonly simulated = false;
  readonly capabilities = { optionProbs: true };
  readonly id: string;
  private loaded?: Promise<{ model: LlamaModel; context: LlamaContext; wrapper: ChatWrapper }>;
  private readonly lock = new Lock();
  /** The context's one sequence, kept between calls so a shared prefix is not evaluated again. */
  private sequence?: LlamaContextSequence;
  /** Tokens evaluated and tokens served from the kept cache, over this backend's life. */
  readonly prefix = { evaluated: 0, reused: 0 };

  /** The CPU threads this backend runs with. */
  readonly threads: number;

  /** For a local file, a content fingerprint of it (part of the id): a file rebuilt at the same path is a new model. */
  readonly weights?: string;

  constructor(private readonly config: LlamaCppBackendConfig) {
    this.weights = isRemoteModelRef(config.model) ? undefined : weightsFingerprint([config.model]);
    this.id = `llamacpp:${config.model}${this.weights ? `#w${this.weights}` : ''}`;
    this.threads = config.threads ?? availableParallelism();
  }

  private load(): Promise<{ model: LlamaModel; context: LlamaContext; wrapper: ChatWrapper }> {
    this.loaded ??= (async () => {
      const path = await resolveGgufPath(this.config.model, this.config.cacheDir);
      const llama = await sharedLlama();
      const { resolveChatWrapper } = await import('node-llama-cpp');
      let model: LlamaModel;
      try {
        model = await llama.loadModel({ modelPath: path });
      } catch (err) {
        throw new UserError(`llamacpp: cannot load ${path}: ${(err as Error).message}`);
      }
      // The machine's parallelism unless told otherwise: node-llama-cpp's own default ran 4 threads on
      // 2 cores, 5-9x slower per inventory item than the engine on the same weights (measured).
      const context = await model.createContext({ contextSize: this.config.contextSize ?? 2048, sequences: 1, threads: this.threads });
      const wrapper = resolveChatWrapper(model);
      return { model, context, wrapper };
    })();
    return this.loaded;
  }

  /** A remote model not yet downloaded needs its host: say so in seconds when it cannot be reached, not after minutes of silence. */
  async preflight(): Promise<void> {
    if (!isRemoteModelRef(this.config.model)) return;
    const cached = await resolveGgufPath(this.config.model, this.config.cacheDir, false).then((p) => existsSync(p), () => false);
    if (cached) return;
    const host = /^(?:hf:|huggingface:)/.test(this.config.model) ? 'huggingface.co' : new URL(this.config.model).host;
    const { reachable } = await import('../util/network.js');
    if (!(await reachable(host, 5000))) throw new BackendError(`llamacpp: ${this.config.model} is not downloaded yet and ${host} cannot be reached (no network?); download it on a connected machine into the models folder, or use a local .gguf`, false);
  }

  /** Tokens of the chat formatted by the model's own template, ending with the assistant's turn opened. */
  async promptTokens(messages: ChatMessage[]): Promise<Token[]> {
    const { model, wrapper } = await this.load();
    const history: ChatHistoryItem[] = messages.map((m) => (m.role === 'assistant' ? { type: 'model', response: [m.content] } : { type: m.role, text: m.content }));
    if (messages.at(-1)?.role !== 'assistant') history.push({ type: 'model', response: [] });
    const { contextText } = wrapper.generateContextState({ chatHistory: history });
    return contextText.tokenize(model.tokenizer);
  }

  /**
   * The sequence holding `tokens`' longest prefix already in its cache, with the rest erased,
   * and the tokens still to evaluate (at least the last one, whose next-token distribution is wanted).
   */
  private async sequenceFor(context: LlamaContext, tokens: Token[]): Promise<{ sequence: LlamaContextSequence; rest: Token[] }> {
    const reuse = this.config.prefixReuse ?? true;
    if (!reuse || !this.sequence) {
      this.sequence?.dispose();
      this.sequence = context.getSequence();
    }
    const sequence = this.sequence;
    const have = sequence.contextTokens;
    let common = 0;
    if (reuse) while (common < have.length && common < tokens.length - 1 && have[common] === tokens[common]) common++;
    if (sequence.nextTokenIndex > common) await sequence.eraseContextTokenRanges([{ start: common, end: sequence.nextTokenIndex }]);
    this.prefix.reused += common;
    this.prefix.evaluated += tokens.length - common;
    return { sequence, rest: tokens.slice(common) };
  }

  async chat(request: ChatRequest): Promise<ChatResult> {
    const { model, context } = await this.load();
    const tokens = await this.promptTokens(request.messages);
    const s = request.sampling ?? {};
    const maxTokens = s.maxTokens ?? 256;
    return this.lock.run(async () => {
      const { sequence, rest } = await this.sequenceFor(context, tokens);
      const out: Token[] = [];
      let finishReason = 'length';
      for await (const token of sequence.evaluate(rest, { temperature: s.temperature ?? 0, topP: s.topP, seed: s.seed })) {
        if (model.isEogToken(token)) {
          finishReason = 'stop';
          break;
        }
        out.push(token);
        const text = model.detokenize(out);
        if (s.stop?.some((stop) => text.includes(stop))) {
          finishReason = 'stop';
          break;
        }
        if (out.length >= maxTokens) break;
      }
      return { text: model.detokenize(out), finishReason, usage: { inputTokens: tokens.length, outputTokens: out.length } };
    });
  }

  /** Softmax of the next-token logits after the prompt, read off for the first token of each option. */
  async nextTokenLogProbs(messages: ChatMessage[]): Promise<Float64Array> {
    const { context, model } = await this.load();
    const tokens = await this.promptTokens(messages);
    return this.lock.run(async () => {
      const { sequence, rest } = await this.sequenceFor(context, tokens);
      const input = rest.map((t, i) => (i === rest.length - 1 ? ([t, { generateNext: { probabilities: true } }] as const) : t));
      const results = await sequence.controlledEvaluate(input as Parameters<typeof sequence.controlledEvaluate>[0]);
      // With no sampling options these are the softmax of the raw logits.
      const probabilities = results.at(-1)?.next?.probabilities;
      if (!probabilities) throw new BackendError('llamacpp: no probabilities returned for the last prompt token', false);
      return logOf(probabilities, vocabSize(model));
    });
  }

  async optionProbs(request: OptionProbsRequest): Promise<OptionProbsResult> {
    const { model } = await this.load();
    const logProbs = await this.nextTokenLogProbs(request.messages);
    const firstToken = (o: string): Token => {
      const t = model.tokenize(o)[0];
      if (t === undefined) throw new BackendError(`llamacpp: option "${o}" tokenizes to nothing`, false);
      return t;
    };
    const res = normaliseOptionProbs(request.options, (o) => Math.exp(logProbs[firstToken(o)]!));
    return res;
  }

  async close(): Promise<void> {
    if (!this.loaded) return;
    const { model, context } = await this.loaded;
    this.sequence?.dispose();
    this.sequence = undefined;
    await context.dispose();
    await model.dispose();
  }
}

/** Dense log-probabilities from node-llama-cpp's sparse, sorted probability map. */
function logOf(probabilities: Map<Token, number>, vocabSize: number): Float64Array {
  let size = vocabSize;
  for (const k of probabilities.keys()) size = Math.max(size, (k as number) + 1);
  const out = new Float64Array(size).fill(-Infinity);
  for (const [k, v] of probabilities) out[k as number] = Math.log(v);
  return out;
}

function vocabSize(model: LlamaModel): number {
  const tokens = (model.fileInfo.metadata as unknown as { tokenizer?: { ggml?: { tokens?: readonly unknown[] } } }).tokenizer?.ggml?.tokens;
  return Array.isArray(tokens) ? tokens.length : 0;
}
