// Batch activation reading: run many prompts (optionally generating a reply) and
// get the requested hooks back pooled per sequence. Only running sums and the last
// row are kept per hook, so memory does not grow with tokens or with the layers
// left unasked (the graph exposes only the requested hooks; see decoder-graph.ts).

import { hookWidth } from './hooks.js';
import type { ChatMessage } from '../backends/types.js';
import type { Engine, GenerateOptions, TokenScope } from './engine.js';
import type { Intervention } from './interventions.js';

export type Pooling = 'mean' | 'mean_generated' | 'last';

export type PromptInput = { text: string } | { messages: ChatMessage[] } | { ids: number[] };

export interface ActivationRequest {
  prompts: PromptInput[];
  /** Hook names or patterns, e.g. "blocks.*.hook_resid_post". */
  hooks: string | string[];
  pooling?: Pooling[];
  /** Generate a reply after each prompt (needed for mean_generated). */
  generate?: Omit<GenerateOptions, 'hooks' | 'onHooks' | 'interventions'>;
  interventions?: Intervention[];
  /**
   * Run this many prompts at once, packed into one call (a block-diagonal mask; no padding), or
   * decoded together when generating (default 1: one at a time). The pooled results are those of
   * one at a time, to float rounding; greedy replies are the same tokens.
   */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface PooledActivations {
  promptTokens: number;
  generatedTokens: number;
  generatedText?: string;
  /** hook -> pooling -> [d_model]. mean_generated is absent when nothing was generated. */
  pooled: Map<string, Partial<Record<Pooling, Float32Array>>>;
}

class HookAccumulator {
  private readonly sumAll: Float64Array;
  private readonly sumGen: Float64Array;
  private countAll = 0;
  private countGen = 0;
  private readonly lastRow: Float32Array;

  constructor(private readonly d: number) {
    this.sumAll = new Float64Array(d);
    this.sumGen = new Float64Array(d);
    this.lastRow = new Float32Array(d);
  }

  add(rows: Float32Array, scope: TokenScope): void {
    const n = rows.length / this.d;
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < this.d; i++) {
        const x = rows[t * this.d + i]!;
        this.sumAll[i]! += x;
        if (scope === 'generated') this.sumGen[i]! += x;
      }
    }
    this.countAll += n;
    if (scope === 'generated') this.countGen += n;
    this.lastRow.set(rows.subarray((n - 1) * this.d, n * this.d));
  }

  result(pooling: Pooling[]): Partial<Record<Pooling, Float32Array>> {
    const out: Partial<Record<Pooling, Float32Array>> = {};
    for (const p of pooling) {
      if (p === 'mean') out.mean = Float32Array.from(this.sumAll, (x) => x / this.countAll);
      if (p === 'last') out.last = this.lastRow.slice();
      if (p === 'mean_generated' && this.countGen > 0) out.mean_generated = Float32Array.from(this.sumGen, (x) => x / this.countGen);
    }
    return out;
  }
}

/** Run every prompt and pool the requested hooks per sequence. */
export async function collectActivations(engine: Engine, request: ActivationRequest): Promise<PooledActivations[]> {
  const hooks = engine.resolveHooks(request.hooks);
  const pooling = request.pooling ?? ['mean', 'last'];
  const interventions = request.interventions ?? [];
  engine.checkInterventions(interventions);
  const results: PooledActivations[] = [];
  const batch = request.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`collectActivations: batch must be a positive integer, got ${batch}`);
  if (batch > 1) {
    for (let start = 0; start < request.prompts.length; start += batch) {
      const group = request.prompts.slice(start, start + batch).map((p) => engine.promptIds(p));
      const accs = group.map(() => new Map(hooks.map((h) => [h, new HookAccumulator(hookWidth(h, engine.spec))])));
      const feed = (b: number, rows: Map<string, Float32Array>, scope: TokenScope) => {
        for (const [h, a] of accs[b]!) a.add(rows.get(h)!, scope);
      };
      let generated: { tokens: number[]; text: string }[] | undefined;
      if (request.generate) {
        const { onToken: _unused, ...settings } = request.generate;
        if (_unused) throw new RangeError('collectActivations: onToken is not available with batch > 1');
        generated = await engine.generateBatch(group, { ...settings, hooks, interventions, onHooks: feed });
      }
      else {
        const seqs = group.flatMap((ids, b) => ids.map(() => b));
        const r = await engine.forward(group.flat(), { hooks, interventions, packing: { seqs, positions: group.flatMap((ids) => ids.map((_, i) => i)) } });
        group.forEach((_, b) => feed(b, new Map([...r.hooks].map(([h, all]) => {
          const w = all.length / seqs.length;
          const from = seqs.indexOf(b);
          return [h, all.slice(from * w, (from + group[b]!.length) * w)];
        })), 'prompt'));
      }
      group.forEach((ids, b) => results.push({ promptTokens: ids.length, generatedTokens: generated?.[b]!.tokens.length ?? 0, generatedText: generated?.[b]!.text, pooled: new Map([...accs[b]!].map(([h, a]) => [h, a.result(pooling)])) }));
      request.onProgress?.(results.length, request.prompts.length);
    }
    return results;
  }
  for (const [index, prompt] of request.prompts.entries()) {
    const ids = engine.promptIds(prompt);
    const acc = new Map(hooks.map((h) => [h, new HookAccumulator(hookWidth(h, engine.spec))]));
    const feed = (rows: Map<string, Float32Array>, scope: TokenScope) => {
      for (const [h, a] of acc) a.add(rows.get(h)!, scope);
    };
    let generatedTokens = 0;
    let generatedText: string | undefined;
    if (request.generate) {
      const g = await engine.generate(ids, { ...request.generate, hooks, interventions, onHooks: feed });
      generatedTokens = g.tokens.length;
      generatedText = g.text;
    } else {
      const r = await engine.forward(ids, { hooks, interventions });
      feed(r.hooks, 'prompt');
    }
    results.push({
      promptTokens: ids.length,
      generatedTokens,
      generatedText,
      pooled: new Map([...acc].map(([h, a]) => [h, a.result(pooling)])),
    });
    request.onProgress?.(index + 1, request.prompts.length);
  }
  return results;
}
