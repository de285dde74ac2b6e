// Executing planned calls against a backend through the store: cache lookup,
// rate limit, timeout, retries with backoff, and a record of every attempt.

import type { ActivationsRequest, Backend, ChatRequest, OptionProbsRequest } from '../backends/types.js';
import { BackendError } from '../backends/types.js';
import { checkResponse } from '../backends/responses.js';
import { afterStoredCall } from '../util/fault.js';
import { DEFAULT_RETRY, RateLimiter, withRetry, type RetryPolicy } from '../backends/retry.js';
import type { RunStore } from '../store/store.js';
import { hashOf } from '../util/hash.js';
import { errorMessage } from '../util/errors.js';

export type CallTask =
  | { key: string; kind: 'chat'; request: ChatRequest }
  | { key: string; kind: 'optionProbs'; request: OptionProbsRequest }
  | { key: string; kind: 'activations'; request: ActivationsRequest };

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

export interface ExecuteOptions {
  runId: string;
  store: RunStore;
  backend: Backend;
  concurrency: number;
  ratePerMinute?: number;
  timeoutMs: number;
  retry?: Partial<RetryPolicy>;
  counters: CallCounters;
  onProgress?: () => void;
  signal?: AbortSignal;
  /** Ignore stored calls: make each call again and replace what was stored. */
  fresh?: boolean;
}

/** The cache key of a call: the backend's identity plus everything in the request. */
export function callHash(backend: Backend, task: CallTask): string {
  return hashOf({ backend: backend.id, kind: task.kind, request: task.request });
}

async function callOnce(backend: Backend, task: CallTask, timeoutMs: number, outer?: AbortSignal): Promise<unknown> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new Error('timeout'));
      reject(new BackendError(`${backend.kind}: no response within ${timeoutMs} ms`, true));
    }, timeoutMs);
  });
  try {
    const work =
      task.kind === 'chat'
        ? backend.chat(task.request, controller.signal)
        : task.kind === 'optionProbs'
          ? backend.optionProbs
            ? backend.optionProbs(task.request, controller.signal)
            : Promise.reject(new BackendError(`${backend.id} gives no option probabilities`, false))
          : backend.activations
            ? backend.activations(task.request, controller.signal)
            : Promise.reject(new BackendError(`${backend.id} gives no activations`, false));
    const value = await Promise.race([work, timeout]);
    checkResponse(task.kind, value, backend.id, task.kind === 'optionProbs' ? task.request.options.length : undefined);
    return value;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

function validResponse(task: CallTask, value: unknown, backendId: string): boolean {
  try {
    checkResponse(task.kind, value, backendId, task.kind === 'optionProbs' ? task.request.options.length : undefined);
    return true;
  } catch {
    return false;
  }
}

/**
 * One task through the store: a stored call with the same hash is reused (that is how
 * a killed run resumes); otherwise the backend is called with retries and the result
 * recorded. Returns the response, or undefined when every attempt failed (recorded).
 */
export async function runTask(task: CallTask, o: ExecuteOptions, limiter: RateLimiter = new RateLimiter(o.ratePerMinute)): Promise<unknown> {
  const policy = { ...DEFAULT_RETRY, ...o.retry };
  const hash = callHash(o.backend, task);
  let stored = o.fresh ? undefined : o.store.getCall(hash);
  if (stored && !validResponse(task, stored.response, o.backend.id)) {
    // A bad answer stored before answers were checked is made again, not served forever.
    o.store.deleteCall(hash);
    stored = undefined;
  }
  if (stored) {
    if (task.kind === 'chat') o.backend.observe?.(task.request);
    o.store.linkCachedCall(o.runId, task.key, hash);
    o.counters.cacheHits++;
    o.counters.done++;
    o.onProgress?.();
    return stored.response;
  }
  const started = performance.now();
  try {
    const { value, attempts } = await withRetry(
      async () => {
        await limiter.acquire(o.signal);
        return callOnce(o.backend, task, o.timeoutMs, o.signal);
      },
      policy,
      (log) => {
        o.counters.retries++;
        o.store.recordError(o.runId, hash, o.backend.id, log.attempt, log.error, false);
      },
      o.signal,
    );
    o.store.putCall(o.runId, task.key, { hash, backend: o.backend.id, kind: task.kind, request: task.request, response: value, latencyMs: performance.now() - started, attempts }, o.fresh);
    o.counters.calls++;
    afterStoredCall();
    return value;
  } catch (err) {
    if (o.signal?.aborted) throw err;
    o.store.recordError(o.runId, hash, o.backend.id, policy.maxAttempts, errorMessage(err), true);
    o.counters.errors++;
    return undefined;
  } finally {
    o.counters.done++;
    o.onProgress?.();
  }
}

export async function executeTasks(tasks: readonly CallTask[], o: ExecuteOptions): Promise<void> {
  const limiter = new RateLimiter(o.ratePerMinute);
  await forEachConcurrent(tasks, o.concurrency, async (task) => {
    if (o.signal?.aborted) return;
    try {
      await runTask(task, o, limiter);
    } catch (err) {
      if (!o.signal?.aborted) throw err;
    }
  });
}

/** Run `fn` over the items with at most `concurrency` in flight, in order of start. */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
}
