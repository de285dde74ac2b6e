// Trait neurons: which MLP neurons of a layer separate trait-eliciting from trait-suppressing
// contexts, what each writes onto a trait direction, and which changed between a base and a
// tuned checkpoint. Pure functions over activations (rows [contexts][neurons]) and the
// layer's down projection ([d_model, neurons], row-major as Hugging Face stores it).

import { cohensD, mean } from './stats.js';

export interface NeuronScore {
  neuron: number;
  score: number;
}

/** Neurons by |Cohen's d| of their activation, eliciting vs suppressing contexts (NaN d: a neuron that never varies, last). */
export function rankBySeparation(eliciting: readonly Float32Array[], suppressing: readonly Float32Array[]): NeuronScore[] {
  const width = eliciting[0]?.length ?? 0;
  const out: NeuronScore[] = [];
  for (let n = 0; n < width; n++) {
    const d = cohensD(eliciting.map((r) => r[n]!), suppressing.map((r) => r[n]!));
    out.push({ neuron: n, score: d });
  }
  return sortByMagnitude(out);
}

/**
 * Neurons by how strongly they respond to the trait instruction: the mean over paired
 * contexts (the same item after the eliciting and the suppressing instruction) of
 * |activation eliciting − activation suppressing|. Unlike Cohen's d it keeps a neuron whose
 * response changes sign with the item (one that writes a keyed answer, say).
 */
export function rankBySensitivity(eliciting: readonly Float32Array[], suppressing: readonly Float32Array[]): NeuronScore[] {
  if (eliciting.length !== suppressing.length) throw new Error('paired contexts differ in number');
  const width = eliciting[0]?.length ?? 0;
  const out: NeuronScore[] = [];
  for (let n = 0; n < width; n++) out.push({ neuron: n, score: mean(eliciting.map((r, i) => Math.abs(r[n]! - suppressing[i]![n]!))) });
  return sortByMagnitude(out);
}

/** Mean activation per neuron over contexts. */
export function meanActivation(rows: readonly Float32Array[]): Float64Array {
  const width = rows[0]?.length ?? 0;
  const out = new Float64Array(width);
  for (let n = 0; n < width; n++) out[n] = mean(rows.map((r) => r[n]!));
  return out;
}

/** Column `n` of a row-major [rows, cols] matrix. */
function column(down: Float32Array, rows: number, cols: number, n: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) out[r] = down[r * cols + n]!;
  return out;
}

/**
 * What each neuron writes onto a direction: its mean activation times its down-projection
 * column dotted with the unit direction.
 */
export function directWrite(means: Float64Array, down: Float32Array, dModel: number, direction: Float32Array): NeuronScore[] {
  const width = means.length;
  const norm = Math.hypot(...direction);
  if (!(norm > 0)) throw new Error('direction has no length');
  const out: NeuronScore[] = [];
  for (let n = 0; n < width; n++) {
    const col = column(down, dModel, width, n);
    let dot = 0;
    for (let r = 0; r < dModel; r++) dot += col[r]! * direction[r]!;
    out.push({ neuron: n, score: (means[n]! * dot) / norm });
  }
  return sortByMagnitude(out);
}

/**
 * Neurons by how much what they write changed from a base to a tuned checkpoint on the same
 * contexts: |mean_t · w_t − mean_b · w_b| (w: the neuron's down-projection column), which sees
 * an edit to the neuron's input weights (its activation moves) and to its output weights alike.
 */
export function rankByChange(base: { means: Float64Array; down: Float32Array }, tuned: { means: Float64Array; down: Float32Array }, dModel: number): NeuronScore[] {
  const width = base.means.length;
  if (tuned.means.length !== width) throw new Error('base and tuned layers differ in width');
  const out: NeuronScore[] = [];
  for (let n = 0; n < width; n++) {
    const wb = column(base.down, dModel, width, n);
    const wt = column(tuned.down, dModel, width, n);
    let ss = 0;
    for (let r = 0; r < dModel; r++) ss += (tuned.means[n]! * wt[r]! - base.means[n]! * wb[r]!) ** 2;
    out.push({ neuron: n, score: Math.sqrt(ss) });
  }
  return sortByMagnitude(out);
}

function sortByMagnitude(list: NeuronScore[]): NeuronScore[] {
  return list.sort((a, b) => {
    const fa = Number.isFinite(a.score);
    const fb = Number.isFinite(b.score);
    if (fa !== fb) return fa ? -1 : 1;
    return Math.abs(b.score) - Math.abs(a.score) || a.neuron - b.neuron;
  });
}
