// Parameter recovery on the simulated panel: do the metrics find the truth the
// panel was built with? Only meaningful for `sim:` runs, and labelled as such.

import type { FidelityReport } from './fidelity.js';
import { mean, spearman } from './stats.js';

export interface RecoveryReport {
  /** Personas with a defined default pull. */
  personas: number;
  /** Mean |measured default pull - (1 - true fidelity)|. */
  pullMae: number;
  /** Spearman of measured pull vs (1 - true fidelity) across personas. */
  pullRankCorrelation: number;
  /** Per fidelity band (low / mid / high thirds): mean over targeted scales of Spearman(measured, target). */
  rankCorrelationByFidelity: { band: string; fidelityRange: [number, number]; personas: number; rho: number }[];
  rows: { personaId: string; trueFidelity: number; truePull: number; measuredPull: number | null }[];
}

export function simulationRecovery(report: FidelityReport, trueFidelity: ReadonlyMap<string, number>): RecoveryReport {
  const rows = report.personas.map((p) => {
    const f = trueFidelity.get(p.personaId) ?? Number.NaN;
    return { personaId: p.personaId, trueFidelity: f, truePull: 1 - f, measuredPull: p.defaultPull };
  });
  const defined = rows.filter((r) => r.measuredPull !== null && Number.isFinite(r.trueFidelity));
  const sorted = [...report.personas].sort((a, b) => (trueFidelity.get(a.personaId) ?? 0) - (trueFidelity.get(b.personaId) ?? 0));
  const third = Math.ceil(sorted.length / 3);
  const bands = ['low', 'mid', 'high'].map((band, i) => {
    const members = sorted.slice(i * third, (i + 1) * third);
    const fs = members.map((p) => trueFidelity.get(p.personaId) ?? Number.NaN);
    const targeted = report.scales.filter((s) => s.domain).map((s) => s.id);
    const rho = mean(targeted.map((d) => spearman(members.map((p) => p.target[d]!), members.map((p) => p.measured[d]!.value))).filter(Number.isFinite));
    return { band, fidelityRange: [Math.min(...fs), Math.max(...fs)] as [number, number], personas: members.length, rho };
  });
  return {
    personas: defined.length,
    pullMae: mean(defined.map((r) => Math.abs(r.measuredPull! - r.truePull))),
    pullRankCorrelation: spearman(defined.map((r) => r.truePull), defined.map((r) => r.measuredPull!)),
    rankCorrelationByFidelity: bands,
    rows,
  };
}
