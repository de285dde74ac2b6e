// Trait neurons on open weights: `neurons find` ranks one layer's MLP neurons
// (blocks.L.mlp.hook_post, the input of the down projection) by how much they separate
// trait-eliciting from trait-suppressing contexts, by what they write onto a trait vector, and,
// given a base checkpoint, by how much what they write changed; `neurons ablate` switches
// neurons off and measures the trait's inventory score against switching off random neurons
// of the same count and layer. A context is a trait instruction (the trait file's positive or
// negative side) followed by an inventory item of the trait's domain; activations are read at
// the position where the answer is given.

import type { ChatMessage } from '../backends/types.js';
import { Engine, optionDistribution } from '../engine/engine.js';
import { neuronIntervention, type Intervention } from '../engine/interventions.js';
import { inlineWeights } from '../engine/model-folder.js';
import { expectedAnswer, getInstrument, keyedScore, type Domain, type InstrumentItem } from '../instruments/index.js';
import { meanActivation, rankByChange, rankBySensitivity, rankBySeparation, directWrite, type NeuronScore } from '../metrics/neurons.js';
import { createRng } from '../util/rng.js';
import type { RunRole } from '../suite/roles.js';
import { engineParts } from './engine-parts.js';
import { UserError } from '../util/errors.js';
import { DEFAULT_VARIANTS, OPTION_DIGITS, itemPrompt } from '../probes/fidelity.js';
import { shortInventory } from '../probes/dialogue.js';
import type { TraitDefinition } from '../probes/traits.js';

const engineDir = (model: string) => (model.startsWith('engine:') ? model.slice('engine:'.length) : model);

export interface NeuronContexts {
  eliciting: ChatMessage[][];
  suppressing: ChatMessage[][];
  items: InstrumentItem[];
}

/** Each of the trait's instruction pairs with each short-inventory item of its domain (every domain for a trait without one). */
export function neuronContexts(trait: TraitDefinition, itemsPerDomain: number): NeuronContexts {
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, itemsPerDomain).filter((i) => !trait.domain || i.domain === trait.domain);
  const ctx = (instruction: string, item: InstrumentItem): ChatMessage[] => [
    { role: 'system', content: instruction },
    { role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) },
  ];
  return {
    eliciting: trait.pairs.flatMap((p) => items.map((i) => ctx(p.positive, i))),
    suppressing: trait.pairs.flatMap((p) => items.map((i) => ctx(p.negative, i))),
    items,
  };
}

async function withEngines<T>(dirs: string[], fn: (engines: Engine[]) => Promise<T>): Promise<T> {
  const engines: Engine[] = [];
  try {
    for (const d of dirs) engines.push(await Engine.load(engineDir(d)));
    return await fn(engines);
  } finally {
    for (const e of engines) await e.dispose();
  }
}

function checkLayer(engine: Engine, layer: number): string {
  if (!Number.isInteger(layer) || layer < 0 || layer >= engine.spec.layers) throw new UserError(`layer ${layer} is out of range (0-${engine.spec.layers - 1})`);
  return `blocks.${layer}.mlp.hook_post`;
}

/** Base and tuned must be the same architecture and shape to compare neuron by neuron. */
export function checkSameShape(base: Engine, tuned: Engine): void {
  const a = base.spec;
  const b = tuned.spec;
  for (const k of ['family', 'layers', 'dModel', 'ffn', 'heads', 'kvHeads', 'vocab'] as const) {
    if (a[k] !== b[k]) throw new UserError(`mismatched checkpoints: the base has ${k} = ${String(a[k])}, the tuned model ${String(b[k])}; neurons are compared between two checkpoints of one architecture`);
  }
}

/** The hook's row at the last position (where the answer is produced), per context. */
async function lastRows(engine: Engine, hook: string, contexts: ChatMessage[][], onContext?: () => void): Promise<Float32Array[]> {
  const width = engine.spec.ffn;
  const rows: Float32Array[] = [];
  for (const messages of contexts) {
    const ids = engine.tokenizer.chatIds(messages);
    const r = await engine.forward(ids, { hooks: [hook], logits: 'last' });
    const all = r.hooks.get(hook)!;
    rows.push(all.slice((ids.length - 1) * width, ids.length * width));
    onContext?.();
  }
  return rows;
}

function downProjection(engine: Engine, layer: number): Float32Array {
  const w = inlineWeights(engine.folder).get(`model.layers.${layer}.mlp.down_proj.weight`);
  if (w.kind !== 'inline') throw new Error('expected inline weights');
  return w.data;
}

export interface FindOptions {
  model: string;
  layer: number;
  trait: TraitDefinition;
  /** A base checkpoint of the same architecture: rank neurons by how much what they write changed. */
  base?: string;
  /** A trait direction (d_model): rank neurons by what they write onto it. */
  direction?: Float32Array;
  top?: number;
  itemsPerDomain?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface FindResult {
  layer: number;
  hook: string;
  contexts: number;
  /** Mean |eliciting − suppressing| over paired contexts. */
  sensitivity: NeuronScore[];
  /** Cohen's d, eliciting vs suppressing. */
  separation: NeuronScore[];
  write?: NeuronScore[];
  change?: NeuronScore[];
  /** What the models were (a constructed model is said so in every output). */
  parts: RunRole[];
}

export async function findNeurons(o: FindOptions): Promise<FindResult> {
  const top = o.top ?? 20;
  const contexts = neuronContexts(o.trait, o.itemsPerDomain ?? 4);
  if (contexts.items.length === 0) throw new UserError(`trait ${o.trait.id}: no inventory items to build contexts from`);
  return withEngines([o.model, ...(o.base ? [o.base] : [])], async ([tuned, base]) => {
    const hook = checkLayer(tuned!, o.layer);
    if (base) checkSameShape(base, tuned!);
    if (o.direction && o.direction.length !== tuned!.spec.dModel) throw new UserError(`the direction has ${o.direction.length} values; the model's residual stream has ${tuned!.spec.dModel}`);
    const all = [...contexts.eliciting, ...contexts.suppressing];
    const total = all.length * (base ? 2 : 1);
    let done = 0;
    const tick = () => o.onProgress?.(++done, total);
    const eliciting = await lastRows(tuned!, hook, contexts.eliciting, tick);
    const suppressing = await lastRows(tuned!, hook, contexts.suppressing, tick);
    const out: FindResult = { layer: o.layer, hook, contexts: all.length, sensitivity: rankBySensitivity(eliciting, suppressing).slice(0, top), separation: rankBySeparation(eliciting, suppressing).slice(0, top), parts: engineParts({ model: o.model, base: o.base }) };
    const means = meanActivation([...eliciting, ...suppressing]);
    const down = downProjection(tuned!, o.layer);
    if (o.direction) out.write = directWrite(means, down, tuned!.spec.dModel, o.direction).slice(0, top);
    if (base) {
      const baseRows = await lastRows(base, hook, all, tick);
      out.change = rankByChange({ means: meanActivation(baseRows), down: downProjection(base, o.layer) }, { means, down }, tuned!.spec.dModel).slice(0, top);
    }
    return out;
  });
}

export interface AblateOptions {
  model: string;
  layer: number;
  neurons: number[];
  /** The trait (its domain's score is measured) or a domain. */
  domain: Domain;
  base?: string;
  /** How many random sets of the same count and layer to compare with (default 5). */
  random?: number;
  seed?: number;
  itemsPerDomain?: number;
  /** One step per item scored, on each model, in each condition. */
  onProgress?: (done: number, total: number) => void;
}

export interface AblationCondition {
  neurons: number[];
  /** The domain's inventory score (1..5) of the model, and of the base when given. */
  score: number;
  baseScore?: number;
  /** score − the unablated score (the effect of switching these neurons off). */
  effect: number;
  /** score − baseScore: what the tuning changed, with these neurons off in both. */
  shift?: number;
}

export interface AblateResult {
  layer: number;
  domain: Domain;
  items: number;
  none: AblationCondition;
  top: AblationCondition;
  random: AblationCondition[];
  parts: RunRole[];
}

/** The domain's score over its short-inventory items, unconditioned, with the interventions applied. */
async function domainScore(engine: Engine, items: InstrumentItem[], interventions: Intervention[], tick: () => void = () => undefined): Promise<number> {
  const instrument = getInstrument('ipip-neo-120');
  const optionIds = OPTION_DIGITS.map((o) => engine.tokenizer.encode(o)[0]!);
  let sum = 0;
  for (const item of items) {
    const ids = engine.tokenizer.chatIds([{ role: 'user', content: itemPrompt(item, instrument.options, DEFAULT_VARIANTS[0]!) }]);
    const p = optionDistribution(await engine.nextTokenLogProbs(ids, interventions), optionIds);
    if (!p) throw new UserError('the model puts no probability on the answer options');
    sum += keyedScore(item, expectedAnswer(p), instrument.options.length);
    tick();
  }
  return sum / items.length;
}

export async function ablateNeurons(o: AblateOptions): Promise<AblateResult> {
  const instrument = getInstrument('ipip-neo-120');
  const items = shortInventory(instrument, o.itemsPerDomain ?? 8).filter((i) => i.domain === o.domain);
  if (!o.neurons.length) throw new UserError('neurons ablate: name at least one neuron (--neurons 12,40)');
  if (new Set(o.neurons).size !== o.neurons.length) throw new UserError('neurons ablate: a neuron is named twice');
  return withEngines([o.model, ...(o.base ? [o.base] : [])], async ([tuned, base]) => {
    const hook = checkLayer(tuned!, o.layer);
    if (base) checkSameShape(base, tuned!);
    const width = tuned!.spec.ffn;
    const off = (neurons: number[]) => (neurons.length ? [neuronIntervention(hook, width, neurons, 0)] : []);
    off(o.neurons); // range-checks every index before any forward pass
    const total = (2 + (o.random ?? 5)) * items.length * (base ? 2 : 1);
    let done = 0;
    const tick = () => o.onProgress?.(++done, total);
    const measure = async (neurons: number[]): Promise<Omit<AblationCondition, 'effect'>> => {
      const score = await domainScore(tuned!, items, off(neurons), tick);
      if (!base) return { neurons, score };
      const baseScore = await domainScore(base, items, off(neurons), tick);
      return { neurons, score, baseScore, shift: score - baseScore };
    };
    const none = await measure([]);
    const withEffect = (c: Omit<AblationCondition, 'effect'>): AblationCondition => ({ ...c, effect: c.score - none.score });
    const rng = createRng(`neurons/${o.seed ?? 1}`);
    const others = Array.from({ length: width }, (_, n) => n).filter((n) => !o.neurons.includes(n));
    if (others.length < o.neurons.length) throw new UserError(`layer ${o.layer} has too few other neurons to draw ${o.neurons.length} at random`);
    const random: AblationCondition[] = [];
    for (let r = 0; r < (o.random ?? 5); r++) {
      const pool = [...others];
      const pick = Array.from({ length: o.neurons.length }, () => pool.splice(rng.int(pool.length), 1)[0]!).sort((a, b) => a - b);
      random.push(withEffect(await measure(pick)));
    }
    return { layer: o.layer, domain: o.domain, items: items.length, none: withEffect(none), top: withEffect(await measure(o.neurons)), random, parts: engineParts({ model: o.model, base: o.base }) };
  });
}
