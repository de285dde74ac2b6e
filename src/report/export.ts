// A run's report files: the self-contained HTML page, the analysis as JSON, and each
// probe's CSV tables (the files researchers load into R or pandas).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunAnalysis } from '../runner/run.js';
import type { CsvFile } from '../probes/probe.js';
import { withResults } from '../probes/registry.js';
import { renderHtml } from './html.js';

/** Every CSV table of the run's probes. */
export function csvFiles(analysis: RunAnalysis): CsvFile[] {
  const files = withResults(analysis).flatMap(({ probe, result }) => probe.csv?.(result, analysis) ?? []);
  const names = new Set<string>();
  for (const f of files) {
    if (!/^[a-z0-9-]+\.csv$/.test(f.file) || names.has(f.file)) throw new Error(`probe CSV file name ${f.file}: must be [a-z0-9-]+.csv and unique in a run`);
    names.add(f.file);
  }
  return files;
}

export interface ReportFiles {
  html: string;
  json: string;
  /** One path per CSV table. */
  csv: string[];
}

export async function writeReport(analysis: RunAnalysis, dir: string): Promise<ReportFiles> {
  mkdirSync(dir, { recursive: true });
  const files: ReportFiles = { html: join(dir, 'report.html'), json: join(dir, 'results.json'), csv: [] };
  writeFileSync(files.json, `${JSON.stringify(analysis, null, 2)}\n`);
  for (const f of csvFiles(analysis)) {
    const path = join(dir, f.file);
    writeFileSync(path, f.text);
    files.csv.push(path);
  }
  writeFileSync(files.html, await renderHtml(analysis));
  return files;
}
