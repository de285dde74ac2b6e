// The side-by-side page: the differences between two runs with their intervals, then
// each run's own page in a column.

import type { RunAnalysis } from '../runner/run.js';
import { compareRuns, type RunComparison, type RunSide } from './compare.js';
import { PROBES } from '../probes/registry.js';
import { escapeHtml, type Page } from '../present/html.js';
import { runPage } from './html.js';

const sideLabel = (s: RunSide, name: string) => `${name}: <code>${escapeHtml(s.runId)}</code> ${escapeHtml(s.suiteName)} on ${s.models.map((m) => `<code>${escapeHtml(m)}</code>`).join(', ')}${s.simulated ? ' <span class="tag">simulation</span>' : ''}`;

export async function differencesSection(c: RunComparison): Promise<string> {
  const parts: string[] = [`<ul><li>${sideLabel(c.a, 'A')}</li><li>${sideLabel(c.b, 'B')}</li></ul>
<p>Differences are B − A with 95% intervals; * marks an interval that excludes zero. The runs are independent samples, so each interval combines the two runs' own intervals (normal approximation); rates use the Wald interval.</p>`];
  if (c.unmatched.a.length || c.unmatched.b.length) parts.push(`<p>Not compared (in one run only): A ${c.unmatched.a.map(escapeHtml).join(', ') || '—'}; B ${c.unmatched.b.map(escapeHtml).join(', ') || '—'}.</p>`);
  for (const part of c.parts) {
    const probe = PROBES.find((p) => p.key === part.probe);
    if (probe?.differencesHtml) parts.push(await probe.differencesHtml(part.differences));
  }
  if (!c.parts.length) parts.push('<p>The two runs share no persona measured the same way: nothing to compare.</p>');
  return parts.join('\n');
}

/** Differences first, then both runs' pages side by side. */
export async function comparePage(a: RunAnalysis, b: RunAnalysis): Promise<Page> {
  const comparison = compareRuns(a, b);
  const [pa, pb] = await Promise.all([runPage(a, 'a-'), runPage(b, 'b-')]);
  return {
    title: `persona-probe: ${a.runId} vs ${b.runId}`,
    body: `<section id="differences"><h2>Differences (B − A)</h2>${await differencesSection(comparison)}</section>
<div class="side"><section class="run-a" aria-label="Run A"><h2>A: ${escapeHtml(pa.title)}</h2>${pa.body}</section><section class="run-b" aria-label="Run B"><h2>B: ${escapeHtml(pb.title)}</h2>${pb.body}</section></div>`,
  };
}
