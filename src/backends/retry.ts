import { BackendError } from './types.js';

export interface RetryPolicy {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 20_000 };

export interface AttemptLog {
  attempt: number;
  error: string;
  retriable: boolean;
  delayMs: number;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });

/**
 * Run `fn` with exponential backoff (full jitter, honouring Retry-After) while it
 * fails with a retriable BackendError. Non-retriable errors surface at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, onRetry?: (log: AttemptLog) => void, signal?: AbortSignal): Promise<{ value: T; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (err) {
      const retriable = err instanceof BackendError && err.retriable;
      if (!retriable || attempt >= policy.maxAttempts) throw err;
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delayMs = Math.max((err as BackendError).retryAfterMs ?? 0, Math.round(backoff * (0.5 + Math.random() * 0.5)));
      onRetry?.({ attempt, error: (err as Error).message, retriable, delayMs });
      await sleep(delayMs, signal);
    }
  }
}

/** Token bucket: at most `perMinute` starts per minute, smoothed. */
export class RateLimiter {
  private nextFree = 0;
  constructor(private readonly perMinute: number | undefined) {}
  async acquire(signal?: AbortSignal): Promise<void> {
    if (!this.perMinute) return;
    const interval = 60_000 / this.perMinute;
    const now = Date.now();
    const at = Math.max(now, this.nextFree);
    this.nextFree = at + interval;
    if (at > now) await sleep(at - now, signal);
  }
}

/** Run tasks with at most `concurrency` in flight; results keep input order. */
export async function mapPool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}
