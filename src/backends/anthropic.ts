import Anthropic from '@anthropic-ai/sdk';
import { throwIfPreflightBlocks, toBackendError } from './http-errors.js';
import { BackendError, type Backend, type ChatRequest, type ChatResult } from './types.js';

export interface AnthropicBackendConfig {
  model: string;
  apiKey: string;
  /** Without credentials (it becomes part of the backend id). */
  baseURL?: string;
  /** Credential query parameters taken out of the base URL, sent with every request and never recorded. */
  secretQuery?: Record<string, string>;
  timeoutMs?: number;
}

/** Anthropic's Messages API. No logprobs: inventories are scored by sampling. */
export class AnthropicBackend implements Backend {
  readonly kind = 'anthropic';
  readonly simulated = false;
  readonly capabilities = { optionProbs: false };
  readonly id: string;
  private readonly client: Anthropic;

  constructor(private readonly config: AnthropicBackendConfig) {
    this.id = `anthropic:${config.model}${config.baseURL ? `@${config.baseURL}` : ''}`;
    this.client = new Anthropic({ apiKey: config.apiKey, baseURL: config.baseURL, defaultQuery: config.secretQuery, maxRetries: 0, timeout: config.timeoutMs ?? 60_000 });
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.models.list({}, { signal, timeout: 15_000 });
    } catch (err) {
      throwIfPreflightBlocks(err, 'anthropic');
    }
  }

  async chat(request: ChatRequest, signal?: AbortSignal): Promise<ChatResult> {
    const s = request.sampling ?? {};
    const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const messages = request.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role as 'user' | 'assistant', content: m.content }));
    let res;
    try {
      const params: Anthropic.MessageCreateParamsNonStreaming = { model: this.config.model, max_tokens: s.maxTokens ?? 512, system: system || undefined, messages, stop_sequences: s.stop };
      // The SDK's types dropped sampling knobs that the API still takes for many models: send them only when asked for.
      const sampling = { ...(s.temperature !== undefined ? { temperature: s.temperature } : {}), ...(s.topP !== undefined ? { top_p: s.topP } : {}) };
      res = await this.client.messages.create({ ...params, ...sampling } as Anthropic.MessageCreateParamsNonStreaming, { signal });
    } catch (err) {
      throw toBackendError(err, 'anthropic');
    }
    if (!Array.isArray(res?.content)) throw new BackendError('anthropic: malformed response body (no content)', true);
    const text = res.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    return { text, finishReason: res.stop_reason ?? undefined, usage: { inputTokens: res.usage?.input_tokens, outputTokens: res.usage?.output_tokens } };
  }
}
