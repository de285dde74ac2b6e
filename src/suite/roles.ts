// Who plays which part. Conditions, judges, attackers and interlocutors name a model
// by a model entry's `name`, its id as written, or any backend id (opened for the run).

import { z } from 'zod';
import type { Suite } from './schema.js';
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

/** How a stored run's roles decode. */
export const runRoleSchema = z.object({ role: z.string(), backend: z.string(), simulated: z.boolean(), constructed: z.string().optional() });

/** Which backend played each part of a run, and whether it was the simulation: the run's label comes from this. */
export interface RunRole {
  role: string;
  backend: string;
  simulated: boolean;
  /** For a constructed (glass-box) model: what it is. */
  constructed?: string;
}

type RoleBackend = Pick<Backend, 'id' | 'simulated' | 'constructed'>;

export function runRoles(parts: Record<string, RoleBackend | undefined>): RunRole[] {
  return Object.entries(parts)
    .filter((e): e is [string, RoleBackend] => e[1] !== undefined)
    .map(([role, b]) => ({ role, backend: b.id, simulated: b.simulated, ...(b.constructed ? { constructed: b.constructed } : {}) }));
}

/** One line per constructed backend among the roles ("CONSTRUCTED MODEL: ..."), for every output to carry. */
export function constructedLines(roles: readonly RunRole[] | undefined): string[] {
  const seen = new Map<string, { note: string; parts: string[] }>();
  for (const r of roles ?? []) {
    if (!r.constructed) continue;
    const entry = seen.get(r.backend) ?? { note: r.constructed, parts: [] };
    entry.parts.push(r.role);
    seen.set(r.backend, entry);
  }
  return [...seen].map(([backend, e]) => `CONSTRUCTED MODEL: ${backend} (${e.parts.join(', ')}) is ${e.note}.`);
}

/** The roles of a suite run: each model entry, then every other backend by the parts it plays (judge, attacker, ...). */
export function suiteRoles(suite: Suite, models: readonly RoleBackend[], extras: ReadonlyMap<string, RoleBackend>): RunRole[] {
  const parts: Record<string, RoleBackend> = {};
  suite.models.forEach((m, i) => (parts[`model ${typeof m === 'string' ? m : (m.name ?? m.id)}`] = models[i]!));
  for (const { ref, path } of modelRefs(suite)) {
    const r = resolveModelRef(suite, ref);
    if (r.kind !== 'extra') continue;
    const backend = extras.get(r.id);
    if (backend) parts[`${roleName(path)} ${ref}`] = backend;
  }
  return runRoles(parts);
}

function roleName(path: (string | number)[]): string {
  const key = path.filter((p) => typeof p === 'string').join('.');
  return ({ 'judges.model': 'judge', 'stickiness.conditions.model': 'persona model', 'stickiness.conditions.default_model': 'default model', 'stickiness.adaptive.model': 'attacker', 'consistency.interlocutor': 'interlocutor', 'consistency.models': 'consistency model' } as Record<string, string>)[key] ?? key;
}
