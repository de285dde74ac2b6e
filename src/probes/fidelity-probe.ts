// The fidelity probe on the registry's interface: the inventory administered to every
// persona under every conditioning method (planning and scoring in fidelity.ts), its
// report section, console table, CSV file, differences between runs and adoption evidence.

import type { Suite } from '../suite/schema.js';
import { suiteInstrument } from '../suite/instrument.js';
import { z } from 'zod';
import { truthSourceOf } from '../backends/registry.js';
import { DOMAIN_NAMES, optionValues } from '../instruments/types.js';
import { domainProfile, fidelityReport, scaleTarget, measuredProfile, offFormat, offFormatWarning, type Administration, type FidelityReport } from '../metrics/fidelity.js';
import { independentDifference, type Interval } from '../metrics/differences.js';
import { simulationRecovery, type RecoveryReport } from '../metrics/recovery.js';
import { differenceSpec, targetVsMeasuredSpec, type TargetVsMeasuredRow } from '../present/charts.js';
import { chartFigure, ci, diffCell, escapeHtml, f2, table } from '../present/html.js';
import { csvText, textTable } from '../present/text.js';
import { modelIdOf } from '../suite/roles.js';
import { BASELINE_ID, scaleLevels, targetProfile } from './conditioning.js';
import { assembleAdministrations, optionLabels, planFidelity, repetitionsFor } from './fidelity.js';
import { OPTION_PROBS, type AnalyzeInput, type Probe, type RunHeader } from './probe.js';

export interface ModelAnalysis {
  model: string;
  simulated: boolean;
  /** A constructed (glass-box) model: what it is. Its numbers describe no language model. */
  constructed?: string;
  optionProbs: boolean;
  /** Repetitions the suite asked for and those administered, with the reason when they differ. */
  /** How often the inventory was asked, and what varies between a persona's administrations (the source of any spread; none: no spread is reported). */
  repetitions: { asked: number; administered: number; note?: string; varies?: string[] };
  methods: FidelityReport[];
  recovery?: RecoveryReport;
  /** What must be known about the instrument as it was administered (a translation's flaws). */
  instrumentNotes?: string[];
}

declare module './probe.js' {
  interface ProbeResults {
    /** Fidelity: one entry per model, one report per conditioning method. */
    models: ModelAnalysis[];
  }
}

export interface FidelityArmComparison {
  /** "model / method" of each side. */
  armA: string;
  armB: string;
  /** domain: the scale id (a Big Five letter on the IPIP inventories). */
  scores: { persona: string; domain: string; a: Interval; b: Interval; difference: Interval }[];
  /** The instrument's value range (the units of the score differences). */
  range?: { min: number; max: number };
  mae: { persona: string; a: Interval; b: Interval; difference: Interval; pullA: number | null; pullB: number | null }[];
}

const REPETITIONS = 'repetitions';

function analyzeModels(input: AnalyzeInput<undefined>): ModelAnalysis[] {
  const { suite, responses, roles } = input;
  const instrument = suiteInstrument(suite);
  // How each model was asked is stored with the run. Runs stored before it was: read off the task keys.
  const optionProbs = input.stored(OPTION_PROBS, z.array(z.boolean())) ?? suite.models.map((_, m) => [...responses.keys()].some((k) => k.startsWith(`m${m}|`) && !/\|s\d+$/.test(k)));
  const repetitions = input.stored(REPETITIONS, z.array(z.number().int().min(1))) ?? suite.models.map(() => suite.repetitions);
  const tasks = planFidelity({ suite, instrument, optionProbs, repetitions });
  const sheets = assembleAdministrations(tasks, responses, suite.instrument.scoring, optionLabels(suite, instrument), suite.instrument.min_coverage ?? 0, optionValues(instrument));
  const targets = new Map(suite.personas.map((p) => [p.id, scaleTarget(instrument, targetProfile(p), scaleLevels(p))]));
  return suite.models.map((m, index) => {
    const id = modelIdOf(m);
    const all = sheets.get(index) ?? [];
    const baseline = all.filter((a) => a.personaId === BASELINE_ID);
    const methods = suite.methods.map((method) => {
      const bySheet = new Map<string, Administration[]>();
      for (const a of all) {
        if (a.method !== method.id) continue;
        bySheet.set(a.personaId, [...(bySheet.get(a.personaId) ?? []), a]);
      }
      return fidelityReport(instrument, method.id, bySheet, targets, baseline, suite.instrument.min_coverage ?? 0);
    });
    const role = roles[index];
    // Runs stored before roles were: a backend with a truth source is the simulation.
    const truth = truthSourceOf(id);
    const simulated = role ? role.simulated : truth !== undefined;
    const administered = repetitions[index] ?? suite.repetitions;
    const note = administered < suite.repetitions ? `${id} is scored from option probabilities, and an option-probability request carries no seed: its ${suite.repetitions} repetitions would be the same request, so each item was asked once and no run-to-run spread is reported; vary the prompt (instrument.variants, reverse_options, or persona paraphrases) to measure variation` : undefined;
    const varies = variationSources(suite, optionProbs[index] ?? false, administered);
    const analysis: ModelAnalysis = { model: id, simulated, ...(role?.constructed ? { constructed: role.constructed } : {}), optionProbs: optionProbs[index] ?? false, repetitions: { asked: suite.repetitions, administered, ...(note ? { note } : {}), varies }, methods, ...(instrument.notes ? { instrumentNotes: instrument.notes } : {}) };
    if (simulated && truth && methods[0]) {
      const truths = new Map(suite.personas.map((p) => [p.id, p.sim?.fidelity ?? truth.defaultFidelity]));
      analysis.recovery = simulationRecovery(methods[0], truths);
    }
    return analysis;
  });
}

/** What differs between a persona's administrations: the sources of its spread across them. */
export function variationSources(suite: Suite, optionProbs: boolean, administered: number): string[] {
  const variants = suite.instrument.variants ?? [];
  return [
    ...(!optionProbs && administered > 1 ? [`sampling seeds (${administered} repetitions)`] : []),
    ...(variants.length > 1 ? [`prompt variants (${variants.map((v) => `${v.id}${v.reverse_options ? ', options reversed' : ''}`).join('; ')})`] : []),
    ...(suite.personas.some((p) => p.paraphrases?.length) ? ['persona paraphrases'] : []),
  ];
}

/** The report's targeted scales (those some persona has a target on) and whether it is a Big Five inventory (scales = domains). */
const targetedIds = (r: FidelityReport): string[] => r.scales.filter((s) => r.personas.some((p) => p.target[s.id] !== undefined)).map((s) => s.id);
const isBigFive = (r: FidelityReport): boolean => r.scales.length === 5 && r.scales.every((s) => s.domain === s.id);
const scaleWord = (r: FidelityReport): string => (isBigFive(r) ? 'Domain' : 'Scale');
const units = (r: FidelityReport): string => `${r.range.min}..${r.range.max} item scale`;

function fidelityTable(r: FidelityReport): string {
  const targeted = new Set(targetedIds(r));
  const head = ['Persona', ...r.scales.flatMap((s) => (targeted.has(s.id) ? [`${s.id} target`, `${s.id} measured [95% CI]`] : [`${s.id} measured [95% CI]`])), 'MAE [95% CI]', 'Direction hits', 'Default pull', 'Mass on options: mean (min), items below threshold'];
  const rows = r.personas.map((p) => [escapeHtml(p.personaId), ...r.scales.flatMap((s) => (targeted.has(s.id) ? [f2(p.target[s.id] ?? Number.NaN), ci(p.measured[s.id]!)] : [ci(p.measured[s.id]!)])), ci(p.mae), f2(p.directionHitRate), f2(p.defaultPull), p.coverage ? `${f2(p.coverage.mean)} (${f2(p.coverage.min)}), ${p.coverage.below}/${p.coverage.items} below ${p.coverage.threshold}` : '— (sampled)']);
  return table(head, rows, `Target and measured scores per persona (${units(r)})`);
}

function reliabilityTable(r: FidelityReport): string {
  const rows = r.scales.map((s) => [escapeHtml(isBigFive(r) ? DOMAIN_NAMES[s.domain!] : `${s.name}${s.domain ? ` (${s.domain})` : ''}`), f2(r.baseline?.[s.id]), f2(r.rankCorrelation[s.id]), f2(r.reliability[s.id]?.alpha), f2(r.reliability[s.id]?.omega)]);
  const untargeted = r.scales.length - targetedIds(r).length;
  return `${table([scaleWord(r), 'Unconditioned default', 'Spearman ρ (measured vs target, across personas)', "Cronbach's α", "McDonald's ω"], rows, `Default, rank agreement and reliability per ${scaleWord(r).toLowerCase()}`)}
<p>Mean MAE ${ci(r.meanMae)}; mean default pull ${r.meanDefaultPull ? ci(r.meanDefaultPull) : '—'} (0 = on target, 1 = the unconditioned default).${untargeted ? ` Targets, MAE, pull and adoption are over the ${targetedIds(r).length} scales with a target (those mapped to a Big Five domain, and any a persona targets by id); the other ${untargeted} are measured and shown without one.` : ''}</p>`;
}

async function fidelityHtml(models: readonly ModelAnalysis[], idPrefix: string): Promise<string> {
  const sections: string[] = [];
  for (const m of models)
    for (const r of m.methods) {
      const rows: TargetVsMeasuredRow[] = r.personas.flatMap((p) => r.scales.map((s) => ({ persona: p.personaId, domain: s.id, target: p.target[s.id] ?? null, measured: p.measured[s.id]!.value, lo: p.measured[s.id]!.lo, hi: p.measured[s.id]!.hi })));
      const defaults = r.baseline ? r.scales.map((s) => ({ domain: s.id, value: r.baseline![s.id]! })) : undefined;
      const axis = isBigFive(r) ? undefined : { order: r.scales.map((s) => s.id), range: r.range, title: 'Scale' };
      const chart = rows.length ? await chartFigure(targetVsMeasuredSpec(rows, `Target vs measured: ${m.model} / ${r.method}`, defaults, axis), 'Open red circle: target; dot and bar: measured score with its 95% bootstrap interval over items; grey tick: the unconditioned default.', `${idPrefix}fidelity-${m.model}-${r.method}`) : '';
      const rec = m.recovery
        ? `<h4>Parameter recovery (simulation)</h4><p>Default pull recovers 1 − fidelity with MAE ${f2(m.recovery.pullMae)} over ${m.recovery.personas} personas (Spearman ${f2(m.recovery.pullRankCorrelation)}). Rank correlation with targets by fidelity band: ${m.recovery.rankCorrelationByFidelity.map((b) => `${b.band} [${f2(b.fidelityRange[0])}, ${f2(b.fidelityRange[1])}]: ρ = ${f2(b.rho)}`).join('; ')}.</p>`
        : '';
      sections.push(`<section><h3>${escapeHtml(m.model)}${m.simulated ? ' <span class="tag">simulation</span>' : ''}${m.constructed ? ' <span class="tag">constructed model</span>' : ''} — method <code>${escapeHtml(r.method)}</code> (${m.optionProbs ? 'scored from option probabilities' : 'scored by sampling'})</h3>
${chart}${reliabilityTable(r)}${fidelityTable(r)}${rec}</section>`);
    }
  return sections.join('\n');
}

function consoleLines(models: readonly ModelAnalysis[]): string[] {
  const out: string[] = [];
  for (const m of models) {
    for (const r of m.methods) {
      const targeted = new Set(targetedIds(r));
      const cell = (s: string, p: { target: Record<string, number>; measured: Record<string, { value: number }> }) => (targeted.has(s) ? `${f2(p.target[s])}→${f2(p.measured[s]!.value)}` : f2(p.measured[s]!.value));
      out.push(`\n${m.model}${m.simulated ? ' [simulation]' : ''}${m.constructed ? ' [constructed model]' : ''} · method ${r.method} · ${m.optionProbs ? 'option probabilities' : 'sampled answers'}${isBigFive(r) ? '' : ` · ${units(r)}`}`);
      const rows = [['persona', ...r.scales.map((s) => (targeted.has(s.id) ? `${s.id} tgt→meas` : `${s.id} meas`)), 'MAE', 'pull', ...(m.optionProbs ? ['on options'] : [])]];
      for (const p of r.personas) rows.push([p.personaId, ...r.scales.map((s) => cell(s.id, p)), f2(p.mae.value), f2(p.defaultPull), ...(m.optionProbs ? [p.coverage ? `${f2(p.coverage.mean)} (min ${f2(p.coverage.min)})` : '—'] : [])]);
      if (r.baseline) rows.push(['(default)', ...r.scales.map((s) => `   ${f2(r.baseline![s.id])}`), '', '', ...(m.optionProbs ? [''] : [])]);
      out.push(textTable(rows));
      out.push(`Spearman ρ per ${scaleWord(r).toLowerCase()}: ${targetedIds(r).map((d) => `${d} ${f2(r.rankCorrelation[d])}`).join(', ') || '— (no scale has a target)'} · mean MAE ${f2(r.meanMae.value)} · mean default pull ${f2(r.meanDefaultPull?.value)} [${f2(r.meanDefaultPull?.lo)}, ${f2(r.meanDefaultPull?.hi)}]`);
      out.push(`Reliability α/ω: ${r.scales.map((s) => `${s.id} ${f2(r.reliability[s.id]?.alpha)}/${f2(r.reliability[s.id]?.omega)}`).join(', ')}`);
    }
  }
  return out;
}

/** One row per model x method x persona x scale: the table researchers load into R or pandas (domain: the Big Five domain a scale is mapped to, empty if none). */
export function fidelityCsv(models: readonly ModelAnalysis[], run: RunHeader): string {
  const header = ['run', 'simulated', 'model', 'method', 'persona', 'scale', 'domain', 'target', 'measured', 'ci_lo', 'ci_hi', 'spread_sd', 'default_pull', 'mae'];
  return csvText(header, models.flatMap((m) => m.methods.flatMap((r) => r.personas.flatMap((p) => r.scales.map((s) => [run.runId, m.simulated, m.model, r.method, p.personaId, s.id, s.domain ?? '', p.target[s.id] ?? null, p.measured[s.id]!.value, p.measured[s.id]!.lo, p.measured[s.id]!.hi, p.spread[s.id]!, p.defaultPull, p.mae.value])))));
}

/** The parameter-recovery lines of a simulated run (the demo prints them). */
export function recoveryText(models: readonly ModelAnalysis[]): string {
  const lines: string[] = [];
  for (const m of models) {
    const r = m.recovery;
    if (!r) continue;
    lines.push(`Parameter recovery on ${m.model} [simulation], ${r.personas} personas with known fidelity in [0, 1]:`);
    lines.push(`  default pull vs 1 - fidelity: MAE ${f2(r.pullMae)} (target < 0.10), Spearman ${f2(r.pullRankCorrelation)}`);
    lines.push(`  Spearman ρ(measured, target), mean over domains, by fidelity band: ${r.rankCorrelationByFidelity.map((b) => `${b.band} ${f2(b.rho)}`).join(' < ')}`);
  }
  return lines.join('\n');
}

const arms = (models: readonly ModelAnalysis[]) => models.flatMap((m) => m.methods.map((report) => ({ name: `${m.model} / ${report.method}`, report })));

export const fidelityProbe: Probe<'models', undefined, FidelityArmComparison[]> = {
  key: 'models',
  block: 'fidelity',
  title: 'Fidelity',
  enabled: (suite) => suite.fidelity,
  record: ({ suite, backends }) => ({ [REPETITIONS]: repetitionsFor(suite, backends) }),
  plan: ({ suite, backends, optionProbs }) => (suite.fidelity ? planFidelity({ suite, instrument: suiteInstrument(suite), optionProbs: [...optionProbs], repetitions: repetitionsFor(suite, backends) }) : []),
  analyze: (input) => (input.suite.fidelity ? analyzeModels(input) : undefined),
  sections: async (models, _run, idPrefix) => (models.some((m) => m.methods.length) ? [{ id: 'fidelity', title: 'Fidelity', html: await fidelityHtml(models, idPrefix) }] : []),
  summaryRows: (models) => [
    ['Conditioning methods', [...new Set(models.flatMap((m) => m.methods.map((r) => r.method)))].map(escapeHtml).join(', ') || '—'],
    ...models.flatMap((m) => offFormat(m.methods).map((w): [string, string] => ['Off-format answers', `<strong class="warn">${escapeHtml(offFormatWarning(m.model, w))}</strong>`])),
    ...[...new Set(models.flatMap((m) => m.instrumentNotes ?? []))].map((n): [string, string] => ['Instrument', `<strong class="warn">${escapeHtml(n)}</strong>`]),
    ...models.flatMap((m): [string, string][] => (m.repetitions?.note ? [['Repetitions', escapeHtml(`${m.repetitions.administered} of ${m.repetitions.asked} administered: ${m.repetitions.note}.`)]] : [])),
    ...models.flatMap((m): [string, string][] => (m.repetitions?.varies ? [['Spread across administrations', escapeHtml(`${m.model}: ${m.repetitions.varies.length ? `from ${m.repetitions.varies.join(' and ')}` : 'none reported (nothing varies between administrations)'}`)]] : [])),
  ],
  warnings: (models) => [...new Set(models.flatMap((m) => m.instrumentNotes ?? []))].map((n) => `NOTE: ${n}.`).concat(models.flatMap((m) => [...offFormat(m.methods).map((w) => offFormatWarning(m.model, w)), ...(m.repetitions?.note ? [`NOTE: ${m.repetitions.note}.`] : [])])),
  console: (models) => consoleLines(models),
  csv: (models, run) => [{ file: 'fidelity.csv', text: fidelityCsv(models, run) }],
  differences: (A, B) => {
    // Arms (model × method) pair in order: a suite run on two models lines up method by method.
    const armsA = arms(A);
    const armsB = arms(B);
    const out: FidelityArmComparison[] = [];
    for (let i = 0; i < Math.min(armsA.length, armsB.length); i++) {
      const ra = armsA[i]!.report;
      const rb = armsB[i]!.report;
      const scores: FidelityArmComparison['scores'] = [];
      const mae: FidelityArmComparison['mae'] = [];
      for (const pa of ra.personas) {
        const pb = rb.personas.find((p) => p.personaId === pa.personaId);
        if (!pb) continue;
        for (const d of ra.scales.map((x) => x.id)) {
          const [ea, eb] = [pa.measured[d], pb.measured[d]];
          if (ea && eb) scores.push({ persona: pa.personaId, domain: d, a: ea, b: eb, difference: independentDifference(ea, eb) });
        }
        mae.push({ persona: pa.personaId, a: pa.mae, b: pb.mae, difference: independentDifference(pa.mae, pb.mae), pullA: pa.defaultPull, pullB: pb.defaultPull });
      }
      if (scores.length) out.push({ armA: armsA[i]!.name, armB: armsB[i]!.name, scores, mae, range: ra.range });
    }
    return out.length ? out : undefined;
  },
  differencesHtml: async (arms) => {
    const parts: string[] = [];
    for (const f of arms) {
      parts.push(`<h3>Fidelity: ${escapeHtml(f.armA)} → ${escapeHtml(f.armB)}</h3>`);
      parts.push(await chartFigure(differenceSpec(f.scores.map((s) => ({ label: `${s.persona} · ${s.domain}`, group: s.domain, ...s.difference })), `Measured score, B − A: ${f.armA} → ${f.armB}`, `points on the ${f.range?.min ?? 1}..${f.range?.max ?? 5} item scale`, 'Scale', 'Persona · scale'), 'Per persona and scale, the change in measured score from run A to run B.'));
      parts.push(table(['Persona', 'Scale', 'A [95% CI]', 'B [95% CI]', 'B − A [95% CI]'], f.scores.map((s) => [escapeHtml(s.persona), escapeHtml(s.domain), ci(s.a), ci(s.b), diffCell(s.difference)]), 'Measured scores per persona and scale'));
      parts.push(table(['Persona', 'MAE A', 'MAE B', 'MAE B − A (lower is closer to target)', 'Default pull A', 'Default pull B'], f.mae.map((m) => [escapeHtml(m.persona), ci(m.a), ci(m.b), diffCell(m.difference, false), f2(m.pullA), f2(m.pullB)]), 'Distance from the target profile'));
    }
    return parts.join('\n');
  },
  evidence: (models) => ({ adoptions: models.flatMap((m) => m.methods.flatMap((r) => r.personas.map((p) => ({ persona: p.personaId, model: m.model, method: r.method, adoption: p.adoption })))), realizations: [] }),
};

/**
 * Each measured profile and each model's default, for placing among real people: on the
 * instrument's scales (`byScale`), else as a Big Five profile (NaN on a domain it has no scale for).
 */
export function measuredProfiles(models: readonly ModelAnalysis[], byScale = false): { model: string; method: string; persona: string; profile: Record<string, number> }[] {
  return models.flatMap((m) => m.methods.flatMap((r, i) => {
    const shape = (p: Record<string, number>): Record<string, number> => (byScale ? p : domainProfile(r.scales, p));
    return [
      ...r.personas.map((p) => ({ model: m.model, method: r.method, persona: p.personaId, profile: shape(measuredProfile(p)) })),
      ...(i === 0 && r.baseline ? [{ model: m.model, method: 'none', persona: '(default)', profile: shape(r.baseline) }] : []),
    ];
  }));
}
