// Two checkpoints of one architecture compared, base and tuned: the shift of each Big Five
// domain measured behaviourally (a short inventory, unconditioned, scored from option
// probabilities; and, with a trait and a judge, the judged trait score of each model's own
// answers to the trait's questions) and in activations (the same prompts' blocks.L.hook_resid_post at the answer
// position, projected on each persona vector), with bootstrap intervals over the prompts
// (paired: the same prompt on both models).

import { Engine, optionDistribution } from '../engine/engine.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { DOMAINS, expectedAnswer, getInstrument, keyedScore, type Domain } from '../instruments/index.js';
import { bootstrapMean, type Estimate } from '../metrics/bootstrap.js';
import { mean } from '../metrics/stats.js';
import { dot, norm, unit } from '../metrics/vectors.js';
import { shortInventory } from '../probes/dialogue.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../probes/fidelity.js';
import { UserError } from '../util/errors.js';
import { checkSameShape } from './neurons.js';
import { createBackend } from '../backends/registry.js';
import { JUDGE_PROMPT } from '../probes/vectors.js';
import { parseScore } from '../probes/judges.js';
import type { TraitDefinition } from '../probes/traits.js';
import { runRoles, type RunRole } from '../suite/roles.js';
import { engineParts } from './engine-parts.js';

export interface CompareOptions {
  base: string;
  tuned: string;
  /** Persona-vector files: each vector (per layer it holds, or its recommended layer) gets a projection shift. */
  vectors?: string[];
  /** Read every vector file at this layer instead of its recommended one. */
  layer?: number;
  itemsPerDomain?: number;
  seed?: number;
  /** With a judge: the trait whose questions both models answer and whose rubric the judge scores (0..100). */
  trait?: TraitDefinition;
  judge?: string;
  /** Trait questions answered (default 8), and the answers' length in tokens (default 48, greedy). */
  questions?: number;
  maxTokens?: number;
  env?: Record<string, string | undefined>;
  onProgress?: (done: number, total: number) => void;
}

/** The judged trait score of each model's own answers, and its shift (paired by question). */
export interface JudgedShift {
  trait: string;
  judge: string;
  base: number;
  tuned: number;
  /** tuned − base over the questions judged on both models, with a bootstrap interval. */
  shift: Estimate;
  /** Questions judged on both models, and judgments that could not be read. */
  n: number;
  failures: number;
}

export interface DomainShift {
  domain: Domain;
  base: number;
  tuned: number;
  /** tuned − base, with a bootstrap interval over items (paired). */
  shift: Estimate;
  items: number;
}

export interface ProjectionShift {
  vector: string;
  layer: number;
  base: number;
  tuned: number;
  shift: Estimate;
  prompts: number;
}

export interface CompareResult {
  base: string;
  tuned: string;
  domains: DomainShift[];
  projections: ProjectionShift[];
  judged?: JudgedShift;
  /** What each part was (a constructed model, a simulated judge), for every output to say. */
  parts: RunRole[];
}

const dirOf = (model: string) => (model.startsWith('engine:') ? model.slice('engine:'.length) : model);

export async function compareCheckpoints(o: CompareOptions): Promise<CompareResult> {
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, o.itemsPerDomain ?? 8);
  const sets = (o.vectors ?? []).map((file) => ({ file, set: readVectorFile(file) }));
  if (o.judge && !o.trait) throw new UserError('checkpoints compare: a judge needs --trait (its questions and rubric)');
  if (o.trait && !o.judge) throw new UserError('checkpoints compare: --trait is scored by a judge; pass --judge MODEL');
  const questions = o.trait ? o.trait.questions.slice(0, o.questions ?? 8) : [];
  const judge = o.judge ? await createBackend(o.judge, { env: o.env }) : undefined;
  const total = 2 * (items.length + 2 * questions.length);
  let done = 0;
  const tick = () => o.onProgress?.(++done, total);
  const engines: Engine[] = [];
  try {
    for (const m of [o.base, o.tuned]) engines.push(await Engine.load(dirOf(m)));
    const [base, tuned] = engines as [Engine, Engine];
    checkSameShape(base, tuned);
    const d = base.spec.dModel;
    const probes = sets.flatMap(({ file, set }) => {
      const recommended = set.metadata.recommended_layer;
      const layers = o.layer !== undefined ? [o.layer] : recommended !== undefined ? [Number(recommended)] : [...set.layers.keys()];
      return layers.map((layer) => {
        const v = set.layers.get(layer);
        if (!v) throw new UserError(`${file}: no vector for layer ${layer}`);
        if (v.length !== d) throw new UserError(`${file}: layer ${layer}'s vector has ${v.length} values; the models' residual stream has ${d}`);
        if (layer < 0 || layer >= base.spec.layers) throw new UserError(`${file}: layer ${layer} is out of range for these models (0-${base.spec.layers - 1})`);
        if (!(norm([...v]) > 0)) throw new UserError(`${file}: layer ${layer}'s vector has zero length`);
        return { file, layer, unit: unit([...v]) };
      });
    });
    const hooks = [...new Set(probes.map((p) => `blocks.${p.layer}.hook_resid_post`))];
    // Per model and item: the keyed expected answer, and each probe's projection at the answer position.
    const measure = async (engine: Engine) => {
      const optionIds = OPTION_DIGITS.map((o) => engine.tokenizer.encode(o)[0]!);
      const answers: number[] = [];
      const projections = probes.map(() => [] as number[]);
      for (const item of items) {
        const ids = engine.tokenizer.chatIds([{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
        const r = await engine.forward(ids, { hooks, logits: 'last' });
        const p = optionDistribution(r.logits, optionIds);
        if (!p) throw new UserError('the model puts no probability on the answer options');
        answers.push(keyedScore(item, expectedAnswer(p), instrument.options.length));
        probes.forEach((pr, i) => {
          const rows = r.hooks.get(`blocks.${pr.layer}.hook_resid_post`)!;
          const last = rows.subarray((ids.length - 1) * d, ids.length * d);
          projections[i]!.push(dot(last, pr.unit));
        });
        tick();
      }
      // The model's own greedy answer to each trait question, unconditioned, scored by the judge.
      const judged: (number | undefined)[] = [];
      for (const question of questions) {
        const ids = engine.tokenizer.chatIds([{ role: 'user', content: question }]);
        const answer = engine.tokenizer.decode((await engine.generate(ids, { maxTokens: o.maxTokens ?? 48 })).tokens).trim();
        tick();
        const reply = await judge!.chat({ messages: [{ role: 'user', content: JUDGE_PROMPT(o.trait!, question, answer) }], sampling: { temperature: 0, seed: o.seed ?? 1, maxTokens: 16 } });
        const score = parseScore(reply.text, 100);
        judged.push(score.ok ? score.value : undefined);
        tick();
      }
      return { answers, projections, judged };
    };
    const b = await measure(base);
    const t = await measure(tuned);
    const seed = o.seed ?? 1;
    const domains = DOMAINS.map((domain): DomainShift => {
      const idx = items.map((it, i) => (it.domain === domain ? i : -1)).filter((i) => i >= 0);
      return {
        domain,
        base: mean(idx.map((i) => b.answers[i]!)),
        tuned: mean(idx.map((i) => t.answers[i]!)),
        shift: bootstrapMean(idx.map((i) => t.answers[i]! - b.answers[i]!), { seed: `${seed}/${domain}` }),
        items: idx.length,
      };
    });
    const projections = probes.map((pr, i): ProjectionShift => ({
      vector: pr.file,
      layer: pr.layer,
      base: mean(b.projections[i]!),
      tuned: mean(t.projections[i]!),
      shift: bootstrapMean(t.projections[i]!.map((x, k) => x - b.projections[i]![k]!), { seed: `${seed}/${pr.file}/${pr.layer}` }),
      prompts: items.length,
    }));
    let judgedShift: JudgedShift | undefined;
    if (o.trait && judge) {
      // Paired by question: only questions judged on both models count.
      const both = questions.map((_, k) => k).filter((k) => b.judged[k] !== undefined && t.judged[k] !== undefined);
      const failures = [...b.judged, ...t.judged].filter((x) => x === undefined).length;
      judgedShift = {
        trait: o.trait.id,
        judge: judge.id,
        // With no question judged on both, each of these is NaN (and the shift's n is 0).
        base: mean(both.map((k) => b.judged[k]!)),
        tuned: mean(both.map((k) => t.judged[k]!)),
        shift: bootstrapMean(both.map((k) => t.judged[k]! - b.judged[k]!), { seed: `${seed}/judge/${o.trait.id}` }),
        n: both.length,
        failures,
      };
    }
    const parts = [...engineParts({ base: o.base, tuned: o.tuned }), ...runRoles({ judge })];
    return { base: o.base, tuned: o.tuned, domains, projections, ...(judgedShift ? { judged: judgedShift } : {}), parts };
  } finally {
    for (const e of engines) await e.dispose();
  }
}
