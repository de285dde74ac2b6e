// What a multi-turn probe needs from the runner: backends by reference, and one way
// to make a call (through the store, so a killed run resumes turn by turn); the same calls
// for the mechanism commands, with their own settings.

import type { Backend } from '../backends/types.js';
import { RateLimiter } from '../backends/retry.js';
import type { RunStore } from '../store/store.js';
import { runSettingsSchema, type RunSettings, type Suite } from '../suite/schema.js';
import type { JudgeSpec } from '../suite/probe-schemas.js';
import { UserError } from '../util/errors.js';
import { runTask, type CallCounters, type CallTask } from './execute.js';
import type { CallSink, ProbeContext } from '../probes/context.js';
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

/**
 * Calls through the store with a run's settings: retries, rate limit per backend, timeout and
 * concurrency. The mechanism commands use it as it is; a suite run uses it as a probe context.
 */
export class StoreCalls implements CallSink {
  private readonly limiters = new Map<Backend, RateLimiter>();
  /** Calls in flight stay within the settings' concurrency. */
  private readonly slots: Semaphore;

  constructor(
    readonly settings: RunSettings,
    readonly runId: string,
    readonly store: RunStore,
    readonly counters: CallCounters,
    private readonly onProgress?: (phase: string) => void,
    readonly signal?: AbortSignal,
    /** Make every call again, ignoring (and replacing) what the store holds. */
    readonly fresh = false,
  ) {
    this.slots = new Semaphore(settings.concurrency);
  }

  get concurrency(): number {
    return this.settings.concurrency;
  }

  /** One call through the store; undefined when every attempt failed (the failure is recorded). */
  call(backend: Backend, task: CallTask, phase: string): Promise<unknown> {
    let limiter = this.limiters.get(backend);
    if (!limiter) {
      limiter = new RateLimiter(this.settings.ratePerMinute);
      this.limiters.set(backend, limiter);
    }
    return this.slots.use(() => runTask(
      task,
      {
        runId: this.runId,
        store: this.store,
        backend,
        concurrency: 1,
        timeoutMs: this.settings.timeoutMs,
        retry: { maxAttempts: this.settings.maxAttempts, baseDelayMs: this.settings.backoffMs },
        counters: this.counters,
        onProgress: () => this.onProgress?.(phase),
        signal: this.signal,
        fresh: this.fresh,
      },
      limiter,
    ));
  }
}

/** The run settings of a command that is not a suite: the suite defaults, with its concurrency. */
export const commandSettings = (concurrency = 4): RunSettings => runSettingsSchema.parse({ concurrency });

/** The runner's probe context: a suite's backends by reference, and its calls through the store. */
export class RunContext extends StoreCalls implements ProbeContext {
  constructor(
    readonly suite: Suite,
    runId: string,
    store: RunStore,
    /** One backend per model entry, in suite order. */
    readonly models: readonly Backend[],
    /** Backends opened for references that are not model entries (judges, attackers), by id. */
    readonly extras: ReadonlyMap<string, Backend>,
    counters: CallCounters,
    readonly baseDir: string | undefined,
    onProgress?: (phase: string) => void,
    signal?: AbortSignal,
    fresh = false,
  ) {
    super(suite.run, runId, store, counters, onProgress, signal, fresh);
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
}
