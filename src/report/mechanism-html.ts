// Pages for the mechanism commands: persona-vector separation per layer, projection
// trajectories, steering-effect curves, and the role map with the Assistant axis.
// Self-contained HTML with Vega-Lite SVG; every text from a model or a file is escaped.

import type { ExtractionResult, MonitorRow, SweepRow } from '../probes/vectors.js';
import type { AxisResult } from '../probes/axis.js';
import { DEFAULT_ROLE } from '../probes/axis.js';
import { projectionSpec, renderSvg, roleMapSpec, separationSpec, sweepSpec } from './charts.js';
import { escapeHtml, f2, num, table } from './html-parts.js';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem;max-width:1200px}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

const figure = (label: string, svg: string) => `<figure role="img" aria-label="${escapeHtml(label)}">${svg}</figure>`;

export async function vectorsPage(r: Pick<ExtractionResult, 'trait' | 'model' | 'layers' | 'recommendedLayer' | 'counts' | 'runId'>): Promise<string> {
  const rows = r.layers.flatMap((l) => [{ layer: l.layer, method: 'difference of means', d: l.separation }, ...(l.separationPca !== undefined ? [{ layer: l.layer, method: 'PCA of paired differences', d: l.separationPca }] : [])]);
  const svg = await renderSvg(separationSpec(rows, `Separation per layer: ${r.trait}`));
  return page(`persona vectors: ${r.trait}`, `<p>Model <code>${escapeHtml(r.model)}</code>, run <code>${escapeHtml(r.runId)}</code>. Recommended layer: <strong>${r.recommendedLayer}</strong>. Answers ${r.counts.answers}; kept ${r.counts.kept.positive} positive / ${r.counts.kept.negative} negative; held out ${r.counts.heldOut.positive} / ${r.counts.heldOut.negative}; unparsable judgments ${r.counts.judgeFailures}.</p>
${figure(`Separation of held-out answers per layer for ${r.trait}`, svg)}
${table(['Layer', '|v|', "Cohen's d (held out)", "PCA Cohen's d"], r.layers.map((l) => [String(l.layer), f2(l.norm), f2(l.separation), f2(l.separationPca)]))}`);
}

export async function monitorPage(rows: MonitorRow[], title: string): Promise<string> {
  const svg = await renderSvg(projectionSpec(rows.map((r) => ({ series: `${r.vector}@${r.layer}`, turn: r.turn, value: r.projection })), title));
  return page(title, `${figure('Projection of each assistant turn onto each persona vector', svg)}${table(['Turn', 'Message', 'Vector', 'Layer', 'Projection'], rows.map((r) => [String(r.turn), String(r.message), escapeHtml(r.vector), String(r.layer), f2(r.projection)]))}`);
}

export async function sweepPage(rows: SweepRow[], title: string): Promise<string> {
  const long = rows.flatMap((r) => [
    ...(['O', 'C', 'E', 'A', 'N'] as const).map((d) => ({ layer: String(r.layer), coef: r.coef, metric: `inventory ${d} (1..5)`, value: r.inventory[d] })),
    ...(r.judge ? [{ layer: String(r.layer), coef: r.coef, metric: 'judged trait (0..100)', value: r.judge.mean }] : []),
    { layer: String(r.layer), coef: r.coef, metric: 'perplexity of neutral text', value: r.perplexity },
  ]);
  const svg = await renderSvg(sweepSpec(long, title));
  return page(title, `${figure('Steering-effect curves per coefficient and layer', svg)}${table(['Layer', 'Coefficient', 'O', 'C', 'E', 'A', 'N', 'Judged trait', 'Perplexity'], rows.map((r) => [String(r.layer), f2(r.coef), ...(['O', 'C', 'E', 'A', 'N'] as const).map((d) => f2(r.inventory[d])), r.judge ? `${f2(r.judge.mean)} (${r.judge.parsed} parsed, ${r.judge.failed} failed)` : '—', num(r.perplexity)]))}`);
}

export async function axisPage(r: Pick<AxisResult, 'model' | 'roles' | 'layers' | 'map' | 'runId'>, layer?: number): Promise<string> {
  const shown = layer ?? r.layers[Math.floor(r.layers.length / 2)]!.layer;
  const points = (r.map[shown] ?? []).map((p) => ({ ...p, kind: p.id === DEFAULT_ROLE ? 'default assistant' : 'role' }));
  const def = points.find((p) => p.kind === 'default assistant');
  const svg = await renderSvg(roleMapSpec(points, { pc1: def?.pc1 ?? 0, pc2: def?.pc2 ?? 0 }, `Role map at layer ${shown}`));
  return page('Assistant axis', `<p>Model <code>${escapeHtml(r.model)}</code>, ${r.roles.length} roles, run <code>${escapeHtml(r.runId)}</code>.</p>
${figure(`Roles on the top two principal components at layer ${shown}, with the Assistant axis`, svg)}
${table(['Layer', '|axis|', 'cos(axis, PC1)', 'Variance explained PC1..PC5'], r.layers.map((l) => [String(l.layer), f2(l.norm), f2(l.cosinePc1), l.explained.map((x) => f2(x)).join(' ')]))}`);
}
