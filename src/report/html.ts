// The run page: the summary, then each probe's sections in registry order (probes/registry.ts),
// of one stored run. The same page is saved as a self-contained report
// and served by the viewer.

import type { RunAnalysis } from '../runner/run.js';
import { constructedLines } from '../suite/roles.js';
import { ADOPTION_MIN, REALIZED_MIN } from '../metrics/verdict.js';
import { withResults } from '../probes/registry.js';
import { escapeHtml, htmlDocument, table, type Page } from '../present/html.js';

/** Judgments a judge gave that could not be parsed, over every probe of the run. */
export function failedJudgments(a: RunAnalysis): { failed: number; total: number } {
  let failed = 0;
  let total = 0;
  for (const { probe, result } of withResults(a)) {
    const j = probe.judgments?.(result);
    failed += j?.failed ?? 0;
    total += j?.total ?? 0;
  }
  return { failed, total };
}

function summarySection(a: RunAnalysis): string {
  const o = a.overview;
  const c = a.cost;
  const judged = failedJudgments(a);
  const rows: [string, string][] = [
    ['Run', `<code>${escapeHtml(a.runId)}</code> · ${escapeHtml(o.status)} · created ${escapeHtml(o.createdAt)}`],
    ['Models', o.models.map((m) => `<code>${escapeHtml(m)}</code>`).join(', ')],
    ['Personas', `${o.personas.length}: ${o.personas.map((p) => `${escapeHtml(p.id)} (${escapeHtml(p.name)})`).join(', ')}`],
    ...withResults(a).flatMap(({ probe, result }) => probe.summaryRows?.(result, a) ?? []),
    ['Model calls', `${c.tasks} tasks answered by ${c.calls} distinct calls; ${a.counters.cacheHits} served from the store`],
    ['Cost in tokens', `${c.inputTokens.toLocaleString('en-US')} in, ${c.outputTokens.toLocaleString('en-US')} out${c.withoutUsage ? ` (${c.withoutUsage} tasks without a usage report)` : ''}${a.simulated ? ' · the simulation counts words as tokens' : ''}`],
    ['Errors', `${c.failedAttempts} failed attempts; ${c.finalErrors} tasks left without an answer`],
    ['Failed judgments', `${judged.failed} unparsable of ${judged.total} judgments`],
  ];
  const byBackend = c.byBackend.length > 1 ? table(['Backend', 'Tasks', 'Calls', 'Input tokens', 'Output tokens', 'Without usage'], c.byBackend.map((b) => [`<code>${escapeHtml(b.backend)}</code>`, String(b.tasks), String(b.calls), String(b.inputTokens), String(b.outputTokens), String(b.withoutUsage)]), 'Cost per backend') : '';
  const verdicts = a.verdicts?.length
    ? `<section class="verdict"><h3>Verdict</h3><p>Adopted: the persona moved from the model's unconditioned default toward its target (interval at or above ${ADOPTION_MIN} of the way). Realized: it kept what it adopted under pressure (realization index interval at or above ${REALIZED_MIN}); performed: it gave it up (interval below). Otherwise the evidence cannot decide, and the verdict says so.</p><ul>${a.verdicts.map((v) => `<li>${escapeHtml(v.line)}</li>`).join('')}</ul></section>`
    : '';
  return `${verdicts}<table class="summary"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${k}</th><td style="text-align:left">${v}</td></tr>`).join('')}</tbody></table>${byBackend}`;
}

function simulatedRoles(a: RunAnalysis): string {
  const parts = (a.roles ?? []).filter((r) => r.simulated);
  return parts.length ? ` Simulated: ${parts.map((r) => `${escapeHtml(r.role)} (<code>${escapeHtml(r.backend)}</code>)`).join(', ')}.` : '';
}

/** The body of a run's page: a table of contents and one section per probe the run holds. */
export async function runPage(a: RunAnalysis, idPrefix = ''): Promise<Page> {
  const simBanner =
    (a.simulated
      ? `<div class="sim" role="note"><strong>SIMULATION.</strong> Results from the simulated panel (<code>sim:</code>), a psychometric simulation used to check that the metrics recover known truth. No language model produced these numbers.${simulatedRoles(a)}</div>`
      : '') + constructedLines(a.roles).map((line) => `<div class="sim" role="note"><strong>${escapeHtml(line.split(':')[0]!)}.</strong>${escapeHtml(line.slice(line.indexOf(':') + 1))}</div>`).join('');
  const sections: [string, string, string][] = [['summary', 'Summary', summarySection(a)]];
  for (const { probe, result } of withResults(a)) for (const s of (await probe.sections?.(result, a, idPrefix)) ?? []) sections.push([s.id, s.title, s.html]);
  const toc = `<nav class="toc" aria-label="Sections">${sections.map(([id, title]) => `<a href="#${idPrefix}${id}">${title}</a>`).join('')}</nav>`;
  return {
    title: `persona-probe report: ${a.suiteName}`,
    body: `${simBanner}${toc}${sections.map(([id, title, html]) => `<section id="${idPrefix}${id}"><h2>${title}</h2>${html}</section>`).join('\n')}`,
  };
}

/** The run's report as one self-contained HTML file. */
export async function renderHtml(a: RunAnalysis): Promise<string> {
  return htmlDocument(await runPage(a));
}
