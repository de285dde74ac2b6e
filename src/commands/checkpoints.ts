// Two checkpoints of one architecture compared, base and tuned: the shift of each Big Five
// domain measured behaviourally (a short inventory, unconditioned, scored from option
// probabilities) and in activations (the same prompts' blocks.L.hook_resid_post at the answer
// position, projected on each persona vector), with bootstrap intervals over the prompts
// (paired: the same prompt on both models).

import { Engine, optionDistribution } from '../engine/engine.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { DOMAINS, expectedAnswer, getInstrument, keyedScore, type Domain } from '../instruments/index.js';
import { bootstrapMean, type Estimate } from '../metrics/bootstrap.js';
import { dot, norm, unit } from '../metrics/vectors.js';
import { shortInventory } from '../probes/dialogue.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../probes/fidelity.js';
import { UserError } from '../util/errors.js';
import { checkSameShape } from './neurons.js';

export interface CompareOptions {
  base: string;
  tuned: string;
  /** Persona-vector files: each vector (per layer it holds, or its recommended layer) gets a projection shift. */
  vectors?: string[];
  /** Read every vector file at this layer instead of its recommended one. */
  layer?: number;
  itemsPerDomain?: number;
  seed?: number;
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
}

const dirOf = (model: string) => (model.startsWith('engine:') ? model.slice('engine:'.length) : model);

export async function compareCheckpoints(o: CompareOptions): Promise<CompareResult> {
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, o.itemsPerDomain ?? 8);
  const sets = (o.vectors ?? []).map((file) => ({ file, set: readVectorFile(file) }));
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
      }
      return { answers, projections };
    };
    const b = await measure(base);
    const t = await measure(tuned);
    const seed = o.seed ?? 1;
    const mean = (xs: readonly number[]) => xs.reduce((a, c) => a + c, 0) / xs.length;
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
    return { base: o.base, tuned: o.tuned, domains, projections };
  } finally {
    for (const e of engines) await e.dispose();
  }
}
