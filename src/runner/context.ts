// What a multi-turn probe needs from the runner: backends by reference, and one way
// to make a call (through the store, so a killed run resumes turn by turn).

import type { Backend } from '../backends/types.js';
import { RateLimiter } from '../backends/retry.js';
import type { RunStore } from '../store/store.js';
import { suiteSchema, type Suite } from '../suite/schema.js';
import type { JudgeSpec } from '../suite/probe-schemas.js';
import { UserError } from '../util/errors.js';
import { runTask, type CallCounters, type CallTask } from './execute.js';
import type { ProbeContext } from '../probes/context.js';
import { resolveModelRef } from '../suite/roles.js';

/** At most `size` holders at once; the rest wait in order. */
export class Semaphore {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** The runner's probe context: calls go through the store with the run's retries, rate limit and concurrency. */
export class RunContext implements ProbeContext {
  private readonly limiters = new Map<Backend, RateLimiter>();
  /** Conversations run side by side; calls in flight stay within run.concurrency. */
  private readonly slots: Semaphore;

  constructor(
    readonly suite: Suite,
    readonly runId: string,
    readonly store: RunStore,
    /** One backend per model entry, in suite order. */
    readonly models: readonly Backend[],
    /** Backends opened for references that are not model entries (judges, attackers), by id. */
    readonly extras: ReadonlyMap<string, Backend>,
    readonly counters: CallCounters,
    readonly baseDir: string | undefined,
    private readonly onProgress?: (phase: string) => void,
    readonly signal?: AbortSignal,
    /** Make every call again, ignoring (and replacing) what the store holds. */
    readonly fresh = false,
  ) {
    this.slots = new Semaphore(suite.run.concurrency);
  }

  backend(ref: string): Backend {
    const r = resolveModelRef(this.suite, ref);
    const b = r.kind === 'entry' ? this.models[r.index] : this.extras.get(r.id);
    if (!b) throw new UserError(`no backend for "${ref}"`);
    return b;
  }

  judge(id: string): { spec: JudgeSpec; backend: Backend } {
    const spec = this.suite.judges.find((j) => j.id === id);
    if (!spec) throw new UserError(`unknown judge "${id}"`);
    return { spec, backend: this.backend(spec.model) };
  }

  /** Calls a phase expects to make, for the progress bar. */
  plan(calls: number): void {
    this.counters.total += calls;
  }

  get concurrency(): number {
    return this.suite.run.concurrency;
  }

  /** One call through the store; undefined when every attempt failed (the failure is recorded). */
  call(backend: Backend, task: CallTask, phase: string): Promise<unknown> {
    let limiter = this.limiters.get(backend);
    if (!limiter) {
      limiter = new RateLimiter(this.suite.run.ratePerMinute);
      this.limiters.set(backend, limiter);
    }
    return this.slots.use(() => runTask(
      task,
      {
        runId: this.runId,
        store: this.store,
        backend,
        concurrency: 1,
        timeoutMs: this.suite.run.timeoutMs,
        retry: { maxAttempts: this.suite.run.maxAttempts, baseDelayMs: this.suite.run.backoffMs },
        counters: this.counters,
        onProgress: () => this.onProgress?.(phase),
        signal: this.signal,
        fresh: this.fresh,
      },
      limiter,
    ));
  }
}

/**
 * Run settings for commands that are not suites (vectors, axis, sweeps): the same
 * store-backed calls, retries and concurrency, with a minimal suite to carry them.
 */
export function commandSuite(name: string, model: string, concurrency = 4): Suite {
  return suiteSchema.parse({ name, instrument: { id: 'ipip-neo-120' }, personas: [{ id: 'none', name: 'none', target: { O: 3, C: 3, E: 3, A: 3, N: 3 } }], fidelity: false, models: [model], run: { concurrency } });
}
