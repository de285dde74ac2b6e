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
