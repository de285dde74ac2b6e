import OpenAI from 'openai';
import { throwIfPreflightBlocks, toBackendError } from './http-errors.js';
import { BackendError, normaliseOptionProbs, type Backend, type ChatRequest, type ChatResult, type OptionProbsRequest, type OptionProbsResult } from './types.js';

export interface OpenAIBackendConfig {
  model: string;
  /** Without credentials (it becomes part of the backend id). */
  baseURL?: string;
  /** Credential query parameters taken out of the base URL, sent with every request and never recorded. */
  secretQuery?: Record<string, string>;
  /** The key itself (read from the environment by the caller); never recorded. */
  apiKey: string;
  timeoutMs?: number;
  /** Whether to ask for logprobs for option probabilities (servers that refuse: set false). */
  logprobs?: boolean;
  topLogprobs?: number;
}

/** Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama, llama.cpp server, LM Studio. */
export class OpenAIBackend implements Backend {
  readonly kind = 'openai';
  readonly simulated = false;
  readonly id: string;
  readonly capabilities: { optionProbs: boolean };
  private readonly client: OpenAI;

  constructor(private readonly config: OpenAIBackendConfig) {
    this.id = `openai:${config.model}${config.baseURL ? `@${config.baseURL}` : ''}`;
    this.capabilities = { optionProbs: config.logprobs !== false };
    // Retries are ours (recorded, with backoff), so the SDK's own are off.
    this.client = new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL, defaultQuery: config.secretQuery, maxRetries: 0, timeout: config.timeoutMs ?? 60_000 });
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.models.list({ signal, timeout: 15_000 });
    } catch (err) {
      throwIfPreflightBlocks(err, 'openai');
    }
  }

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
    const s = request.sampling ?? {};
    let res;
    try {
      res = await this.client.chat.completions.create(
        {
          model: this.config.model,
          messages: request.messages,
          temperature: s.temperature,
          top_p: s.topP,
          max_tokens: s.maxTokens,
          seed: s.seed,
          stop: s.stop,
        },
        { signal },
      );
    } catch (err) {
      throw toBackendError(err, 'openai');
    }
    const choice = res?.choices?.[0];
    const text = choice?.message?.content;
    if (typeof text !== 'string') throw new BackendError('openai: malformed response body (no choices[0].message.content)', true);
    return { text, finishReason: choice?.finish_reason ?? undefined, usage: { inputTokens: res.usage?.prompt_tokens, outputTokens: res.usage?.completion_tokens } };
  }

  async optionProbs(request: OptionProbsRequest, signal?: AbortSignal): Promise<OptionProbsResult> {
    let res;
    try {
      res = await this.client.chat.completions.create(
        { model: this.config.model, messages: request.messages, max_tokens: 1, temperature: 0, logprobs: true, top_logprobs: this.config.topLogprobs ?? 20 },
        { signal },
      );
    } catch (err) {
      throw toBackendError(err, 'openai');
    }
    const top = res?.choices?.[0]?.logprobs?.content?.[0]?.top_logprobs;
    if (!Array.isArray(top)) throw new BackendError('openai: the server returned no top_logprobs (set logprobs: false for this model to score by sampling)', false);
    const mass = new Map<string, number>();
    for (const t of top) {
      if (typeof t?.token !== 'string' || typeof t?.logprob !== 'number') throw new BackendError('openai: malformed top_logprobs entry', true);
      // A log-probability is finite and at most 0 (a little over 0 is float rounding).
      if (!Number.isFinite(t.logprob) || t.logprob > 1e-6) throw new BackendError(`openai: top_logprobs gives token ${JSON.stringify(t.token)} the log-probability ${t.logprob}, which no probability has`, true);
      const key = t.token.trim();
      mass.set(key, (mass.get(key) ?? 0) + Math.exp(t.logprob));
    }
    return { ...normaliseOptionProbs(request.options, (o) => mass.get(o.trim()) ?? 0), usage: { inputTokens: res.usage?.prompt_tokens, outputTokens: res.usage?.completion_tokens } };
  }
}
