// Drift along persona directions in stored conversations: every assistant turn of a stored
// stickiness run, projected on persona vectors or the Assistant axis (the mean of
// blocks.L.hook_resid_post over the turn's tokens, with everything before it as context),
// averaged per condition, attack family and turn; and per family, how far the projection moved
// from the opening to the last turn. The Assistant-axis paper reports that emotional and
// meta-reflective conversations drift most; the result says which families drift most for the
// model at hand. Stored as a run of its own, so the viewer shows it.

import { createBackend } from '../backends/registry.js';
import { decodeMessages } from '../backends/responses.js';
import type { ChatMessage } from '../backends/types.js';
import { textOf } from '../probes/dialogue.js';
import { monitorTranscript, type MonitoredVector } from '../probes/vectors.js';
import { analyzeRun } from '../runner/run.js';
import { RunStore } from '../store/store.js';
import { runRoles, type RunRole } from '../suite/roles.js';
import { UserError } from '../util/errors.js';
import { hashOf } from '../util/hash.js';

/** Families the Assistant-axis paper found to drift most (emotional and meta-reflective conversations). */
export const PAPER_DRIFT_FAMILIES = ['emotional-pressure', 'meta-reflection'];

export interface DriftPoint {
  condition: string;
  family: string;
  turn: number;
  vector: string;
  layer: number;
  /** Mean projection over the conversations that reached this turn. */
  projection: number;
  conversations: number;
}

export interface FamilyDrift {
  condition: string;
  family: string;
  vector: string;
  /** Mean projection at the last turn minus at the opening (turn 0). */
  drift: number;
  /** Whether the Assistant-axis paper names this family among those that drift most. */
  paperDriftFamily: boolean;
}

export interface DriftResult {
  runId: string;
  source: string;
  model: string;
  points: DriftPoint[];
  families: FamilyDrift[];
  parts: RunRole[];
}

export interface DriftOptions {
  outDir: string;
  /** The stored stickiness run whose conversations are projected. */
  run: string;
  model: string;
  vectors: MonitoredVector[];
  onProgress?: (done: number, total: number) => void;
}

export async function monitorRun(o: DriftOptions): Promise<DriftResult> {
  const store = new RunStore(o.outDir);
  try {
    if (!store.getRun(o.run)) throw new UserError(`no run ${o.run} in ${store.path} (persona-probe runs lists them)`);
    const analysis = analyzeRun(store, o.run);
    const st = analysis.stickiness;
    if (!st) throw new UserError(`run ${o.run} has no stickiness conversations to monitor`);
    const engine = await createBackend(o.model.startsWith('engine:') ? o.model : `engine:${o.model}`);
    if (!engine.capabilities.activations) throw new UserError(`${o.model}: monitoring needs the engine: backend`);
    // Each conversation in full, as the model saw it: the last stored reply's request (system prompt included) and the reply.
    const conversations: { condition: string; family: string; messages: ChatMessage[] }[] = [];
    const responses = store.taskResponses(o.run);
    for (const c of st.conditions) {
      for (const rec of c.conversations) {
        for (let t = st.turns; t >= 0; t--) {
          const key = `st|${c.id}|${rec.family}|c${rec.conversation}|t${t}|reply`;
          const messages = decodeMessages(store.taskRequest(o.run, key));
          const reply = textOf(responses.get(key));
          if (!messages || reply === undefined) continue;
          conversations.push({ condition: c.id, family: rec.family, messages: [...messages, { role: 'assistant', content: reply }] });
          break;
        }
      }
    }
    const sums = new Map<string, { point: Omit<DriftPoint, 'projection' | 'conversations'>; sum: number; n: number }>();
    let done = 0;
    for (const conv of conversations) {
      for (const row of await monitorTranscript(engine, conv.messages, o.vectors)) {
        if (!Number.isFinite(row.projection)) continue;
        const key = JSON.stringify([conv.condition, conv.family, row.turn, row.vector, row.layer]);
        const e = sums.get(key) ?? { point: { condition: conv.condition, family: conv.family, turn: row.turn, vector: row.vector, layer: row.layer }, sum: 0, n: 0 };
        e.sum += row.projection;
        e.n++;
        sums.set(key, e);
      }
      o.onProgress?.(++done, conversations.length);
    }
    const points: DriftPoint[] = [...sums.values()].map((e) => ({ ...e.point, projection: e.sum / e.n, conversations: e.n }));
    const families: FamilyDrift[] = [];
    for (const key of new Set(points.map((p) => JSON.stringify([p.condition, p.family, p.vector])))) {
      const [condition, family, vector] = JSON.parse(key) as [string, string, string];
      const series = points.filter((p) => p.condition === condition && p.family === family && p.vector === vector).sort((a, b) => a.turn - b.turn);
      if (series.length < 2 || series[0]!.turn !== 0) continue;
      families.push({ condition, family, vector, drift: series.at(-1)!.projection - series[0]!.projection, paperDriftFamily: PAPER_DRIFT_FAMILIES.includes(family) });
    }
    families.sort((a, b) => a.drift - b.drift);
    const parts = runRoles({ model: engine });
    const config = { kind: 'drift-monitor', run: o.run, model: engine.id, vectors: o.vectors.map((v) => ({ name: v.name, layer: v.layer, vector: hashOf([...v.vector]).slice(0, 16) })) };
    const runId = hashOf(config).slice(0, 12);
    store.startRun({ id: runId, suiteName: `drift:${o.run}`, suitePath: null, config, models: [engine.id], simulated: parts.some((p) => p.simulated) });
    const result: DriftResult = { runId, source: o.run, model: engine.id, points, families, parts };
    store.putResult(runId, 'roles', parts);
    store.putResult(runId, 'drift', result);
    store.finishRun(runId, 'complete');
    return result;
  } finally {
    store.close();
  }
}
