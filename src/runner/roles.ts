// Who plays which part. Conditions, judges, attackers and interlocutors name a model
// by a model entry's `name`, its id as written, or any backend id (opened for the run).

import type { Suite } from '../suite/schema.js';
import type { Backend } from '../backends/types.js';

export type ModelRef = { kind: 'entry'; index: number } | { kind: 'extra'; id: string };

export function modelIdOf(m: Suite['models'][number]): string {
  if (typeof m === 'string') return m;
  return m.interventions ? `${m.id} + ${m.interventions}` : m.id;
}

/** A reference to a model entry (by name, display id or id), else a backend id of its own. */
export function resolveModelRef(suite: Pick<Suite, 'models'>, ref: string): ModelRef {
  const index = suite.models.findIndex((m) => (typeof m === 'string' ? m === ref : m.name === ref || modelIdOf(m) === ref));
  if (index >= 0) return { kind: 'entry', index };
  const byId = suite.models.findIndex((m) => typeof m !== 'string' && m.id === ref && !m.interventions);
  if (byId >= 0) return { kind: 'entry', index: byId };
  return { kind: 'extra', id: ref };
}

/** The backend id a model reference stands for (a model entry's id, or the reference itself). */
export function backendIdOf(suite: Pick<Suite, 'models'>, ref: string): string {
  const r = resolveModelRef(suite, ref);
  if (r.kind === 'extra') return r.id;
  const m = suite.models[r.index]!;
  return typeof m === 'string' ? m : m.id;
}

/** Every model reference a suite's probes make, with where it is made (for error messages). */
export function modelRefs(suite: Suite): { ref: string; path: (string | number)[] }[] {
  const out: { ref: string; path: (string | number)[] }[] = [];
  suite.judges.forEach((j, i) => out.push({ ref: j.model, path: ['judges', i, 'model'] }));
  suite.stickiness?.conditions.forEach((c, i) => {
    if (c.model) out.push({ ref: c.model, path: ['stickiness', 'conditions', i, 'model'] });
    if (c.default_model) out.push({ ref: c.default_model, path: ['stickiness', 'conditions', i, 'default_model'] });
  });
  if (suite.stickiness?.adaptive) out.push({ ref: suite.stickiness.adaptive.model, path: ['stickiness', 'adaptive', 'model'] });
  if (suite.consistency?.interlocutor) out.push({ ref: suite.consistency.interlocutor, path: ['consistency', 'interlocutor'] });
  suite.consistency?.models?.forEach((m, i) => out.push({ ref: m, path: ['consistency', 'models', i] }));
  return out;
}

/** Which backend played each part of a run, and whether it was the simulation: the run's label comes from this. */
export interface RunRole {
  role: string;
  backend: string;
  simulated: boolean;
}

export function runRoles(parts: Record<string, Pick<Backend, 'id' | 'simulated'> | undefined>): RunRole[] {
  return Object.entries(parts)
    .filter((e): e is [string, Pick<Backend, 'id' | 'simulated'>] => e[1] !== undefined)
    .map(([role, b]) => ({ role, backend: b.id, simulated: b.simulated }));
}
