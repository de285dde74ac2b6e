import { DOMAINS } from '../instruments/types.js';
import type { RunAnalysis } from '../runner/run.js';

const f2 = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(2));

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  return rows.map((r) => r.map((c, j) => c.padEnd(widths[j]!)).join('  ')).join('\n');
}

/** The end-of-run summary: one block per model and method. */
export function summaryText(a: RunAnalysis): string {
  const out: string[] = [];
  if (a.simulated) out.push('SIMULATION: numbers from the simulated panel (sim:), not from a language model.');
  for (const m of a.models) {
    for (const r of m.methods) {
      out.push(`\n${m.model}${m.simulated ? ' [simulation]' : ''} · method ${r.method} · ${m.optionProbs ? 'option probabilities' : 'sampled answers'}`);
      const rows = [['persona', ...DOMAINS.map((d) => `${d} tgt→meas`), 'MAE', 'pull']];
      for (const p of r.personas) rows.push([p.personaId, ...DOMAINS.map((d) => `${f2(p.target[d])}→${f2(p.measured[d].value)}`), f2(p.mae.value), f2(p.defaultPull)]);
      if (r.baseline) rows.push(['(default)', ...DOMAINS.map((d) => `   ${f2(r.baseline![d])}`), '', '']);
      out.push(table(rows));
      out.push(`Spearman ρ per domain: ${DOMAINS.map((d) => `${d} ${f2(r.rankCorrelation[d])}`).join(', ')} · mean MAE ${f2(r.meanMae.value)} · mean default pull ${f2(r.meanDefaultPull?.value)} [${f2(r.meanDefaultPull?.lo)}, ${f2(r.meanDefaultPull?.hi)}]`);
      out.push(`Reliability α/ω: ${DOMAINS.map((d) => `${d} ${f2(r.reliability[d].alpha)}/${f2(r.reliability[d].omega)}`).join(', ')}`);
    }
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
