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

export interface ReportFiles {
  html: string;
  json: string;
  csv: string;
}

export async function writeReport(analysis: RunAnalysis, dir: string): Promise<ReportFiles> {
  mkdirSync(dir, { recursive: true });
  const files = { html: join(dir, 'report.html'), json: join(dir, 'results.json'), csv: join(dir, 'fidelity.csv') };
  writeFileSync(files.json, `${JSON.stringify(analysis, null, 2)}\n`);
  writeFileSync(files.csv, fidelityCsv(analysis));
  writeFileSync(files.html, await renderHtml(analysis));
  return files;
}
