// Two runs side by side: the same personas on two models, or under two conditions.
// Pure: takes two analyses, returns differences (B − A) with 95% intervals.
//
// The two runs are independent samples, so a difference's interval combines the two
// estimates' own intervals under a normal approximation: se = (hi − lo) / (2 · 1.96),
// se(B − A) = sqrt(se_A² + se_B²). Proportions (consistency rates) use the Wald
// standard error sqrt(p(1 − p)/n) of each side.

import { DOMAINS, type Domain } from '../instruments/types.js';
import type { RunAnalysis } from '../runner/run.js';
import type { Measure } from '../probes/stickiness.js';
import type { Estimate } from '../metrics/bootstrap.js';

/** An estimate's value and 95% bounds (the bootstrap's Estimate without its n). */
export type Interval = Pick<Estimate, 'value' | 'lo' | 'hi'>;

const Z = 1.959964;

const seOf = (e: Interval): number => (Number.isFinite(e.lo) && Number.isFinite(e.hi) ? (e.hi - e.lo) / (2 * Z) : Number.NaN);

/** B − A with a 95% interval from the two sides' intervals (independent runs). */
export function independentDifference(a: Interval, b: Interval): Interval {
  const value = b.value - a.value;
  const se = Math.hypot(seOf(a), seOf(b));
  return { value, lo: value - Z * se, hi: value + Z * se };
}

/** B − A for two proportions observed on na and nb trials (Wald interval). */
export function proportionDifference(pa: number, na: number, pb: number, nb: number): Interval {
  const value = pb - pa;
  const se = na > 0 && nb > 0 ? Math.sqrt((pa * (1 - pa)) / na + (pb * (1 - pb)) / nb) : Number.NaN;
  return { value, lo: value - Z * se, hi: value + Z * se };
}

export interface FidelityArmComparison {
  /** "model / method" of each side. */
  armA: string;
  armB: string;
  scores: { persona: string; domain: Domain; a: Interval; b: Interval; difference: Interval }[];
  mae: { persona: string; a: Interval; b: Interval; difference: Interval; pullA: number | null; pullB: number | null }[];
}

export interface StickinessComparison {
  persona: string;
  conditionA: string;
  conditionB: string;
  measure: Measure;
  a: Interval;
  b: Interval;
  difference: Interval;
}

export interface DialogueComparison {
  persona: string;
  metric: 'prompt-to-line' | 'line-to-line' | 'Q&A accuracy';
  a: number;
  b: number;
  difference: Interval;
}

export interface RunSide {
  runId: string;
  suiteName: string;
  models: string[];
  simulated: boolean;
}

export interface RunComparison {
  a: RunSide;
  b: RunSide;
  fidelity: FidelityArmComparison[];
  stickiness: StickinessComparison[];
  dialogue: DialogueComparison[];
  /** Personas present in only one of the runs (not compared). */
  unmatched: { a: string[]; b: string[] };
}

function arms(r: RunAnalysis) {
  return r.models.flatMap((m) => m.methods.map((report) => ({ name: `${m.model} / ${report.method}`, report })));
}

export function compareRuns(A: RunAnalysis, B: RunAnalysis): RunComparison {
  // Arms (model × method) pair in order: a suite run on two models lines up method by method.
  const armsA = arms(A);
  const armsB = arms(B);
  const fidelity: FidelityArmComparison[] = [];
  for (let i = 0; i < Math.min(armsA.length, armsB.length); i++) {
    const ra = armsA[i]!.report;
    const rb = armsB[i]!.report;
    const scores: FidelityArmComparison['scores'] = [];
    const mae: FidelityArmComparison['mae'] = [];
    for (const pa of ra.personas) {
      const pb = rb.personas.find((p) => p.personaId === pa.personaId);
      if (!pb) continue;
      for (const d of DOMAINS) scores.push({ persona: pa.personaId, domain: d, a: pa.measured[d], b: pb.measured[d], difference: independentDifference(pa.measured[d], pb.measured[d]) });
      mae.push({ persona: pa.personaId, a: pa.mae, b: pb.mae, difference: independentDifference(pa.mae, pb.mae), pullA: pa.defaultPull, pullB: pb.defaultPull });
    }
    fidelity.push({ armA: armsA[i]!.name, armB: armsB[i]!.name, scores, mae });
  }

  // Stickiness conditions pair by persona and method, else by persona alone.
  const stickiness: StickinessComparison[] = [];
  const condsB = B.stickiness?.conditions ?? [];
  for (const ca of A.stickiness?.conditions ?? []) {
    const cb = condsB.find((c) => c.persona === ca.persona && c.method === ca.method) ?? condsB.find((c) => c.persona === ca.persona);
    if (!cb) continue;
    for (const ma of ca.measures) {
      const mb = cb.measures.find((m) => m.measure === ma.measure);
      if (mb) stickiness.push({ persona: ca.persona, conditionA: ca.id, conditionB: cb.id, measure: ma.measure, a: ma.realization, b: mb.realization, difference: independentDifference(ma.realization, mb.realization) });
    }
  }

  const dialogue: DialogueComparison[] = [];
  for (const da of A.consistency?.dialogue ?? []) {
    const db = B.consistency?.dialogue?.find((d) => d.persona === da.persona);
    if (!db) continue;
    dialogue.push({ persona: da.persona, metric: 'prompt-to-line', a: da.promptToLine.value, b: db.promptToLine.value, difference: proportionDifference(da.promptToLine.value, da.promptToLine.lines, db.promptToLine.value, db.promptToLine.lines) });
    dialogue.push({ persona: da.persona, metric: 'line-to-line', a: da.lineToLine.value, b: db.lineToLine.value, difference: proportionDifference(da.lineToLine.value, da.lineToLine.pairs, db.lineToLine.value, db.lineToLine.pairs) });
    if (da.qa && db.qa) dialogue.push({ persona: da.persona, metric: 'Q&A accuracy', a: da.qa.accuracy, b: db.qa.accuracy, difference: proportionDifference(da.qa.accuracy, da.qa.asked - da.qa.unparsed, db.qa.accuracy, db.qa.asked - db.qa.unparsed) });
  }

  const idsA = new Set(A.overview.personas.map((p) => p.id));
  const idsB = new Set(B.overview.personas.map((p) => p.id));
  const side = (r: RunAnalysis): RunSide => ({ runId: r.runId, suiteName: r.suiteName, models: r.overview.models, simulated: r.simulated });
  return {
    a: side(A),
    b: side(B),
    fidelity,
    stickiness,
    dialogue,
    unmatched: { a: [...idsA].filter((id) => !idsB.has(id)), b: [...idsB].filter((id) => !idsA.has(id)) },
  };
}
