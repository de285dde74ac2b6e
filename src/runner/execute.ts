// Executing planned calls against a backend through the store: cache lookup,
// rate limit, timeout, retries with backoff, and a record of every attempt.

import type { Backend, CallCounters, CallTask } from '../backends/types.js';
export type { CallCounters, CallTask } from '../backends/types.js';
import { forEachConcurrent } from '../util/concurrency.js';
export { forEachConcurrent, settleAll } from '../util/concurrency.js';
import { BackendError } from '../backends/types.js';
import { checkResponse } from '../backends/responses.js';
import { afterStoredCall } from '../util/fault.js';
import { DEFAULT_RETRY, RateLimiter, withRetry, type RetryPolicy } from '../backends/retry.js';
import type { RunStore } from '../store/store.js';
import { hashOf } from '../util/hash.js';
import { UserError, errorMessage } from '../util/errors.js';

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

/** The cache key of a call: the backend's identity plus everything in the request (the oracle is not part of it). */
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
  // The oracle goes only to a backend that declares it reads one (the simulated panel).
  const oracle = backend.readsOracle ? task.oracle : undefined;
  try {
    const work =
      task.kind === 'chat'
        ? backend.chat(task.request, controller.signal, oracle)
        : task.kind === 'optionProbs'
          ? backend.optionProbs
            ? backend.optionProbs(task.request, controller.signal, oracle)
            : Promise.reject(new BackendError(`${backend.id} gives no option probabilities`, false))
          : backend.activations
            ? backend.activations(task.request, controller.signal, oracle)
            : Promise.reject(new BackendError(`${backend.id} gives no activations`, false));
    const value = await Promise.race([work, timeout]);
    checkResponse(task.kind, value, backend.id, task.kind === 'optionProbs' ? task.request.options.length : undefined);
    return value;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

/** Each backend is reached once (its preflight) before its first call; the promise is shared. */
const reached = new WeakMap<Backend, Promise<void>>();

async function ensureReachable(backend: Backend, signal?: AbortSignal): Promise<void> {
  if (!backend.preflight) return;
  let p = reached.get(backend);
  if (!p) {
    p = backend.preflight(signal);
    reached.set(backend, p);
  }
  try {
    await p;
  } catch (err) {
    throw new UserError(`${backend.id}: cannot be used (${errorMessage(err)}); no call was made. Check the base URL, the key and the network.`);
  }
}

/** A failure repeated this many times in a row, with no success between, stops the run. */
export const REPEATED_FAILURE_LIMIT = 20;
const streaks = new WeakMap<Backend, { error: string; count: number }>();

/** Errors that differ only in ids and numbers are the same error. */
const errorShape = (message: string) => message.replace(/[0-9a-f]{8,}|\d+/gi, '#');

function noteOutcome(backend: Backend, error: string | undefined): void {
  if (error === undefined) {
    streaks.delete(backend);
    return;
  }
  const shape = errorShape(error);
  const s = streaks.get(backend);
  const next = s && s.error === shape ? { error: shape, count: s.count + 1 } : { error: shape, count: 1 };
  streaks.set(backend, next);
  if (next.count >= REPEATED_FAILURE_LIMIT) {
    streaks.delete(backend);
    throw new UserError(`${backend.id}: the last ${REPEATED_FAILURE_LIMIT} calls failed with the same error, stopping the run: ${error} (the answers so far are stored; run again to resume)`);
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
    if (task.kind === 'chat') o.backend.observe?.(task.request, o.backend.readsOracle ? task.oracle : undefined);
    o.store.linkCachedCall(o.runId, task.key, hash);
    o.counters.cacheHits++;
    o.counters.done++;
    o.onProgress?.();
    return stored.response;
  }
  await ensureReachable(o.backend, o.signal);
  const started = performance.now();
  let failure: string | undefined;
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
    failure = errorMessage(err);
    o.store.recordError(o.runId, hash, o.backend.id, policy.maxAttempts, failure, true);
    o.counters.errors++;
    return undefined;
  } finally {
    o.counters.done++;
    o.onProgress?.();
    noteOutcome(o.backend, failure);
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

