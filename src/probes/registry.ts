// Every probe, in the order they run, are analyzed and are shown. A probe's analysis may
// read the results of those before it (norms reads fidelity's). Adding a probe: write its
// file (see probe.ts) and add it here.

import { consistencyProbe } from './consistency-probe.js';
import { fidelityProbe } from './fidelity-probe.js';
import { normsProbe } from './norms-probe.js';
import type { Suite } from '../suite/schema.js';
import type { AnyProbe, ProbeKey, ProbeResults, ResultOf } from './probe.js';
import { stickinessProbe } from './stickiness-probe.js';
import { twinsProbe } from './twins-probe.js';

const registered: AnyProbe[] = [fidelityProbe, stickinessProbe, consistencyProbe, twinsProbe, normsProbe];

/** Every probe, in registry order. */
export const PROBES: readonly AnyProbe[] = registered;

/**
 * Add a probe after the built-in ones (a library user's own probe; its block goes under the
 * suite's `probes:` and is checked by its schema). A key or block already taken is refused.
 */
export function registerProbe(probe: AnyProbe): void {
  const taken = registered.find((p) => p.key === probe.key || p.block === probe.block);
  if (taken) throw new Error(`registerProbe: ${probe.key} (block ${probe.block}) collides with the registered probe ${taken.key} (block ${taken.block})`);
  if (!probe.schema) throw new Error(`registerProbe: ${probe.key} has no schema for its block under probes.${probe.block}`);
  registered.push(probe);
}

/** One problem with a suite's `probes:` blocks: its path in the suite and what is wrong; undefined when all are valid. */
export function probeBlockIssue(suite: Suite): { path: (string | number)[]; message: string } | undefined {
  for (const [block, value] of Object.entries(suite.probes ?? {})) {
    const probe = registered.find((p) => p.block === block && p.schema);
    if (!probe?.schema) return { path: ['probes', block], message: `no registered probe has the block ${block} (registered: ${registered.filter((p) => p.schema).map((p) => p.block).join(', ') || 'none'})` };
    const r = probe.schema.safeParse(value);
    if (!r.success) return { path: ['probes', block, ...r.error.issues[0]!.path.map((k) => (typeof k === 'symbol' ? String(k) : k))], message: r.error.issues[0]!.message };
  }
  return undefined;
}

/** The probes an analysis holds a result for, in registry order, each with its result. */
export function withResults(results: Readonly<Partial<ProbeResults>>): { probe: AnyProbe; result: ResultOf<ProbeKey> }[] {
  return PROBES.flatMap((probe) => {
    const result = results[probe.key];
    return result === undefined || result === null ? [] : [{ probe, result }];
  });
}
