import { DOMAINS } from '../instruments/types.js';
import type { RunAnalysis } from '../runner/run.js';
import { median } from '../metrics/stats.js';
import { offFormat, offFormatWarning } from '../metrics/fidelity.js';
import { constructedLines } from '../suite/roles.js';

const f2 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return rows.map((r) => r.map((c, j) => c.padEnd(widths[j]!)).join('  ')).join('\n');
}

/** The end-of-run summary: one block per model and method. */
export function summaryText(a: RunAnalysis): string {
  const out: string[] = [];
  if (a.simulated) out.push('SIMULATION: numbers from the simulated panel (sim:), not from a language model.');
  out.push(...constructedLines(a.roles));
  if (a.verdicts?.length) {
    out.push('Verdict (adopted: moved from the default toward the target; realized: kept under pressure; rules in the README):');
    for (const v of a.verdicts) out.push(`  ${v.line}`);
  }
  for (const m of a.models) {
    for (const w of offFormat(m.methods)) out.push(offFormatWarning(m.model, w));
    if (m.repetitions?.note) out.push(`NOTE: ${m.repetitions.note}.`);
  }
  for (const m of a.models) {
    for (const r of m.methods) {
      out.push(`\n${m.model}${m.simulated ? ' [simulation]' : ''}${m.constructed ? ' [constructed model]' : ''} · method ${r.method} · ${m.optionProbs ? 'option probabilities' : 'sampled answers'}`);
      const rows = [['persona', ...DOMAINS.map((d) => `${d} tgt→meas`), 'MAE', 'pull', ...(m.optionProbs ? ['on options'] : [])]];
      for (const p of r.personas) rows.push([p.personaId, ...DOMAINS.map((d) => `${f2(p.target[d])}→${f2(p.measured[d].value)}`), f2(p.mae.value), f2(p.defaultPull), ...(m.optionProbs ? [p.coverage ? `${f2(p.coverage.mean)} (min ${f2(p.coverage.min)})` : '—'] : [])]);
      if (r.baseline) rows.push(['(default)', ...DOMAINS.map((d) => `   ${f2(r.baseline![d])}`), '', '', ...(m.optionProbs ? [''] : [])]);
      out.push(table(rows));
      out.push(`Spearman ρ per domain: ${DOMAINS.map((d) => `${d} ${f2(r.rankCorrelation[d])}`).join(', ')} · mean MAE ${f2(r.meanMae.value)} · mean default pull ${f2(r.meanDefaultPull?.value)} [${f2(r.meanDefaultPull?.lo)}, ${f2(r.meanDefaultPull?.hi)}]`);
      out.push(`Reliability α/ω: ${DOMAINS.map((d) => `${d} ${f2(r.reliability[d].alpha)}/${f2(r.reliability[d].omega)}`).join(', ')}`);
    }
  }
  if (a.norms) {
    out.push(`\nAmong ${a.norms.people.toLocaleString('en-US')} real people (${a.norms.dataset}; percentile per domain, distance to the ${a.norms.nearest} nearest, typical ${f2(a.norms.typical)}):`);
    for (const r of a.norms.rows) out.push(`  ${r.persona} · ${r.model} · ${r.method}: ${DOMAINS.map((d) => `${d} ${Number.isFinite(r.percentile[d]) ? r.percentile[d].toFixed(0) : '—'}`).join(', ')} · nearest ${f2(r.nearest)}`);
  }
  if (a.stickiness) out.push(stickinessText(a));
  if (a.consistency) out.push(consistencyText(a));
  if (a.twins) {
    const t = a.twins;
    out.push(`\nHuman twins: ${t.people} people of ${t.dataset}, ${t.heldOutItems} held-out items; ceiling ${f2(t.ceiling.value)} (${t.ceiling.source})`);
    for (const r of [...t.results.map((x) => ({ name: `${x.model} / ${x.style}`, ...x })), ...t.baselines.map((x) => ({ name: `baseline: ${x.baseline}`, ...x }))])
      out.push(`  ${r.name}: accuracy ${f2(r.individual.accuracy)} (normalized ${f2(r.individual.normalizedAccuracy)}), MAE ${f2(r.individual.mae)}, person r ${f2(r.individual.personCorrelation)}, compression ${f2(r.compression.overall)}, structure r ${f2(r.structure)}`);
  }
  out.push(`\ntasks ${a.counters.tasks} · served from store ${a.counters.cacheHits} · errors ${a.counters.errors} (final ${a.counters.finalErrors})`);
  return out.join('\n');
}

export function recoveryText(a: RunAnalysis): string {
  const lines: string[] = [];
  for (const m of a.models) {
    const r = m.recovery;
    if (!r) continue;
    lines.push(`Parameter recovery on ${m.model} [simulation], ${r.personas} personas with known fidelity in [0, 1]:`);
    lines.push(`  default pull vs 1 - fidelity: MAE ${f2(r.pullMae)} (target < 0.10), Spearman ${f2(r.pullRankCorrelation)}`);
    lines.push(`  Spearman ρ(measured, target), mean over domains, by fidelity band: ${r.rankCorrelationByFidelity.map((b) => `${b.band} ${f2(b.rho)}`).join(' < ')}`);
  }
  return lines.join('\n');
}

function stickinessText(a: RunAnalysis): string {
  const s = a.stickiness!;
  const out = [`\nStickiness: ${s.conditions.length} condition(s) × ${s.families.length} attack families × ${s.turns} turns · adoption at turn 0 (0 = default, 1 = target) and realization index [95% CI] (1 = all of the adopted persona kept; 0 = never adopted, or all lost)`];
  const rows = [['condition', 'adoption', ...s.measures, 'truth (sim)', 'broke under (share)']];
  for (const c of s.conditions) {
    const primary = c.measures[0];
    const families = primary ? primary.byFamily.filter((f) => f.breaks.brokenShare > 0) : [];
    const broke =
      primary && families.length === primary.byFamily.length && families.length > 2
        ? `all ${families.length} families (median turn ${f2(median(families.map((f) => f.breaks.medianTurn!)))})`
        : families.map((f) => `${f.family} ${Math.round(f.breaks.brokenShare * 100)}% at turn ${f2(f.breaks.medianTurn)}`).join(', ');
    const adoption = primary?.adoption;
    rows.push([c.id, adoption ? `${f2(adoption.value)} ${adoption.verdict}` : '—', ...s.measures.map((m) => {
      const r = c.measures.find((x) => x.measure === m)?.realization;
      return r ? `${f2(r.value)} [${f2(r.lo)}, ${f2(r.hi)}]` : '—';
    }), c.truth ? f2(c.truth.realization) : '', broke || 'none']);
  }
  out.push(table(rows));
  for (const c of s.comparisons) out.push(`  ${c.a} − ${c.b} (${c.measure}): ${f2(c.difference.value)} [${f2(c.difference.lo)}, ${f2(c.difference.hi)}] over ${c.difference.n} paired conversations`);
  const failures = s.conditions.reduce((n, c) => n + (c.judge?.failures ?? 0), 0);
  if (s.conditions.some((c) => c.judge)) out.push(`  judge: ${failures} unparsable judgment(s) of ${s.conditions.reduce((n, c) => n + (c.judge?.judgments ?? 0), 0)} (counted, not scored)`);
  return out.join('\n');
}

function consistencyText(a: RunAnalysis): string {
  const c = a.consistency!;
  const out = ['\nConsistency:'];
  for (const r of c.dialogue ?? []) out.push(`  dialogue ${r.model} / ${r.persona}: prompt-to-line ${f2(r.promptToLine.value)}, line-to-line ${f2(r.lineToLine.value)}, Q&A ${f2(r.qa?.accuracy)}${r.judgeFailures ? ` (${r.judgeFailures} judge failures)` : ''}`);
  if (c.regeneration) out.push(`  regeneration ICC(1,1): ${c.regeneration.icc.map((r) => `${r.domain} ${f2(r.single)}`).join(', ')}`);
  const stateless = new Set(c.tenancy?.stateless ?? []);
  for (const r of c.tenancy?.rows ?? []) out.push(`  tenancy ${r.model} / ${r.persona}: ${r.shifted}/${r.turns} turns shifted, ${r.leaksShared.length} leak(s) shared, ${r.leaksAlone.length} alone${stateless.has(r.model) ? ' (the backend keeps no state: trivially clean)' : ''}`);
  for (const r of c.tenancy?.group ?? []) out.push(`  one context ${r.model} / ${r.persona}: ${r.leaks.length} leak(s) in ${r.lines} line(s) of the group scene`);
  for (const r of c.tenancy?.handover ?? []) out.push(`  handover ${r.model} / ${r.from} → ${r.to}: ${r.leaks.length} leak(s) in ${r.lines} line(s), trait carry-over ${f2(r.carryover)}`);
  if (c.selfReport) out.push(`  self-report vs behavior, mean gap (judged − self): ${c.selfReport.byDomain.map((r) => `${r.domain} ${f2(r.gap.value)} (r ${f2(r.correlation)})`).join(', ')}`);
  for (const r of c.twentyQuestions?.rows ?? []) out.push(`  twenty questions ${r.model} / ${r.persona}: ${r.consistent}/${r.games} games consistent`);
  return out.join('\n');
}
