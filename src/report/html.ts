import type { RunAnalysis } from '../runner/run.js';
import { DOMAINS, DOMAIN_NAMES } from '../instruments/types.js';
import type { FidelityReport } from '../metrics/fidelity.js';
import { renderSvg, targetVsMeasuredSpec, type TargetVsMeasuredRow } from './charts.js';

import { escapeHtml, f2, ci } from './html-parts.js';
import { consistencySection, stickinessSection, twinsSection } from './probes-html.js';

export { escapeHtml };

function fidelityTable(r: FidelityReport): string {
  const head = `<tr><th>Persona</th>${DOMAINS.map((d) => `<th>${d} target</th><th>${d} measured [95% CI]</th>`).join('')}<th>MAE</th><th>Direction hits</th><th>Default pull</th></tr>`;
  const rows = r.personas
    .map((p) => `<tr><td>${escapeHtml(p.personaId)}</td>${DOMAINS.map((d) => `<td>${f2(p.target[d])}</td><td>${ci(p.measured[d])}</td>`).join('')}<td>${ci(p.mae)}</td><td>${f2(p.directionHitRate)}</td><td>${f2(p.defaultPull)}</td></tr>`)
    .join('\n');
  return `<table><thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

function summaryTable(r: FidelityReport): string {
  const rows = DOMAINS.map((d) => `<tr><td>${DOMAIN_NAMES[d]}</td><td>${f2(r.baseline?.[d])}</td><td>${f2(r.rankCorrelation[d])}</td><td>${f2(r.reliability[d].alpha)}</td><td>${f2(r.reliability[d].omega)}</td></tr>`).join('\n');
  return `<table><thead><tr><th>Domain</th><th>Unconditioned default</th><th>Spearman ρ (measured vs target, across personas)</th><th>Cronbach's α</th><th>McDonald's ω</th></tr></thead><tbody>${rows}</tbody></table>
<p>Mean MAE ${ci(r.meanMae)}; mean default pull ${r.meanDefaultPull ? ci(r.meanDefaultPull) : '—'} (0 = on target, 1 = the unconditioned default).</p>`;
}

export async function renderHtml(analysis: RunAnalysis): Promise<string> {
  const simBanner = analysis.simulated
    ? '<div class="sim" role="note"><strong>SIMULATION.</strong> Results from the simulated panel (<code>sim:</code>), a psychometric simulation used to check that the metrics recover known truth. No language model produced these numbers.</div>'
    : '';
  const sections: string[] = [];
  for (const m of analysis.models) {
    for (const r of m.methods) {
      const rows: TargetVsMeasuredRow[] = r.personas.flatMap((p) => DOMAINS.map((d) => ({ persona: p.personaId, domain: d, target: p.target[d], measured: p.measured[d].value, lo: p.measured[d].lo, hi: p.measured[d].hi })));
      const svg = rows.length ? await renderSvg(targetVsMeasuredSpec(rows, `Target vs measured: ${m.model} / ${r.method}`)) : '';
      const rec = m.recovery
        ? `<h4>Parameter recovery (simulation)</h4><p>Default pull recovers 1 − fidelity with MAE ${f2(m.recovery.pullMae)} over ${m.recovery.personas} personas (Spearman ${f2(m.recovery.pullRankCorrelation)}). Rank correlation with targets by fidelity band: ${m.recovery.rankCorrelationByFidelity.map((b) => `${b.band} [${f2(b.fidelityRange[0])}, ${f2(b.fidelityRange[1])}]: ρ = ${f2(b.rho)}`).join('; ')}.</p>`
        : '';
      sections.push(`<section><h3>${escapeHtml(m.model)}${m.simulated ? ' <span class="tag">simulation</span>' : ''} — method <code>${escapeHtml(r.method)}</code> (${m.optionProbs ? 'scored from option probabilities' : 'scored by sampling'})</h3>
<figure role="img" aria-label="${escapeHtml(`Target versus measured Big Five scores per persona for ${m.model}, method ${r.method}`)}">${svg}<figcaption>Open red circle: target; dot and bar: measured score with 95% bootstrap interval over items.</figcaption></figure>
${summaryTable(r)}
${fidelityTable(r)}
${rec}</section>`);
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>persona-probe: ${escapeHtml(analysis.suiteName)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem;max-width:1400px}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}.ci{color:#777;font-size:.85em}.sim{background:#fff3cd;border:1px solid #e0b400;padding:.75rem;margin:1rem 0}.tag{background:#e0b400;color:#000;font-size:.7em;padding:.1rem .4rem;border-radius:.2rem}.turn{margin:.3rem 0;padding:.3rem .5rem;border-left:3px solid #ccc}.turn.user{background:#f7f7f7}.turn.broke{border-left-color:#d62728;background:#fdecea}.turn pre{white-space:pre-wrap;margin:.2rem 0;font:inherit}.who{color:#666;font-size:.85em}</style></head>
<body><h1>persona-probe report: ${escapeHtml(analysis.suiteName)}</h1>${simBanner}
<p>Run <code>${escapeHtml(analysis.runId)}</code>. Tasks ${analysis.counters.tasks} (served from the store: ${analysis.counters.cacheHits}); errors recorded ${analysis.counters.errors}, of which final ${analysis.counters.finalErrors}.</p>
${sections.length ? `<h2>Fidelity</h2>${sections.join('\n')}` : ''}
${analysis.stickiness ? `<h2>Stickiness under adversarial pressure</h2>${await stickinessSection(analysis.stickiness)}` : ''}
${analysis.consistency ? `<h2>Consistency</h2>${consistencySection(analysis.consistency)}` : ''}
${analysis.twins ? `<h2>Human twins</h2>${twinsSection(analysis.twins)}` : ''}</body></html>`;
}
