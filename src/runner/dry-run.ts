// `run --dry-run`: what a suite would do, without opening a model or the store and
// without a single call. Calls a probe plans from the suite alone are counted exactly;
// the probes that converse count their calls with the same plan()
// the real run uses, on stand-in backends that answer nothing. Prompt tokens are estimated
// (characters / 4) where the prompt is known in advance; cost is computed only from a
// price table the user gives, since prices change.

import type { Backend, ChatMessage } from '../backends/types.js';
import { parseModelId } from '../backends/registry.js';
import { PROBES } from '../probes/registry.js';
import { probeDirs } from './run.js';
import type { Suite } from '../suite/schema.js';
import { RunContext } from './context.js';
import type { CallCounters, CallTask } from './execute.js';
import { modelIdOf, modelRefs, resolveModelRef } from '../suite/roles.js';
import type { RunStore } from '../store/store.js';

/** USD per million tokens, by model id (as written in the suite) or backend kind. */
export type PriceTable = Record<string, { input: number; output: number }>;

export interface PlanRow {
  block: string;
  model: string;
  calls: number;
  /** Estimated prompt tokens (characters / 4); null where prompts depend on replies. */
  inputTokens: number | null;
  /** At most this many output tokens; null where not known in advance. */
  outputTokens: number | null;
  /** In USD, from the price table; null without a price for this model. */
  cost: number | null;
}

/** A backend that answers nothing: enough for a probe to plan its calls. */
function standIn(id: string): Backend {
  const { kind } = parseModelId(id);
  const optionProbs = kind !== 'anthropic';
  return {
    id,
    kind,
    simulated: kind === 'sim',
    capabilities: { optionProbs, ...(kind === 'engine' ? { activations: true } : {}) },
    chat: () => Promise.reject(new Error('dry run')),
  };
}

class DryContext extends RunContext {
  override call(): Promise<unknown> {
    return Promise.resolve(undefined);
  }
}

const tokensOf = (messages: readonly ChatMessage[]) => Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);

export async function dryRun(suite: Suite, suitePath: string | undefined, prices: PriceTable = {}): Promise<PlanRow[]> {
  const models = suite.models.map((m) => standIn(typeof m === 'string' ? m : m.id));
  // openai entries with logprobs: false are scored by sampling.
  suite.models.forEach((m, i) => {
    if (typeof m !== 'string' && m.logprobs === false) (models[i]!.capabilities as { optionProbs: boolean }).optionProbs = false;
  });
  const optionProbs = models.map((b) => b.capabilities.optionProbs);
  const rows: PlanRow[] = [];
  const price = (model: string) => prices[model] ?? prices[parseModelId(model).kind];
  const add = (block: string, model: string, tasks: readonly CallTask[]) => {
    if (!tasks.length) return;
    const input = tasks.reduce((n, t) => n + tokensOf(t.request.messages), 0);
    const output = tasks.reduce((n, t) => n + (t.kind === 'chat' ? (t.request.sampling?.maxTokens ?? 256) : 1), 0);
    const p = price(model);
    rows.push({ block, model, calls: tasks.length, inputTokens: input, outputTokens: output, cost: p ? (input * p.input + output * p.output) / 1e6 : null });
  };
  const extras = new Map<string, Backend>();
  for (const { ref } of modelRefs(suite)) {
    const r = resolveModelRef(suite, ref);
    if (r.kind === 'extra' && !extras.has(r.id)) extras.set(r.id, standIn(r.id));
  }
  const dirs = probeDirs(suitePath ?? null);
  for (const probe of PROBES) {
    if (!probe.enabled(suite) || !(probe.plan || probe.run)) continue;
    const prepared = probe.prepare?.(suite, dirs);
    // Calls planned from the suite alone are counted exactly, per model and with their prompts.
    const tasks = probe.plan?.({ suite, prepared, backends: models, optionProbs }) ?? [];
    suite.models.forEach((m, i) => add(probe.block, modelIdOf(m), tasks.filter((t) => t.modelIndex === i)));
    if (!probe.run) continue;
    // Calls that depend on replies: counted by the probe's own plan on stand-ins that answer nothing.
    const counters: CallCounters = { done: 0, total: 0, calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    const ctx = new DryContext(suite, 'dry-run', undefined as unknown as RunStore, models, extras, counters, dirs.baseDir);
    await probe.run(ctx, prepared);
    rows.push({ block: probe.block, model: 'all its roles', calls: counters.total, inputTokens: null, outputTokens: null, cost: null });
  }
  return rows;
}
