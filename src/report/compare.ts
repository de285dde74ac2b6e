// Two runs side by side: the same personas on two models, or under two conditions.
// Pure: takes two analyses and asks every probe both ran for its differences (B − A, with
// 95% intervals: metrics/differences.ts).

import type { RunAnalysis } from '../runner/run.js';
import type { ProbeKey } from '../probes/probe.js';
import { withResults } from '../probes/registry.js';

export interface RunSide {
  runId: string;
  suiteName: string;
  models: string[];
  simulated: boolean;
}

export interface RunComparison {
  a: RunSide;
  b: RunSide;
  /** One entry per probe both runs hold with something to compare, in registry order. */
  parts: { probe: ProbeKey; title: string; differences: unknown }[];
  /** Personas present in only one of the runs (not compared). */
  unmatched: { a: string[]; b: string[] };
}

export function compareRuns(A: RunAnalysis, B: RunAnalysis): RunComparison {
  const parts: RunComparison['parts'] = [];
  const inB = new Map(withResults(B).map(({ probe, result }) => [probe.key, result]));
  for (const { probe, result } of withResults(A)) {
    const other = inB.get(probe.key);
    const differences = other === undefined ? undefined : probe.differences?.(result, other);
    if (differences !== undefined) parts.push({ probe: probe.key, title: probe.title, differences });
  }
  const idsA = new Set(A.overview.personas.map((p) => p.id));
  const idsB = new Set(B.overview.personas.map((p) => p.id));
  const side = (r: RunAnalysis): RunSide => ({ runId: r.runId, suiteName: r.suiteName, models: r.overview.models, simulated: r.simulated });
  return { a: side(A), b: side(B), parts, unmatched: { a: [...idsA].filter((id) => !idsB.has(id)), b: [...idsB].filter((id) => !idsA.has(id)) } };
}
