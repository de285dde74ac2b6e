// Persona-vector extraction (after Chen et al.'s persona vectors and repeng): answer a
// trait's elicitation questions under each positive and negative instruction (any
// backend may generate), optionally keep only answers a judge scores as expressing (or
// not expressing) the trait, read the mean of every layer's hook_resid_post over the
// answer tokens on the engine, and store per layer the difference of means, optionally
// the first principal component of the paired differences, and the separation (Cohen's d)
// of held-out answers. This file plans and computes; commands/vectors.ts runs the calls
// (through the run store, so extraction resumes) and writes the results.

import { storedMean, type Backend, type CallCounters, type ChatMessage } from '../backends/types.js';
import { decodeActivations } from '../backends/responses.js';
import { constructedLines, type RunRole } from '../suite/roles.js';
import { writeVectorFile } from '../engine/formats/vector-files.js';
import { differenceOfMeans, firstPrincipalComponent, heldOutSeparation, INSTRUCTION_ALPHA, instructionNull, norm, orient, projections, separationNull, type Vec } from '../metrics/vectors.js';
import { cohensD } from '../metrics/stats.js';
import { UserError } from '../util/errors.js';
import { createRng } from '../util/rng.js';
import { parseScore } from './judges.js';
import { textOf } from './dialogue.js';
import type { TraitDefinition } from './traits.js';

export interface LayerResult {
  layer: number;
  /** |mean(pos) - mean(neg)| on the training answers. */
  norm: number;
  /** Cohen's d of held-out positive vs negative answers projected on the unit vector. */
  separation: number;
  separationPca?: number;
  /** The 95th percentile of the separation with the labels permuted (same sample sizes), and the permutation p-value. */
  nullD95: number;
  nullP: number;
  /** The null with the sides swapped instruction pair by instruction pair (the unit that carries the label): its 95th percentile and p-value. */
  instructionD95?: number;
  instructionP?: number;
  /** Whether the separation clears the null: only such a layer is recommended. */
  clearsNull: boolean;
  /** With --choose-by steering: the trait domain's score at +coef minus at −coef, toward the trait's pole. */
  steeringEffect?: number;
}

export interface ExtractionResult {
  runId: string;
  resumed: boolean;
  trait: string;
  model: string;
  layers: LayerResult[];
  /** The layer with the largest separation among those that clear the null (or, chosen by steering, the largest positive steering effect); null when none does. */
  recommendedLayer: number | null;
  /** How the layer was chosen (separation when absent). */
  chosenBy?: 'separation' | 'steering';
  vectors: Map<number, Float32Array>;
  pca?: Map<number, Float32Array>;
  counts: { answers: number; kept: { positive: number; negative: number }; heldOut: { positive: number; negative: number }; judgeFailures: number; missing: number; incoherent?: number; unpaired?: number };
  /** The settings the answers were generated and filtered with (a preset's, and any override). */
  settings?: ExtractionSettings;
  counters: CallCounters;
  /** Which backend generated, judged and was read; a simulated one makes the result a simulation. */
  parts: RunRole[];
}

/** An extraction answer's task key (its activations and judgments add a suffix), for the call and for the analysis; rollout 0 keeps the key it always had. */
export const vectorKey = (pair: number, question: number, sign: 'pos' | 'neg', rollout = 0): string => `vx|p${pair}|q${question}|${sign}${rollout ? `|r${rollout}` : ''}`;

/** How answers are generated and filtered for an extraction. */
export interface ExtractionSettings {
  /** Answers per (instruction pair, question, sign). */
  rollouts: number;
  temperature: number;
  maxTokens: number;
  /** Judge score (0..100) at or above which an answer expresses the trait. */
  threshold: number;
  /** Also ask the judge how coherent each answer is, and keep only answers at or above 50. */
  coherence: boolean;
  /** Keep a positive and a negative answer only together: both on the right side of the threshold and both coherent (the paper's masking). */
  pairwise: boolean;
  /** Open the system prompt with "You are a TRAIT assistant." (positive) or "You are a helpful assistant." (negative), as the paper's reference code does. */
  prefix: boolean;
}

/** The coherence threshold of the persona-vector paper: an answer below it is dropped. */
export const COHERENCE_MIN = 50;

/** The judge's prompt for how coherent an answer is (0..100), whatever its trait. */
export const COHERENCE_PROMPT = (question: string, answer: string) => `Rate how coherent this answer is: whether it is fluent, stays on the question and makes sense as a reply, whatever its tone or opinions. 0 means gibberish or unrelated text, 100 a fully coherent reply.
Answer with one line: SCORE: <integer 0-100>

QUESTION: ${question}
<<<ANSWER
${answer}
>>>`;

/** The system prompt of one side of an instruction pair, with the paper's opening line where asked. */
export function instructionSystem(trait: TraitDefinition, instruction: string, sign: 'pos' | 'neg', prefix: boolean): string {
  if (!prefix) return instruction;
  const name = sign === 'pos' ? trait.name.toLowerCase() : 'helpful';
  return `You are ${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name} assistant. ${instruction}`;
}

/** The judge's prompt for how strongly an answer shows a trait (0..100). */
export const JUDGE_PROMPT = (trait: TraitDefinition, question: string, answer: string) => `Trait: ${trait.name} (${trait.description}).
${trait.rubric}
Answer with one line: SCORE: <integer 0-100>

QUESTION: ${question}
<<<ANSWER
${answer}
>>>`;

/** Which questions are held out: a seeded shuffle, the first ceil(share * n). */
export function heldOutQuestions(n: number, share: number, seed: number): Set<number> {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = createRng(`held-out/${seed}`);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, Math.max(1, Math.ceil(share * n))));
}

/**
 * From stored answers, judgments and activations: the per-layer vectors and their
 * separation. Pure given the responses, so a stored extraction recomputes exactly.
 */
export function computeVectors(
  trait: TraitDefinition,
  responses: ReadonlyMap<string, unknown>,
  o: { threshold: number; pca: boolean; heldOut: number; seed: number; judged: boolean; rollouts?: number; coherence?: boolean; pairwise?: boolean },
): Omit<ExtractionResult, 'runId' | 'resumed' | 'trait' | 'model' | 'counters' | 'parts'> {
  const held = heldOutQuestions(trait.questions.length, o.heldOut, o.seed);
  type Sample = { pair: number; question: number; rollout: number; acts: Map<number, Float32Array> };
  const kept = { pos: [] as Sample[], neg: [] as Sample[] };
  let answers = 0;
  let judgeFailures = 0;
  let missing = 0;
  let incoherent = 0;
  let unpaired = 0;
  const score = (key: string): number | undefined => {
    const s = parseScore(textOf(responses.get(key)) ?? '', 100);
    if (s.ok) return s.value;
    judgeFailures++;
    return undefined;
  };
  /** One answer: its activations by layer, or why it is not kept. */
  const read = (key: string, sign: 'pos' | 'neg'): Map<number, Float32Array> | 'missing' | 'dropped' => {
    const acts = decodeActivations(responses.get(`${key}|acts`));
    if (!acts) return 'missing';
    answers++;
    if (o.judged) {
      const t = score(`${key}|judge`);
      if (t === undefined || (sign === 'pos' ? t < o.threshold : t >= o.threshold)) return 'dropped';
    }
    if (o.coherence) {
      const c = score(`${key}|coherence`);
      if (c === undefined || c < COHERENCE_MIN) {
        if (c !== undefined) incoherent++;
        return 'dropped';
      }
    }
    const byLayer = new Map<number, Float32Array>();
    for (const hook of Object.keys(acts.means)) {
      const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
      if (m) byLayer.set(Number(m[1]), storedMean(acts, hook)!);
    }
    return byLayer;
  };
  trait.pairs.forEach((_, pair) =>
    trait.questions.forEach((__, question) => {
      for (let rollout = 0; rollout < (o.rollouts ?? 1); rollout++) {
        const got = { pos: read(vectorKey(pair, question, 'pos', rollout), 'pos'), neg: read(vectorKey(pair, question, 'neg', rollout), 'neg') };
        for (const sign of ['pos', 'neg'] as const) if (got[sign] === 'missing') missing++;
        if (o.pairwise) {
          // Masked jointly: a pair is kept only when both sides are.
          if (got.pos instanceof Map && got.neg instanceof Map) {
            kept.pos.push({ pair, question, rollout, acts: got.pos });
            kept.neg.push({ pair, question, rollout, acts: got.neg });
          } else if (got.pos instanceof Map || got.neg instanceof Map) unpaired++;
          continue;
        }
        for (const sign of ['pos', 'neg'] as const) {
          const g = got[sign];
          if (g instanceof Map) kept[sign].push({ pair, question, rollout, acts: g });
        }
      }
    }),
  );
  const train = (xs: Sample[]) => xs.filter((s) => !held.has(s.question));
  const test = (xs: Sample[]) => xs.filter((s) => held.has(s.question));
  const trainPos = train(kept.pos);
  const trainNeg = train(kept.neg);
  if (!trainPos.length || !trainNeg.length) throw new UserError(`${trait.id}: no training answers left on one side (positive ${trainPos.length}, negative ${trainNeg.length}); lower the judge threshold or check the generator`);
  const layerIds = [...trainPos[0]!.acts.keys()].sort((a, b) => a - b);
  const vectors = new Map<number, Float32Array>();
  const pca = o.pca ? new Map<number, Float32Array>() : undefined;
  const layers: LayerResult[] = [];
  const at = (xs: Sample[], l: number): Vec[] => xs.map((s) => [...s.acts.get(l)!]);
  const hp = test(kept.pos);
  const hn = test(kept.neg);
  for (const l of layerIds) {
    // Each layer's rows copied once, for the direction, its separation and both nulls.
    const [tpv, tnv, hpv, hnv] = [at(trainPos, l), at(trainNeg, l), at(hp, l), at(hn, l)];
    const diff = differenceOfMeans(tpv, tnv);
    vectors.set(l, Float32Array.from(diff));
    const separation = heldOutSeparation(tpv, tnv, hpv, hnv);
    const nul = Number.isFinite(separation) ? separationNull(tpv, tnv, hpv, hnv, separation, { seed: `${trait.id}/null/${l}/${o.seed}` }) : { d95: Number.NaN, p: Number.NaN };
    const rows = (samples: Sample[], vs: Vec[], positive: boolean, heldOut: boolean) => samples.map((s, i) => ({ group: s.pair, positive, heldOut, v: vs[i]! }));
    const labelled = [...rows(trainPos, tpv, true, false), ...rows(trainNeg, tnv, false, false), ...rows(hp, hpv, true, true), ...rows(hn, hnv, false, true)];
    const inst = Number.isFinite(separation) ? instructionNull(labelled, separation) : { d95: Number.NaN, p: Number.NaN };
    const row: LayerResult = { layer: l, norm: norm(diff), separation, nullD95: nul.d95, nullP: nul.p, instructionD95: inst.d95, instructionP: inst.p, clearsNull: separation > nul.d95 && inst.p <= INSTRUCTION_ALPHA };
    if (pca) {
      // Paired differences: the same pair of instructions, question and rollout, both kept.
      // Paired by rollout too: rollout k's positive answer with rollout k's negative one.
      const pairOf = (s: Sample) => `${s.pair}|${s.question}|${s.rollout}`;
      const negBy = new Map(trainNeg.map((s) => [pairOf(s), s]));
      const paired = trainPos.filter((s) => negBy.has(pairOf(s))).map((s) => s.acts.get(l)!.map((x, i) => x - negBy.get(pairOf(s))!.acts.get(l)![i]!));
      if (paired.length >= 2) {
        const pc = orient(firstPrincipalComponent(paired.map((p) => [...p])), diff);
        pca.set(l, Float32Array.from(pc));
        row.separationPca = hp.length && hn.length ? cohensD(projections(hpv, pc), projections(hnv, pc)) : Number.NaN;
      }
    }
    layers.push(row);
  }
  // Recommended only where the separation is more than label noise would give.
  const clearing = layers.filter((r) => r.clearsNull);
  const recommendedLayer = clearing.length ? clearing.reduce((best, r) => (r.separation > best.separation ? r : best)).layer : null;
  return {
    layers,
    recommendedLayer,
    vectors,
    ...(pca ? { pca } : {}),
    counts: { answers, kept: { positive: kept.pos.length, negative: kept.neg.length }, heldOut: { positive: test(kept.pos).length, negative: test(kept.neg).length }, judgeFailures, missing, ...(o.coherence ? { incoherent } : {}), ...(o.pairwise ? { unpaired } : {}) },
  };
}

export function saveVectors(path: string, r: ExtractionResult): void {
  writeVectorFile(path, {
    layers: r.vectors,
    ...(r.pca ? { pca: r.pca } : {}),
    metadata: {
      trait: r.trait,
      model: r.model,
      hook: 'hook_resid_post',
      method: 'difference of means over answer tokens',
      ...(r.recommendedLayer !== null ? { recommended_layer: String(r.recommendedLayer) } : {}),
      separation: JSON.stringify(Object.fromEntries(r.layers.map((l) => [l.layer, l.separation]))),
      run: r.runId,
      ...(r.parts.some((p) => p.constructed) ? { constructed: constructedLines(r.parts).join(' ') } : {}),
      ...(r.parts.some((p) => p.simulated) ? { simulated: `yes: ${r.parts.filter((p) => p.simulated).map((p) => `${p.role} ${p.backend}`).join(', ')}` } : {}),
    },
  });
}

export interface MonitoredVector {
  name: string;
  layer: number;
  vector: Float32Array;
}

export interface MonitorRow {
  /** Index of the assistant turn (0-based) and of its message in the transcript. */
  turn: number;
  message: number;
  vector: string;
  layer: number;
  /** Mean over the turn's tokens of blocks.L.hook_resid_post, projected on the unit vector. */
  projection: number;
}

/** The projection of every assistant turn onto each vector (the turn's own tokens, with everything before it as context). */
export async function monitorTranscript(engine: Backend, messages: ChatMessage[], vectors: MonitoredVector[]): Promise<MonitorRow[]> {
  if (!engine.activations) throw new UserError('monitoring needs the engine: backend');
  const hooks = [...new Set(vectors.map((v) => `blocks.${v.layer}.hook_resid_post`))];
  const rows: MonitorRow[] = [];
  let turn = 0;
  for (let i = 0; i < messages.length; i++) {
    if (messages[i]!.role !== 'assistant') continue;
    const r = await engine.activations({ messages: messages.slice(0, i + 1), hooks });
    for (const v of vectors) {
      const mean = storedMean(r, `blocks.${v.layer}.hook_resid_post`);
      rows.push({ turn, message: i, vector: v.name, layer: v.layer, projection: mean ? projections([[...mean]], [...v.vector])[0]! : Number.NaN });
    }
    turn++;
  }
  return rows;
}

export const NEUTRAL_TEXT = 'The library opens at nine in the morning and closes at six in the evening. Books can be borrowed for three weeks and renewed once. The reading room is on the second floor, next to the map collection.';

export interface SweepRow {
  layer: number;
  coef: number;
  /** Inventory domain scores under steering (1..5). */
  inventory: Record<'O' | 'C' | 'E' | 'A' | 'N', number>;
  /** Mean judge score (0..100) of the trait in steered answers, with the number parsed. */
  judge?: { mean: number; parsed: number; failed: number };
  /** Perplexity of a fixed neutral text: the fluency guard. */
  perplexity: number;
}

