// Pages for the mechanism commands: persona-vector separation per layer, projection
// trajectories, steering-effect curves, and the role map with the Assistant axis.
// Self-contained HTML with Vega-Lite SVG; every text from a model or a file is escaped.

import type { ExtractionResult, MonitorRow, SweepRow } from '../probes/vectors.js';
import type { AxisResult } from '../probes/axis.js';
import type { DriftResult, FamilyDrift } from '../commands/drift.js';
import { DEFAULT_ROLE } from '../probes/axis.js';
import type { RunStore } from '../store/store.js';
import { z } from 'zod';
import { constructedLines, runRoleSchema, type RunRole } from '../suite/roles.js';
import { UserError } from '../util/errors.js';
import { projectionSpec, roleMapSpec, separationSpec, sweepSpec } from '../present/charts.js';
import { chartFigure, escapeHtml, f2, htmlDocument, num, table, type Page } from '../present/html.js';
import { f3 } from '../present/text.js';

function decoded<T>(value: T | undefined, render: (v: T) => Promise<Page>): Promise<Page> | undefined {
  return value === undefined ? undefined : render(value);
}

/** A banner naming the parts of a mechanism run the simulation played (its numbers come from placeholder text, not a model). */
export function simulationNote(parts: readonly RunRole[] | undefined): string {
  const simulated = (parts ?? []).filter((p) => p.simulated);
  const constructed = constructedLines(parts).map((line) => `<p class="warn" role="note">${escapeHtml(line)}</p>`).join('');
  if (!simulated.length) return constructed;
  return `${constructed}<p class="warn" role="note"><strong>SIMULATION</strong>: ${simulated.map((p) => `the ${escapeHtml(p.role)} (<code>${escapeHtml(p.backend)}</code>)`).join(' and ')} ${simulated.length > 1 ? 'are' : 'is'} the simulated panel, not a language model: these numbers are computed from its placeholder text.</p>`;
}

export async function vectorsPage(r: Pick<ExtractionResult, 'trait' | 'model' | 'layers' | 'recommendedLayer' | 'counts' | 'runId'> & { parts?: RunRole[] }): Promise<Page> {
  const rows = r.layers.flatMap((l) => [{ layer: l.layer, method: 'difference of means', d: l.separation }, ...(l.separationPca !== undefined ? [{ layer: l.layer, method: 'PCA of paired differences', d: l.separationPca }] : [])]);
  const chart = await chartFigure(separationSpec(rows, `Separation per layer: ${r.trait}`), `Separation of held-out answers per layer for ${escapeHtml(r.trait)}: the layer where the vector reads the trait best.`);
  return {
    title: `persona vectors: ${r.trait}`,
    body: `${simulationNote(r.parts)}<p>Model <code>${escapeHtml(r.model)}</code>, run <code>${escapeHtml(r.runId)}</code>. Recommended layer: <strong>${r.recommendedLayer ?? 'none (no separation cleared both nulls)'}</strong>. Answers ${r.counts.answers}; kept ${r.counts.kept.positive} positive / ${r.counts.kept.negative} negative; held out ${r.counts.heldOut.positive} / ${r.counts.heldOut.negative}; unparsable judgments ${r.counts.judgeFailures}.</p>
${chart}<p>Layer L is <code>blocks.L.hook_resid_post</code>, the output of block L: Hugging Face's <code>hidden_states[L + 1]</code>, the numbering the persona-vector and Assistant-axis papers use.</p>${table(['Layer (blocks.L)', 'hidden_states index (papers)', '|v|', "Cohen's d (held out)", 'Null 95% (answers shuffled)', 'p (sides swapped pair by pair)', 'Clears both nulls', "PCA Cohen's d", 'Steering effect'], r.layers.map((l) => [String(l.layer), String(l.layer + 1), f2(l.norm), f2(l.separation), f2(l.nullD95), f3(l.instructionP), l.clearsNull === undefined ? '—' : l.clearsNull ? 'yes' : 'no', f2(l.separationPca), f2(l.steeringEffect)]))}`,
  };
}

export async function monitorPage(rows: MonitorRow[], title: string): Promise<Page> {
  const chart = await chartFigure(projectionSpec(rows.map((r) => ({ series: `${r.vector}@${r.layer}`, turn: r.turn, value: r.projection })), title), 'Projection of each assistant turn onto each persona vector: a trajectory drifting down is the persona fading.');
  return { title, body: `${chart}${table(['Turn', 'Message', 'Vector', 'Layer', 'Projection'], rows.map((r) => [String(r.turn), String(r.message), escapeHtml(r.vector), String(r.layer), f2(r.projection)]))}` };
}

export async function driftPage(r: Pick<DriftResult, 'runId' | 'source' | 'model' | 'points' | 'families'> & { parts?: RunRole[] }): Promise<Page> {
  const vectors = [...new Set(r.points.map((p) => `${p.vector}@${p.layer}`))];
  const charts: string[] = [];
  for (const v of vectors) {
    const rows = r.points.filter((p) => `${p.vector}@${p.layer}` === v).map((p) => ({ series: `${p.condition} / ${p.family}`, turn: p.turn, value: p.projection }));
    charts.push(await chartFigure(projectionSpec(rows, `Drift along ${v}, per condition and attack family`), `Mean projection of each assistant turn onto ${escapeHtml(v)}, over the conversations of each condition and attack family (turn 0 is the opening).`));
  }
  const paper = r.families.filter((f) => f.paperDriftFamily);
  const others = r.families.filter((f) => !f.paperDriftFamily);
  const mean = (xs: readonly FamilyDrift[]) => (xs.length ? xs.reduce((s, f) => s + f.drift, 0) / xs.length : Number.NaN);
  const comparison = paper.length && others.length
    ? `<p>The Assistant-axis paper reports that emotional and meta-reflective conversations drift most. Here, the mean drift (last turn − opening) of those families (${[...new Set(paper.map((f) => f.family))].map(escapeHtml).join(', ')}) is ${f2(mean(paper))}, and of the others ${f2(mean(others))}: ${Math.abs(mean(paper)) > Math.abs(mean(others)) ? 'they move further, as the paper found' : 'they do not move further here'}.</p>`
    : '<p>The Assistant-axis paper reports that emotional and meta-reflective conversations drift most; this run does not hold both those families and others, so no comparison is made.</p>';
  return {
    title: `Drift in run ${r.source}`,
    body: `${simulationNote(r.parts)}<p>Every assistant turn of the stickiness conversations of run <code>${escapeHtml(r.source)}</code>, read on <code>${escapeHtml(r.model)}</code> (drift run <code>${escapeHtml(r.runId)}</code>).</p>
${comparison}${table(['Condition', 'Attack family', 'Vector', 'Drift (last turn − opening)', 'Paper: drifts most'], r.families.map((f) => [escapeHtml(f.condition), escapeHtml(f.family), escapeHtml(f.vector), f2(f.drift), f.paperDriftFamily ? 'yes' : '']))}
${charts.join('\n')}${table(['Condition', 'Attack family', 'Turn', 'Vector', 'Layer', 'Mean projection', 'Conversations'], r.points.map((p) => [escapeHtml(p.condition), escapeHtml(p.family), String(p.turn), escapeHtml(p.vector), String(p.layer), f2(p.projection), String(p.conversations)]))}`,
  };
}

export async function sweepPage(rows: SweepRow[], title: string, about?: string): Promise<Page> {
  const long = rows.flatMap((r) => [
    ...(['O', 'C', 'E', 'A', 'N'] as const).map((d) => ({ layer: String(r.layer), coef: r.coef, metric: `inventory ${d} (1..5)`, value: r.inventory[d] })),
    ...(r.judge ? [{ layer: String(r.layer), coef: r.coef, metric: 'judged trait (0..100)', value: r.judge.mean }] : []),
    { layer: String(r.layer), coef: r.coef, metric: 'log10 perplexity of neutral text', value: Math.log10(r.perplexity) },
  ]);
  const chart = await chartFigure(sweepSpec(long, title), 'Steering-effect curves per coefficient and layer, one panel per measure.');
  return { title, body: `${about ? `<p>${about}</p>` : ''}${chart}${table(['Layer', 'Coefficient', 'O', 'C', 'E', 'A', 'N', 'Judged trait', 'Perplexity'], rows.map((r) => [String(r.layer), f2(r.coef), ...(['O', 'C', 'E', 'A', 'N'] as const).map((d) => f2(r.inventory[d])), r.judge ? `${f2(r.judge.mean)} (${r.judge.parsed} parsed, ${r.judge.failed} failed)` : '—', num(r.perplexity)]))}` };
}

export async function axisPage(r: Pick<AxisResult, 'model' | 'roles' | 'layers' | 'map' | 'runId'> & { parts?: RunRole[] }, layer?: number): Promise<Page> {
  const shown = layer ?? r.layers[Math.floor(r.layers.length / 2)]!.layer;
  const points = (r.map[shown] ?? []).map((p) => ({ ...p, kind: p.id === DEFAULT_ROLE ? 'default assistant' : 'role' }));
  const def = points.find((p) => p.kind === 'default assistant');
  const chart = await chartFigure(roleMapSpec(points, { pc1: def?.pc1 ?? 0, pc2: def?.pc2 ?? 0 }, `Role map at layer ${shown}`), `Roles on the top two principal components at layer ${shown}; the red arrow is the Assistant axis, from the roles' mean to the default assistant.`);
  return {
    title: 'Assistant axis',
    body: `${simulationNote(r.parts)}<p>Model <code>${escapeHtml(r.model)}</code>, ${r.roles.length} roles, run <code>${escapeHtml(r.runId)}</code>.</p>
${chart}${table(['Layer', '|axis|', 'cos(axis, PC1)', 'Variance explained PC1..PC5'], r.layers.map((l) => [String(l.layer), f2(l.norm), f2(l.cosinePc1), l.explained.map((x) => f2(x)).join(' ')]))}`,
  };
}

/** What a sweep steered: the model, the vector file, the layers and the trait, from its stored run. */
function sweepAbout(store: RunStore, runId: string): string {
  const run = store.getRun(runId);
  const stored = sweepConfigSchema.safeParse(run?.config);
  const c: z.output<typeof sweepConfigSchema> = stored.success ? stored.data : {};
  return `Model <code>${escapeHtml(c.model ?? '?')}</code>, vector file <code>${escapeHtml(run?.suitePath ?? '?')}</code>, layer${(c.layers?.length ?? 0) > 1 ? 's' : ''} ${escapeHtml((c.layers ?? []).join(', '))} (blocks.L.hook_resid_post)${c.trait ? `, trait <code>${escapeHtml(c.trait)}</code>` : ''}; coefficients ${escapeHtml((c.coefs ?? []).join(', '))}.`;
}

/** A mechanism page as a self-contained file (the --html option of the commands). */
export const standalone = async (page: Promise<Page>): Promise<string> => htmlDocument(await page);

/** The stored result of a mechanism run (vectors, axis, sweep) as its page; undefined for a suite run. */
// How the stored results of mechanism runs decode (NaN is stored as null).
const storedNum = z.number().nullable().transform((v) => v ?? Number.NaN);
const vectorsResultSchema = z.object({
  runId: z.string(),
  trait: z.string(),
  model: z.string(),
  recommendedLayer: z.number().int().nullable(),
  layers: z.array(z.object({ layer: z.number().int(), norm: storedNum, separation: storedNum, separationPca: storedNum.optional(), nullD95: storedNum, nullP: storedNum, instructionD95: storedNum.optional(), instructionP: storedNum.optional(), clearsNull: z.boolean(), steeringEffect: storedNum.optional() })),
  counts: z.object({ answers: z.number(), kept: z.object({ positive: z.number(), negative: z.number() }), heldOut: z.object({ positive: z.number(), negative: z.number() }), judgeFailures: z.number(), missing: z.number() }),
});
const axisResultSchema = z.object({
  runId: z.string(),
  model: z.string(),
  roles: z.array(z.string()),
  layers: z.array(z.object({ layer: z.number().int(), explained: z.array(storedNum), cosinePc1: storedNum, norm: storedNum })),
  map: z.record(z.string(), z.array(z.object({ id: z.string(), pc1: storedNum, pc2: storedNum }))),
});
const sweepConfigSchema = z.object({ model: z.string().optional(), layers: z.array(z.number()).optional(), trait: z.string().nullable().optional(), coefs: z.array(z.number()).optional() });
const driftResultSchema = z.object({
  runId: z.string(),
  source: z.string(),
  model: z.string(),
  points: z.array(z.object({ condition: z.string(), family: z.string(), turn: z.number().int(), vector: z.string(), layer: z.number().int(), projection: storedNum, conversations: z.number().int() })),
  families: z.array(z.object({ condition: z.string(), family: z.string(), vector: z.string(), drift: storedNum, paperDriftFamily: z.boolean() })),
});
const profileSchema = z.object({ O: storedNum, C: storedNum, E: storedNum, A: storedNum, N: storedNum });
const sweepRowsSchema = z.array(z.object({ layer: z.number().int(), coef: z.number(), inventory: profileSchema, judge: z.object({ mean: storedNum, parsed: z.number(), failed: z.number() }).optional(), perplexity: storedNum }));

export async function storedMechanismPage(store: RunStore, runId: string, kind: string | undefined): Promise<Page | undefined> {
  const about = `Steering sweep (run ${runId})`;
  const pages: Record<string, () => Promise<Page> | undefined> = {
    'persona-vectors': () => decoded(store.getResult(runId, 'vectors', vectorsResultSchema), (r) => vectorsPage(r)),
    'assistant-axis': () => decoded(store.getResult(runId, 'axis', axisResultSchema), (r) => axisPage({ ...r, map: Object.fromEntries(Object.entries(r.map).map(([k, v]) => [Number(k), v])) })),
    'drift-monitor': () => decoded(store.getResult(runId, 'drift', driftResultSchema), (r) => driftPage(r)),
    'steering-sweep': () => decoded(store.getResult(runId, 'sweep', sweepRowsSchema), (rows) => sweepPage(rows, about, sweepAbout(store, runId))),
  };
  if (!kind || !pages[kind]) return undefined;
  const rendered = pages[kind]();
  if (rendered === undefined) throw new UserError(`run ${runId} (${kind}) has no stored result that this version can read: it did not finish, or an older version stored it. Run the same command again.`);
  const page = await rendered;
  // The parts each run's backends played, stored with it (runs from before this have none).
  const parts = store.getResult(runId, 'roles', z.array(runRoleSchema));
  const note = simulationNote(parts);
  return note && !page.body.startsWith(note) ? { ...page, body: `${note}${page.body}` } : page;
}
