// The human-twins probe on the registry's interface: real respondents' answers as the
// target (twins.ts), its report table, console lines and CSV-free summary.

import { ci, escapeHtml, f2, table } from '../present/html.js';
import { f2 as t2 } from '../present/text.js';
import { modelIdOf } from '../suite/roles.js';
import type { Probe } from './probe.js';
import { analyzeTwins, planTwins, twinTasks, type TwinPlan, type TwinsAnalysis } from './twins.js';

declare module './probe.js' {
  interface ProbeResults {
    twins?: TwinsAnalysis;
  }
}

function twinsHtml(t: TwinsAnalysis): string {
  const row = (name: string, style: string, r: TwinsAnalysis['results'][number] | TwinsAnalysis['baselines'][number]) => {
    const main = r.effects.filter((e) => Math.abs(e.realD) > 0.2);
    return [escapeHtml(name), escapeHtml(style), f2(r.individual.accuracy), f2(r.individual.normalizedAccuracy), f2(r.individual.mae), f2(r.individual.personCorrelation), f2(r.compression.overall), f2(r.structure), escapeHtml(main.map((e) => `${e.effect}: real d ${f2(e.realD)}, twin d ${f2(e.simulatedD)} (×${f2(e.amplification)})`).join('; ') || '—')];
  };
  const head = ['Model or baseline', 'Conditioning', 'Exact accuracy', 'Normalized accuracy', 'MAE', 'Person r', 'Variance compression', 'Structure recovery r', 'Group differences (|real d| > 0.2)'];
  return `<p>${t.people} real respondents of <code>${escapeHtml(t.dataset)}</code>, ${t.givenItems} items given as known answers, ${t.heldOutItems} held out and predicted. Ceiling: ${f2(t.ceiling.value)} (${escapeHtml(t.ceiling.source)}). Loader: ${t.load.rowsKept} of ${t.load.rowsRead} rows kept; dropped ${escapeHtml(JSON.stringify(t.load.droppedRows))}; missing answers ${escapeHtml(JSON.stringify(t.load.missingAnswers))}; ${escapeHtml(JSON.stringify(t.load.cleanedCovariates))}.</p>
${table(head, [...t.results.map((r) => row(r.model, r.style, r)), ...t.baselines.map((b) => row(b.baseline, 'baseline (fitted on the other people)', b))])}
${table(['Model', 'Conditioning', 'Replication rate of group differences [95% CI]'], t.replication.map((r) => [escapeHtml(r.model), escapeHtml(r.style), ci(r.rate)]))}`;
}

export const twinsProbe: Probe<'twins', TwinPlan> = {
  key: 'twins',
  block: 'twins',
  title: 'Human twins',
  enabled: (suite) => Boolean(suite.twins),
  // The human data is read and split before any call: a bad file fails first.
  prepare: (suite, dirs) => planTwins(suite, dirs.dataDir),
  plan: ({ suite, prepared, optionProbs }) => twinTasks(suite, prepared, [...optionProbs]),
  analyze: ({ suite, responses, prepared, dirs }) => (suite.twins ? analyzeTwins(suite, prepared(), suite.models.map(modelIdOf), responses, dirs.dataDir) : undefined),
  sections: async (t) => [{ id: 'twins', title: 'Human twins', html: twinsHtml(t) }],
  console: (t) => [
    `\nHuman twins: ${t.people} people of ${t.dataset}, ${t.heldOutItems} held-out items; ceiling ${t2(t.ceiling.value)} (${t.ceiling.source})`,
    ...[...t.results.map((x) => ({ name: `${x.model} / ${x.style}`, ...x })), ...t.baselines.map((x) => ({ name: `baseline: ${x.baseline}`, ...x }))].map(
      (r) => `  ${r.name}: accuracy ${t2(r.individual.accuracy)} (normalized ${t2(r.individual.normalizedAccuracy)}), MAE ${t2(r.individual.mae)}, person r ${t2(r.individual.personCorrelation)}, compression ${t2(r.compression.overall)}, structure r ${t2(r.structure)}`,
    ),
  ],
};
