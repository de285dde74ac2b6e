// The side-by-side page: the differences between two runs with their intervals, then
// each run's own page in a column.

import type { RunAnalysis } from '../runner/run.js';
import { compareRuns, type Interval, type RunComparison, type RunSide } from './compare.js';
import { differenceSpec } from './charts.js';
import { chartFigure, ci, escapeHtml, f2, table, type Page } from './html-parts.js';
import { runPage } from './html.js';

/** A difference, marked when its interval excludes zero; `higherIsBetter` colours the direction. */
function diffCell(e: Interval, higherIsBetter?: boolean): string {
  const clear = e.lo > 0 || e.hi < 0;
  const cls = clear && higherIsBetter !== undefined ? ((e.value > 0) === higherIsBetter ? 'better' : 'worse') : '';
  return `<span${cls ? ` class="${cls}"` : ''}>${ci(e)}${clear ? ' *' : ''}</span>`;
}

const sideLabel = (s: RunSide, name: string) => `${name}: <code>${escapeHtml(s.runId)}</code> ${escapeHtml(s.suiteName)} on ${s.models.map((m) => `<code>${escapeHtml(m)}</code>`).join(', ')}${s.simulated ? ' <span class="tag">simulation</span>' : ''}`;

export async function differencesSection(c: RunComparison): Promise<string> {
  const parts: string[] = [`<ul><li>${sideLabel(c.a, 'A')}</li><li>${sideLabel(c.b, 'B')}</li></ul>
<p>Differences are B − A with 95% intervals; * marks an interval that excludes zero. The runs are independent samples, so each interval combines the two runs' own intervals (normal approximation); rates use the Wald interval.</p>`];
  if (c.unmatched.a.length || c.unmatched.b.length) parts.push(`<p>Not compared (in one run only): A ${c.unmatched.a.map(escapeHtml).join(', ') || '—'}; B ${c.unmatched.b.map(escapeHtml).join(', ') || '—'}.</p>`);
  for (const f of c.fidelity) {
    parts.push(`<h3>Fidelity: ${escapeHtml(f.armA)} → ${escapeHtml(f.armB)}</h3>`);
    if (f.scores.length) parts.push(await chartFigure(differenceSpec(f.scores.map((s) => ({ label: `${s.persona} · ${s.domain}`, group: s.domain, ...s.difference })), `Measured score, B − A: ${f.armA} → ${f.armB}`, 'points on the 1..5 item scale', 'Domain', 'Persona · domain'), 'Per persona and domain, the change in measured score from run A to run B.'));
    parts.push(table(['Persona', 'Domain', 'A [95% CI]', 'B [95% CI]', 'B − A [95% CI]'], f.scores.map((s) => [escapeHtml(s.persona), s.domain, ci(s.a), ci(s.b), diffCell(s.difference)]), 'Measured scores per persona and domain'));
    parts.push(table(['Persona', 'MAE A', 'MAE B', 'MAE B − A (lower is closer to target)', 'Default pull A', 'Default pull B'], f.mae.map((m) => [escapeHtml(m.persona), ci(m.a), ci(m.b), diffCell(m.difference, false), f2(m.pullA), f2(m.pullB)]), 'Distance from the target profile'));
  }
  if (c.stickiness.length) {
    parts.push('<h3>Stickiness: realization index</h3>');
    parts.push(await chartFigure(differenceSpec(c.stickiness.map((s) => ({ label: `${s.persona} · ${s.measure}`, group: s.measure, ...s.difference })), 'Realization index, B − A', 'realization index, 0..1', 'Retention measure', 'Persona · measure'), 'Per persona and retention measure, the change in realization index from run A to run B (higher keeps more of the persona).'));
    parts.push(table(['Persona', 'Condition A', 'Condition B', 'Measure', 'A [95% CI]', 'B [95% CI]', 'B − A [95% CI]'], c.stickiness.map((s) => [escapeHtml(s.persona), escapeHtml(s.conditionA), escapeHtml(s.conditionB), s.measure, ci(s.a), ci(s.b), diffCell(s.difference, true)]), 'Realization index per persona'));
  }
  if (c.dialogue.length) {
    parts.push('<h3>Dialogue consistency</h3>');
    parts.push(table(['Persona', 'Metric', 'A', 'B', 'B − A [95% CI]'], c.dialogue.map((d) => [escapeHtml(d.persona), escapeHtml(d.metric), f2(d.a), f2(d.b), diffCell(d.difference, true)]), 'Consistency rates per persona'));
  }
  if (!c.fidelity.length && !c.stickiness.length && !c.dialogue.length) parts.push('<p>The two runs share no persona measured the same way: nothing to compare.</p>');
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
