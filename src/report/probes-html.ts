// Report sections for the multi-turn probes: stickiness (retention curves with bands,
// realization index, breaks, paired comparisons, the worst break's transcript) and
// consistency tables. Every model text goes through escapeHtml.

import { DOMAINS } from '../instruments/types.js';
import type { StickinessAnalysis } from '../probes/stickiness.js';
import type { ConsistencyAnalysis } from '../probes/consistency.js';
import type { TwinsAnalysis } from '../probes/twins.js';
import { breakHeatmapSpec, retentionSpec, type RetentionRow } from './charts.js';
import { chartFigure, escapeHtml, f2, ci, table } from './html-parts.js';

export async function stickinessSection(s: StickinessAnalysis): Promise<string> {
  const parts: string[] = [];
  parts.push(`<p>${s.conditions.length} condition(s), ${s.families.length} attack families (${s.families.map(escapeHtml).join(', ')}), ${s.turns} attack turns after the opening. Retention is 1 at turn 0 by definition; a conversation <em>breaks</em> at the first turn its retention falls below ${f2(s.breakThreshold)}. Realization index = area under the retention curve over turns 0..${s.turns}, divided by ${s.turns} (1 = nothing lost).</p>`);
  for (const measure of s.measures) {
    const rows: RetentionRow[] = [];
    for (const c of s.conditions) {
      const m = c.measures.find((x) => x.measure === measure);
      if (!m) continue;
      for (const p of m.curve) rows.push({ condition: c.id, family: 'all families', turn: p.turn, mean: p.mean, lo: p.lo, hi: p.hi });
      for (const f of m.byFamily) for (const p of f.curve) rows.push({ condition: c.id, family: f.family, turn: p.turn, mean: p.mean, lo: p.lo, hi: p.hi });
    }
    const overall = rows.filter((r) => r.family === 'all families');
    const label = { inventory: 'short inventory in a fork', judge: 'judge adherence', activations: 'projection on the persona direction' }[measure];
    parts.push(`<h3>Retention by ${escapeHtml(label)}</h3>`);
    if (!rows.some((r) => Number.isFinite(r.mean))) {
      // Nothing to draw (no conversation has a complete curve on this measure): say so instead of empty axes.
      parts.push('<p>No conversation has a complete retention curve on this measure, so there is no chart; the tables below count what is missing.</p>');
    } else {
      parts.push(await chartFigure(retentionSpec(overall, `Retention over turns (${label})`, false), 'Mean retention per turn over conversations; band: bootstrap 95% interval (conversations resampled).'));
      // A family with no complete curve has nothing to draw: no empty frame for it, a note instead.
      const byFamily = rows.filter((r) => r.family !== 'all families' && Number.isFinite(r.mean));
      const drawn = new Set(byFamily.map((r) => r.family));
      const empty = s.families.filter((f) => !drawn.has(f));
      parts.push(await chartFigure(retentionSpec(byFamily, `Retention by attack family (${label})`, true), `One panel per attack family: retention (0..1, share of the persona kept) against turn (0 = opening, then attack turns).${empty.length ? ` No complete curve, so no panel: ${empty.map(escapeHtml).join(', ')}.` : ''}`));
    }
    const riRows = s.conditions.flatMap((c) => {
      const m = c.measures.find((x) => x.measure === measure);
      if (!m) return [];
      const broke = m.byFamily.filter((f) => f.breaks.brokenShare > 0).map((f) => `${f.family} (${Math.round(f.breaks.brokenShare * 100)}%, median turn ${f2(f.breaks.medianTurn)})`);
      const adoption = m.adoption ? `${ci(m.adoption)} · <strong>${escapeHtml(m.adoption.verdict)}</strong>${m.adoption.notAdopted ? ` (${m.adoption.notAdopted} conversations not adopted)` : ''}` : '—';
      return [[escapeHtml(c.id), escapeHtml(c.persona), escapeHtml(c.model), escapeHtml(c.method), adoption, ci(m.realization), c.truth ? f2(c.truth.realization) : '—', `${m.complete}/${m.conversations}`, escapeHtml(broke.join('; ') || 'none')]];
    });
    parts.push(table(['Condition', 'Persona', 'Model', 'Method', 'Adoption at turn 0 [95% CI] (0 = the default, 1 = the target)', 'Realization index [95% CI]', 'Simulated truth', 'Complete conversations', 'Families that broke it (share, median turn)'], riRows));
    const cmp = s.comparisons.filter((c) => c.measure === measure);
    if (cmp.length) parts.push(`<h4>Paired comparisons</h4>${table(['A', 'B', 'Realization index A − B [95% CI]', 'Pairs'], cmp.map((c) => [escapeHtml(c.a), escapeHtml(c.b), ci(c.difference), String(c.difference.n)]))}`);
  }
  const judged = s.conditions.filter((c) => c.judge);
  if (judged.length) {
    const notes = [...new Set(judged.map((c) => c.judge!.note).filter((n): n is string => Boolean(n)))];
    parts.push(`<h4>Judge</h4>${table(['Condition', 'Judgments', 'Unparsable (failures)', 'Repeats per judgment', 'Mean SD across repeats (0–10)', 'Examples of failures'], judged.map((c) => [escapeHtml(c.id), String(c.judge!.judgments), String(c.judge!.failures), String(c.judge!.repeats ?? '—'), c.judge!.note ? '— (one judgment each)' : f2(c.judge!.meanRepeatSd), escapeHtml(c.judge!.failureExamples.join('; '))]))}${notes.map((n) => `<p class="note">${escapeHtml(n)}</p>`).join('')}`);
  }
  const breaks = s.conditions.flatMap((c) => {
    const m = c.measures[0];
    return m ? m.byFamily.map((f) => [escapeHtml(c.id), escapeHtml(c.persona), escapeHtml(f.family), ci(f.realization), Number.isFinite(f.breaks.brokenShare) ? `${Math.round(f.breaks.brokenShare * 100)}%` : '—', f2(f.breaks.medianTurn)]) : [];
  });
  const cells = s.conditions.flatMap((c) => (c.measures[0]?.byFamily ?? []).filter((f) => Number.isFinite(f.breaks.brokenShare)).map((f) => ({ condition: c.id, family: f.family, broken: f.breaks.brokenShare, medianTurn: f.breaks.medianTurn })));
  if (cells.length) parts.push(`<h3>Where each persona broke</h3>${await chartFigure(breakHeatmapSpec(cells, `Share of conversations that broke, by attack family and condition (${s.measures[0] ?? ''})`), 'Each cell: the share of that condition\'s conversations under that attack family whose retention fell below the break threshold (darker: more broke).')}`);
  if (breaks.length) parts.push(`${cells.length ? '' : '<h3>Where each persona broke</h3>'}${table(['Condition', 'Persona', 'Attack family', 'Realization index [95% CI]', 'Conversations that broke', 'Median breaking turn'], breaks, `Breaks on the primary measure (${escapeHtml(s.measures[0] ?? '')}), per attack family`)}`);
  const worst = s.conditions.filter((c) => c.worst).map((c) => `<li><code>${escapeHtml(c.id)}</code>: ${escapeHtml(c.worst!.family)} #${c.worst!.conversation}, realization ${f2(c.worst!.realization)}${c.worst!.breakTurn !== null ? `, broke at turn ${c.worst!.breakTurn}` : ', never broke'}</li>`);
  if (worst.length) parts.push(`<p>Worst conversation per condition (full text under Transcripts):</p><ul>${worst.join('')}</ul>`);
  return parts.join('\n');
}

export function consistencySection(c: ConsistencyAnalysis): string {
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

export function twinsSection(t: TwinsAnalysis): string {
  const row = (name: string, style: string, r: TwinsAnalysis['results'][number] | TwinsAnalysis['baselines'][number]) => {
    const main = r.effects.filter((e) => Math.abs(e.realD) > 0.2);
    return [escapeHtml(name), escapeHtml(style), f2(r.individual.accuracy), f2(r.individual.normalizedAccuracy), f2(r.individual.mae), f2(r.individual.personCorrelation), f2(r.compression.overall), f2(r.structure), escapeHtml(main.map((e) => `${e.effect}: real d ${f2(e.realD)}, twin d ${f2(e.simulatedD)} (×${f2(e.amplification)})`).join('; ') || '—')];
  };
  const head = ['Model or baseline', 'Conditioning', 'Exact accuracy', 'Normalized accuracy', 'MAE', 'Person r', 'Variance compression', 'Structure recovery r', 'Group differences (|real d| > 0.2)'];
  return `<p>${t.people} real respondents of <code>${escapeHtml(t.dataset)}</code>, ${t.givenItems} items given as known answers, ${t.heldOutItems} held out and predicted. Ceiling: ${f2(t.ceiling.value)} (${escapeHtml(t.ceiling.source)}). Loader: ${t.load.rowsKept} of ${t.load.rowsRead} rows kept; dropped ${escapeHtml(JSON.stringify(t.load.droppedRows))}; missing answers ${escapeHtml(JSON.stringify(t.load.missingAnswers))}; ${escapeHtml(JSON.stringify(t.load.cleanedCovariates))}.</p>
${table(head, [...t.results.map((r) => row(r.model, r.style, r)), ...t.baselines.map((b) => row(b.baseline, 'baseline (fitted on the other people)', b))])}
${table(['Model', 'Conditioning', 'Replication rate of group differences [95% CI]'], t.replication.map((r) => [escapeHtml(r.model), escapeHtml(r.style), ci(r.rate)]))}`;
}

/**
 * Every stickiness conversation, searchable (a text filter and a broken-only switch; without
 * scripts all are listed), with the breaking reply marked. Model and attack text is escaped.
 */
export function transcriptsSection(s: StickinessAnalysis, searchId: string): string {
  const blocks = s.conditions.flatMap((c) =>
    c.conversations.map((v) => {
      const isWorst = c.worst?.family === v.family && c.worst.conversation === v.conversation;
      const turns = v.transcript
        .map((m) => {
          const broken = v.breakTurn !== null && m.turn === v.breakTurn && m.role === 'assistant';
          return `<div class="turn ${m.role}${broken ? ' broke' : ''}"><span class="who">turn ${m.turn} · ${m.role === 'user' ? 'attacker' : 'persona'}${broken ? ' · <strong>broke here</strong>' : ''}</span><pre>${escapeHtml(m.content)}</pre></div>`;
        })
        .join('');
      const head = `<code>${escapeHtml(c.id)}</code> · ${escapeHtml(v.family)} #${v.conversation} · realization ${f2(v.realization)}${v.breakTurn !== null ? ` · <strong>broke at turn ${v.breakTurn}</strong>` : ''}${isWorst ? ' · worst of this condition' : ''}`;
      return `<details class="conversation"${v.breakTurn !== null ? ' data-broke' : ''}${isWorst ? ' open' : ''}><summary>${head}</summary>${turns || '<p>No stored turns.</p>'}</details>`;
    }),
  );
  return `<p><label>Search transcripts <input type="search" data-transcript-search="${searchId}" placeholder="words in any turn"></label> <label><input type="checkbox" data-broken-only="${searchId}"> only conversations that broke</label> · <span data-search-count="${searchId}" aria-live="polite">${blocks.length} conversations</span></p>
<div id="${searchId}">${blocks.join('\n')}</div>`;
}
