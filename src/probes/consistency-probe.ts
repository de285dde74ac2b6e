// The consistency probe on the registry's interface: dialogue, regeneration, tenancy,
// self-report and twenty questions (consistency.ts), their report tables, console lines,
// differences between runs and judge failures.

import { z } from 'zod';
import { DOMAINS } from '../instruments/types.js';
import { proportionDifference, type Interval } from '../metrics/differences.js';
import { ci, diffCell, escapeHtml, f2, table } from '../present/html.js';
import { f2 as t2 } from '../present/text.js';
import { analyzeConsistency, runConsistency, type ConsistencyAnalysis } from './consistency.js';
import { STATEFUL_MODELS, type Probe } from './probe.js';

declare module './probe.js' {
  interface ProbeResults {
    consistency?: ConsistencyAnalysis;
  }
}

export interface DialogueComparison {
  persona: string;
  metric: 'prompt-to-line' | 'line-to-line' | 'Q&A accuracy';
  a: number;
  b: number;
  difference: Interval;
}

function consistencyHtml(c: ConsistencyAnalysis): string {
  const parts: string[] = [];
  if (c.dialogue) {
    parts.push(`<h3>Dialogue consistency</h3><p>Prompt-to-line: share of persona lines not contradicting the backstory. Line-to-line: 1 − share of (line, earlier line) pairs contradicted. Q&amp;A: share of backstory questions answered right (forked, every k turns).</p>`);
    parts.push(table(['Model', 'Persona', 'Prompt-to-line', 'Lines', 'Line-to-line', 'Pairs', 'Q&A accuracy', 'Asked (unparsed)', 'Judge failures / judgments', 'Simulated truth (P2L / L2L / Q&A)'], c.dialogue.map((r) => [escapeHtml(r.model), escapeHtml(r.persona), f2(r.promptToLine.value), String(r.promptToLine.lines), f2(r.lineToLine.value), String(r.lineToLine.pairs), r.qa ? f2(r.qa.accuracy) : '—', r.qa ? `${r.qa.asked} (${r.qa.unparsed})${r.qa.generatorFailed ? ' · question generation failed' : ''}` : '—', `${r.judgeFailures} / ${r.judgments}`, r.truth ? `${f2(r.truth.promptToLine)} / ${f2(r.truth.lineToLine)} / ${f2(r.truth.qa)}` : '—'])));
  }
  if (c.regeneration) {
    parts.push(`<h3>Regeneration stability</h3><p>The same short inventory sampled under different seeds. Spread: SD of domain scores across seeds. ICC(1,1): share of score variance that is between personas rather than between regenerations.</p>`);
    parts.push(table(['Model', 'Persona', 'Seeds', ...DOMAINS.map((d) => `${d} SD`)], c.regeneration.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.persona), String(r.seeds), ...DOMAINS.map((d) => f2(r.spread[d]))])));
    parts.push(table(['Model', 'Domain', 'ICC(1,1)', 'ICC(1,k)', 'Personas', 'Seeds'], c.regeneration.icc.map((r) => [escapeHtml(r.model), r.domain, f2(r.single), f2(r.average), String(r.subjects), String(r.k)])));
  }
  if (c.tenancy) {
    parts.push(`<h3>Multi-tenancy</h3><p>Each persona alone on the instance, then all interleaved turn by turn, with the same questions and seeds. A shifted turn is a reply that differs between the two; a leak is another persona's private fact in this persona's reply.</p>`);
    const stateless = new Set(c.tenancy.stateless ?? []);
    const leakText = (leaks: readonly { turn: number; from: string; marker: string }[]) => escapeHtml(leaks.map((l) => `turn ${l.turn}: "${l.marker}" from ${l.from}`).join('; '));
    parts.push(table(['Model', 'Persona', 'Turns compared', 'Shifted', 'Leaks when shared', 'Leaks when alone', 'Leaked facts'], c.tenancy.rows.map((r) => [escapeHtml(r.model) + (stateless.has(r.model) ? ' (keeps no state: trivially clean)' : ''), escapeHtml(r.persona), String(r.turns), String(r.shifted), String(r.leaksShared.length), String(r.leaksAlone.length), leakText([...r.leaksShared, ...r.leaksAlone])])));
    if (stateless.size) parts.push(`<p>${[...stateless].map((m) => `<code>${escapeHtml(m)}</code>`).join(', ')} keep${stateless.size > 1 ? '' : 's'} no state between requests: separate conversations on it cannot touch, so a clean row above is what any such backend gives, not a finding. The question is asked properly in one context, below.</p>`);
    if (c.tenancy.group?.length) {
      parts.push(`<h4>Several personas in one context</h4><p>A group scene: one conversation in which the model voices every persona in turn (a leak is another persona's fact in this persona's line). Handovers: a conversation as one persona, handed over to the next; leaks are the first persona's facts in the second's lines, and carry-over is where the second persona's inventory after the handover sits between itself alone (0) and the first persona alone (1).</p>`);
      parts.push(table(['Model', 'Persona', 'Lines in the scene', 'Leaks', 'Leaked facts'], c.tenancy.group.map((r) => [escapeHtml(r.model), escapeHtml(r.persona), String(r.lines), String(r.leaks.length), leakText(r.leaks)])));
      parts.push(table(['Model', 'Handover', 'Lines after', 'Leaks', 'Trait carry-over (0 none, 1 all)', 'Distance between the two alone', 'Leaked facts'], (c.tenancy.handover ?? []).map((r) => [escapeHtml(r.model), `${escapeHtml(r.from)} → ${escapeHtml(r.to)}`, String(r.lines), String(r.leaks.length), f2(r.carryover), f2(r.distance), leakText(r.leaks)])));
    }
  }
  if (c.selfReport) {
    parts.push(`<h3>Self-report vs behavior</h3><p>Self: the persona's own inventory answers. Judged: a judge's Big Five ratings of the persona's conversation. Gap = judged − self.</p>`);
    parts.push(table(['Model', 'Domain', 'Correlation across personas', 'Mean gap [95% CI]'], c.selfReport.byDomain.map((r) => [escapeHtml(r.model), r.domain, f2(r.correlation), ci(r.gap)])));
    parts.push(table(['Model', 'Persona', ...DOMAINS.map((d) => `${d} self → judged`), 'Judge failures'], c.selfReport.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.persona), ...DOMAINS.map((d) => `${f2(r.self[d])} → ${f2(r.judged?.[d])}`), String(r.judgeFailures)])));
  }
  if (c.twentyQuestions) {
    parts.push(`<h3>Twenty questions (commitment)</h3><p>A game is consistent when at least one object in the set gives exactly the persona's yes/no answers.</p>`);
    parts.push(table(['Model', 'Persona', 'Games', 'Consistent', 'Reveal fits the answers', 'Unparsed answers', 'Objects left per game'], c.twentyQuestions.rows.map((r) => [escapeHtml(r.model), escapeHtml(r.persona), String(r.games), String(r.consistent), String(r.revealConsistent), String(r.unparsed), r.candidates.join(', ')])));
  }
  return parts.join('\n');
}

function consistencyConsole(c: ConsistencyAnalysis): string {
  const out = ['\nConsistency:'];
  for (const r of c.dialogue ?? []) out.push(`  dialogue ${r.model} / ${r.persona}: prompt-to-line ${t2(r.promptToLine.value)}, line-to-line ${t2(r.lineToLine.value)}, Q&A ${t2(r.qa?.accuracy)}${r.judgeFailures ? ` (${r.judgeFailures} judge failures)` : ''}`);
  if (c.regeneration) out.push(`  regeneration ICC(1,1): ${c.regeneration.icc.map((r) => `${r.domain} ${t2(r.single)}`).join(', ')}`);
  const stateless = new Set(c.tenancy?.stateless ?? []);
  for (const r of c.tenancy?.rows ?? []) out.push(`  tenancy ${r.model} / ${r.persona}: ${r.shifted}/${r.turns} turns shifted, ${r.leaksShared.length} leak(s) shared, ${r.leaksAlone.length} alone${stateless.has(r.model) ? ' (the backend keeps no state: trivially clean)' : ''}`);
  for (const r of c.tenancy?.group ?? []) out.push(`  one context ${r.model} / ${r.persona}: ${r.leaks.length} leak(s) in ${r.lines} line(s) of the group scene`);
  for (const r of c.tenancy?.handover ?? []) out.push(`  handover ${r.model} / ${r.from} → ${r.to}: ${r.leaks.length} leak(s) in ${r.lines} line(s), trait carry-over ${t2(r.carryover)}`);
  if (c.selfReport) out.push(`  self-report vs behavior, mean gap (judged − self): ${c.selfReport.byDomain.map((r) => `${r.domain} ${t2(r.gap.value)} (r ${t2(r.correlation)})`).join(', ')}`);
  for (const r of c.twentyQuestions?.rows ?? []) out.push(`  twenty questions ${r.model} / ${r.persona}: ${r.consistent}/${r.games} games consistent`);
  return out.join('\n');
}

export const consistencyProbe: Probe<'consistency', undefined, DialogueComparison[]> = {
  key: 'consistency',
  block: 'consistency',
  title: 'Consistency',
  enabled: (suite) => Boolean(suite.consistency),
  run: (ctx) => runConsistency(ctx),
  analyze: ({ suite, responses, stored }) => (suite.consistency ? analyzeConsistency(suite, responses, { statefulModels: stored(STATEFUL_MODELS, z.array(z.string())) }) : undefined),
  sections: async (c) => [{ id: 'consistency', title: 'Consistency', html: consistencyHtml(c) }],
  console: (c) => [consistencyConsole(c)],
  differences: (A, B) => {
    const out: DialogueComparison[] = [];
    for (const da of A.dialogue ?? []) {
      const db = B.dialogue?.find((d) => d.persona === da.persona);
      if (!db) continue;
      out.push({ persona: da.persona, metric: 'prompt-to-line', a: da.promptToLine.value, b: db.promptToLine.value, difference: proportionDifference(da.promptToLine.value, da.promptToLine.lines, db.promptToLine.value, db.promptToLine.lines) });
      out.push({ persona: da.persona, metric: 'line-to-line', a: da.lineToLine.value, b: db.lineToLine.value, difference: proportionDifference(da.lineToLine.value, da.lineToLine.pairs, db.lineToLine.value, db.lineToLine.pairs) });
      if (da.qa && db.qa) out.push({ persona: da.persona, metric: 'Q&A accuracy', a: da.qa.accuracy, b: db.qa.accuracy, difference: proportionDifference(da.qa.accuracy, da.qa.asked - da.qa.unparsed, db.qa.accuracy, db.qa.asked - db.qa.unparsed) });
    }
    return out.length ? out : undefined;
  },
  differencesHtml: async (d) => `<h3>Dialogue consistency</h3>${table(['Persona', 'Metric', 'A', 'B', 'B − A [95% CI]'], d.map((x) => [escapeHtml(x.persona), escapeHtml(x.metric), f2(x.a), f2(x.b), diffCell(x.difference, true)]), 'Consistency rates per persona')}`,
  judgments: (c) => ({
    failed: (c.dialogue ?? []).reduce((n, d) => n + d.judgeFailures, 0) + (c.selfReport?.rows ?? []).reduce((n, r) => n + r.judgeFailures, 0),
    total: (c.dialogue ?? []).reduce((n, d) => n + d.judgments, 0),
  }),
};
