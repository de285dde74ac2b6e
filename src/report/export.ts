import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunAnalysis } from '../runner/run.js';
import { DOMAINS } from '../instruments/types.js';
import { renderHtml } from './html.js';

function csvCell(v: unknown): string {
  const s = v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v)) ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per model x method x persona x domain: the table researchers load into R or pandas. */
export function fidelityCsv(analysis: RunAnalysis): string {
  const header = ['run', 'simulated', 'model', 'method', 'persona', 'domain', 'target', 'measured', 'ci_lo', 'ci_hi', 'spread_sd', 'default_pull', 'mae'];
  const lines = [header.join(',')];
  for (const m of analysis.models)
    for (const r of m.methods)
      for (const p of r.personas)
        for (const d of DOMAINS)
          lines.push([analysis.runId, m.simulated, m.model, r.method, p.personaId, d, p.target[d], p.measured[d].value, p.measured[d].lo, p.measured[d].hi, p.spread[d], p.defaultPull, p.mae.value].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

/** One row per condition x measure x family x turn: the retention curves with their bands. */
export function retentionCsv(analysis: RunAnalysis): string {
  const header = ['run', 'simulated', 'condition', 'persona', 'model', 'method', 'measure', 'family', 'turn', 'retention', 'ci_lo', 'ci_hi', 'conversations', 'realization_index', 'ri_lo', 'ri_hi'];
  const lines = [header.join(',')];
  for (const c of analysis.stickiness?.conditions ?? [])
    for (const m of c.measures)
      for (const [family, curve, ri] of [['all', m.curve, m.realization] as const, ...m.byFamily.map((f) => [f.family, f.curve, f.realization] as const)])
        for (const p of curve) lines.push([analysis.runId, analysis.simulated, c.id, c.persona, c.model, c.method, m.measure, family, p.turn, p.mean, p.lo, p.hi, p.n, ri.value, ri.lo, ri.hi].map(csvCell).join(','));
  return `${lines.join('\n')}\n`;
}

export interface ReportFiles {
  html: string;
  json: string;
  csv: string;
  retentionCsv?: string;
}

export async function writeReport(analysis: RunAnalysis, dir: string): Promise<ReportFiles> {
  mkdirSync(dir, { recursive: true });
  const files = { html: join(dir, 'report.html'), json: join(dir, 'results.json'), csv: join(dir, 'fidelity.csv') };
  writeFileSync(files.json, `${JSON.stringify(analysis, null, 2)}\n`);
  writeFileSync(files.csv, fidelityCsv(analysis));
  writeFileSync(files.html, await renderHtml(analysis));
  if (!analysis.stickiness) return files;
  const retention = join(dir, 'retention.csv');
  writeFileSync(retention, retentionCsv(analysis));
  return { ...files, retentionCsv: retention };
}
