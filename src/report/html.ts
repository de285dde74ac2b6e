// The run page: summary, fidelity, stickiness, consistency, twins and the searchable
// transcripts of one stored run. The same page is saved as a self-contained report
// and served by the viewer.

import type { RunAnalysis } from '../runner/run.js';
import { constructedLines } from '../suite/roles.js';
import { DOMAINS, DOMAIN_NAMES } from '../instruments/types.js';
import { offFormat, offFormatWarning, type FidelityReport } from '../metrics/fidelity.js';
import { ADOPTION_MIN } from '../metrics/stickiness.js';
import { REALIZED_MIN } from '../metrics/verdict.js';
import { targetVsMeasuredSpec, type TargetVsMeasuredRow } from './charts.js';
import { chartFigure, escapeHtml, f2, ci, htmlDocument, table, type Page } from './html-parts.js';
import { consistencySection, stickinessSection, transcriptsSection, twinsSection } from './probes-html.js';


function fidelityTable(r: FidelityReport): string {
  const head = ['Persona', ...DOMAINS.flatMap((d) => [`${d} target`, `${d} measured [95% CI]`]), 'MAE [95% CI]', 'Direction hits', 'Default pull', 'Mass on options: mean (min), items below threshold'];
  const rows = r.personas.map((p) => [escapeHtml(p.personaId), ...DOMAINS.flatMap((d) => [f2(p.target[d]), ci(p.measured[d])]), ci(p.mae), f2(p.directionHitRate), f2(p.defaultPull), p.coverage ? `${f2(p.coverage.mean)} (${f2(p.coverage.min)}), ${p.coverage.below}/${p.coverage.items} below ${p.coverage.threshold}` : '— (sampled)']);
  return table(head, rows, 'Target and measured scores per persona (1..5 item scale)');
}

function reliabilityTable(r: FidelityReport): string {
  const rows = DOMAINS.map((d) => [DOMAIN_NAMES[d], f2(r.baseline?.[d]), f2(r.rankCorrelation[d]), f2(r.reliability[d].alpha), f2(r.reliability[d].omega)]);
  return `${table(['Domain', 'Unconditioned default', 'Spearman ρ (measured vs target, across personas)', "Cronbach's α", "McDonald's ω"], rows, 'Default, rank agreement and reliability per domain')}
<p>Mean MAE ${ci(r.meanMae)}; mean default pull ${r.meanDefaultPull ? ci(r.meanDefaultPull) : '—'} (0 = on target, 1 = the unconditioned default).</p>`;
}

/** Judgments a judge gave that could not be parsed, over every probe of the run. */
export function failedJudgments(a: RunAnalysis): { failed: number; total: number } {
  let failed = 0;
  let total = 0;
  for (const c of a.stickiness?.conditions ?? []) {
    failed += c.judge?.failures ?? 0;
    total += c.judge?.judgments ?? 0;
  }
  for (const d of a.consistency?.dialogue ?? []) {
    failed += d.judgeFailures;
    total += d.judgments;
  }
  for (const r of a.consistency?.selfReport?.rows ?? []) failed += r.judgeFailures;
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
    ['Conditioning methods', o.methods.map(escapeHtml).join(', ') || '—'],
    ['Stickiness conditions', o.conditions.map(escapeHtml).join(', ') || '—'],
    ['Model calls', `${c.tasks} tasks answered by ${c.calls} distinct calls; ${a.counters.cacheHits} served from the store`],
    ['Cost in tokens', `${c.inputTokens.toLocaleString('en-US')} in, ${c.outputTokens.toLocaleString('en-US')} out${c.withoutUsage ? ` (${c.withoutUsage} tasks without a usage report)` : ''}${a.simulated ? ' · the simulation counts words as tokens' : ''}`],
    ['Errors', `${c.failedAttempts} failed attempts; ${c.finalErrors} tasks left without an answer`],
    ['Failed judgments', `${judged.failed} unparsable of ${judged.total} judgments`],
    ...a.models.flatMap((m) => offFormat(m.methods).map((w): [string, string] => ['Off-format answers', `<strong class="warn">${escapeHtml(offFormatWarning(m.model, w))}</strong>`])),
    ...a.models.flatMap((m): [string, string][] => (m.repetitions?.note ? [['Repetitions', escapeHtml(`${m.repetitions.administered} of ${m.repetitions.asked} administered: ${m.repetitions.note}.`)]] : [])),
  ];
  const byBackend = c.byBackend.length > 1 ? table(['Backend', 'Tasks', 'Calls', 'Input tokens', 'Output tokens', 'Without usage'], c.byBackend.map((b) => [`<code>${escapeHtml(b.backend)}</code>`, String(b.tasks), String(b.calls), String(b.inputTokens), String(b.outputTokens), String(b.withoutUsage)]), 'Cost per backend') : '';
  const verdicts = a.verdicts?.length
    ? `<section class="verdict"><h3>Verdict</h3><p>Adopted: the persona moved from the model's unconditioned default toward its target (interval at or above ${ADOPTION_MIN} of the way). Realized: it kept what it adopted under pressure (realization index interval at or above ${REALIZED_MIN}); performed: it gave it up (interval below). Otherwise the evidence cannot decide, and the verdict says so.</p><ul>${a.verdicts.map((v) => `<li>${escapeHtml(v.line)}</li>`).join('')}</ul></section>`
    : '';
  return `${verdicts}<table class="summary"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${k}</th><td style="text-align:left">${v}</td></tr>`).join('')}</tbody></table>${byBackend}`;
}

async function fidelitySection(a: RunAnalysis, idPrefix: string): Promise<string> {
  const sections: string[] = [];
  for (const m of a.models)
    for (const r of m.methods) {
      const rows: TargetVsMeasuredRow[] = r.personas.flatMap((p) => DOMAINS.map((d) => ({ persona: p.personaId, domain: d, target: p.target[d], measured: p.measured[d].value, lo: p.measured[d].lo, hi: p.measured[d].hi })));
      const defaults = r.baseline ? DOMAINS.map((d) => ({ domain: d, value: r.baseline![d] })) : undefined;
      const chart = rows.length ? await chartFigure(targetVsMeasuredSpec(rows, `Target vs measured: ${m.model} / ${r.method}`, defaults), 'Open red circle: target; dot and bar: measured score with its 95% bootstrap interval over items; grey tick: the unconditioned default.', `${idPrefix}fidelity-${m.model}-${r.method}`) : '';
      const rec = m.recovery
        ? `<h4>Parameter recovery (simulation)</h4><p>Default pull recovers 1 − fidelity with MAE ${f2(m.recovery.pullMae)} over ${m.recovery.personas} personas (Spearman ${f2(m.recovery.pullRankCorrelation)}). Rank correlation with targets by fidelity band: ${m.recovery.rankCorrelationByFidelity.map((b) => `${b.band} [${f2(b.fidelityRange[0])}, ${f2(b.fidelityRange[1])}]: ρ = ${f2(b.rho)}`).join('; ')}.</p>`
        : '';
      sections.push(`<section><h3>${escapeHtml(m.model)}${m.simulated ? ' <span class="tag">simulation</span>' : ''}${m.constructed ? ' <span class="tag">constructed model</span>' : ''} — method <code>${escapeHtml(r.method)}</code> (${m.optionProbs ? 'scored from option probabilities' : 'scored by sampling'})</h3>
${chart}${reliabilityTable(r)}${fidelityTable(r)}${rec}</section>`);
    }
  return sections.join('\n');
}

function simulatedRoles(a: RunAnalysis): string {
  const parts = (a.roles ?? []).filter((r) => r.simulated);
  return parts.length ? ` Simulated: ${parts.map((r) => `${escapeHtml(r.role)} (<code>${escapeHtml(r.backend)}</code>)`).join(', ')}.` : '';
}

function normsSection(n: NonNullable<RunAnalysis['norms']>): string {
  return `<p>Each measured profile placed among ${n.people.toLocaleString('en-US')} real people of ${escapeHtml(n.dataset)}: the percentile of each domain score, and the mean distance to the ${n.nearest} nearest people (over the five domains, 1..5 units). Between real people that distance is typically ${f2(n.typical)}; a persona well above it has a profile few real people have. Compared: ${escapeHtml(n.note)}.</p>
${table(['Model', 'Method', 'Persona', ...DOMAINS.map((d) => `${d} percentile`), `Distance to the ${n.nearest} nearest`], n.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.method), escapeHtml(r.persona), ...DOMAINS.map((d) => Number.isFinite(r.percentile[d]) ? r.percentile[d].toFixed(0) : '—'), f2(r.nearest)]))}`;
}

/** The body of a run's page: a table of contents and one section per probe the run holds. */
export async function runPage(a: RunAnalysis, idPrefix = ''): Promise<Page> {
  const simBanner =
    (a.simulated
      ? `<div class="sim" role="note"><strong>SIMULATION.</strong> Results from the simulated panel (<code>sim:</code>), a psychometric simulation used to check that the metrics recover known truth. No language model produced these numbers.${simulatedRoles(a)}</div>`
      : '') + constructedLines(a.roles).map((line) => `<div class="sim" role="note"><strong>${escapeHtml(line.split(':')[0]!)}.</strong>${escapeHtml(line.slice(line.indexOf(':') + 1))}</div>`).join('');
  const sections: [string, string, string][] = [['summary', 'Summary', summarySection(a)]];
  if (a.models.some((m) => m.methods.length)) sections.push(['fidelity', 'Fidelity', await fidelitySection(a, idPrefix)]);
  if (a.stickiness) sections.push(['stickiness', 'Stickiness under adversarial pressure', await stickinessSection(a.stickiness)]);
  if (a.consistency) sections.push(['consistency', 'Consistency', consistencySection(a.consistency)]);
  if (a.twins) sections.push(['twins', 'Human twins', twinsSection(a.twins)]);
  if (a.norms) sections.push(['norms', 'Among real people', normsSection(a.norms)]);
  if (a.stickiness?.conditions.some((c) => c.conversations.length)) sections.push(['transcripts', 'Transcripts', transcriptsSection(a.stickiness, `${idPrefix}search`)]);
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
