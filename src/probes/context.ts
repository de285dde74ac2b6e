// What a probe is given to run its calls: the suite, backends by reference, and one way to
// make a call (through the store, so a killed run resumes). The runner implements it
// (runner/context.ts); probes never import the runner.

import type { Backend, CallTask } from '../backends/types.js';
import type { JudgeSpec } from '../suite/probe-schemas.js';
import type { Suite } from '../suite/schema.js';

/** One way to make a call (through the store, with retries and a rate limit), and how many may be in flight. */
export interface CallSink {
  /** Calls in flight at most. */
  readonly concurrency: number;
  /** One call through the store; undefined when every attempt failed (the failure is recorded). */
  call(backend: Backend, task: CallTask, phase: string): Promise<unknown>;
  readonly signal?: AbortSignal;
}

export interface ProbeContext extends CallSink {
  readonly suite: Suite;
  /** The backend a model reference (an entry's name or id, or any backend id) stands for. */
  backend(ref: string): Backend;
  judge(id: string): { spec: JudgeSpec; backend: Backend };
  /** Calls a phase expects to make, for the progress bar. */
  plan(calls: number): void;
}
