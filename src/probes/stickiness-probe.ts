// The stickiness probe on the registry's interface: multi-turn adversarial pressure
// (conversations and measures in stickiness.ts), its report sections (retention curves,
// breaks, transcripts), console table, retention CSV, differences between runs, and its
// realization evidence for the verdicts.

import { resolve } from 'node:path';
import { z } from 'zod';
import { truthSourceOf } from '../backends/registry.js';
import type { TruthSource } from '../backends/types.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { independentDifference, type Interval } from '../metrics/differences.js';
import { median } from '../metrics/stats.js';
import { adoptedRetention } from '../metrics/stickiness.js';
import { breakHeatmapSpec, differenceSpec, retentionSpec, type RetentionRow } from '../present/charts.js';
import { chartFigure, ci, diffCell, escapeHtml, f2, table } from '../present/html.js';
import { csvText, f2 as t2, textTable } from '../present/text.js';
import { backendIdOf, modelIdOf, resolveModelRef } from '../suite/roles.js';
import type { Suite } from '../suite/schema.js';
import { UserError } from '../util/errors.js';
import { attackLibrary, type AttackFamily } from './attacks.js';
import type { Probe, RunHeader } from './probe.js';
import { declareSuite } from './sim-truths.js';
import { analyzeStickiness, familiesOf, runStickiness, simSubjectOf, type Measure, type ResolvedCondition, type StickinessAnalysis } from './stickiness.js';

declare module './probe.js' {
  interface ProbeResults {
    stickiness?: StickinessAnalysis;
  }
}

export interface StickinessComparison {
  persona: string;
  conditionA: string;
  conditionB: string;
  measure: Measure;
  a: Interval;
  b: Interval;
  difference: Interval;
}

interface Prepared {
  library: ReadonlyMap<string, AttackFamily>;
  /** A persona vector used as the retention direction, read from its file. */
  direction?: number[];
}

const FAMILIES = 'stickiness-families';
const DIRECTION = 'stickiness-direction';

function directionFromFile(file: string, hook: string): number[] {
  const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
  if (!m) throw new UserError(`stickiness.retention.activations: a persona vector is read at blocks.L.hook_resid_post; the hook is ${hook}`);
  const v = readVectorFile(file).layers.get(Number(m[1]));
  if (!v) throw new UserError(`${file}: no vector for ${hook}`);
  return [...v];
}

/**
 * The retention a noiseless measurement would report, where the condition's backend has a
 * truth source (the simulated panel): adherence now over adherence at turn 0, or 0 if never adopted.
 */
function simTruthOf(suite: Suite): (c: ResolvedCondition, family: string, turn: number) => number | undefined {
  const sources = new Map<string, TruthSource | undefined>();
  return (c, family, turn) => {
    const id = backendIdOf(suite, c.model);
    if (!sources.has(id)) {
      const source = truthSourceOf(id);
      if (source) declareSuite(source, suite);
      sources.set(id, source);
    }
    const source = sources.get(id);
    if (!source) return undefined;
    const subject = simSubjectOf(c.spec.id);
    return adoptedRetention(source.trueAdherence(subject, family, turn), source.trueAdoption(subject));
  };
}

/** One row per condition x measure x family x turn: the retention curves with their bands. */
export function retentionCsv(s: StickinessAnalysis, run: RunHeader): string {
  const header = ['run', 'simulated', 'condition', 'persona', 'model', 'method', 'measure', 'family', 'turn', 'retention', 'ci_lo', 'ci_hi', 'conversations', 'realization_index', 'ri_lo', 'ri_hi'];
  const rows: unknown[][] = [];
  for (const c of s.conditions)
    for (const m of c.measures)
      for (const [family, curve, ri] of [['all', m.curve, m.realization] as const, ...m.byFamily.map((f) => [f.family, f.curve, f.realization] as const)])
        for (const p of curve) rows.push([run.runId, run.simulated, c.id, c.persona, c.model, c.method, m.measure, family, p.turn, p.mean, p.lo, p.hi, p.n, ri.value, ri.lo, ri.hi]);
  return csvText(header, rows);
}

async function stickinessHtml(s: StickinessAnalysis): Promise<string> {
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

/**
 * Every stickiness conversation, searchable (a text filter and a broken-only switch; without
 * scripts all are listed), with the breaking reply marked. Model and attack text is escaped.
 */
function transcriptsHtml(s: StickinessAnalysis, searchId: string): string {
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

function stickinessConsole(s: StickinessAnalysis): string {
  const out = [`\nStickiness: ${s.conditions.length} condition(s) × ${s.families.length} attack families × ${s.turns} turns · adoption at turn 0 (0 = default, 1 = target) and realization index [95% CI] (1 = all of the adopted persona kept; 0 = never adopted, or all lost)`];
  const rows = [['condition', 'adoption', ...s.measures, 'truth (sim)', 'broke under (share)']];
  for (const c of s.conditions) {
    const primary = c.measures[0];
    const families = primary ? primary.byFamily.filter((f) => f.breaks.brokenShare > 0) : [];
    const broke =
      primary && families.length === primary.byFamily.length && families.length > 2
        ? `all ${families.length} families (median turn ${t2(median(families.map((f) => f.breaks.medianTurn!)))})`
        : families.map((f) => `${f.family} ${Math.round(f.breaks.brokenShare * 100)}% at turn ${t2(f.breaks.medianTurn)}`).join(', ');
    const adoption = primary?.adoption;
    rows.push([c.id, adoption ? `${t2(adoption.value)} ${adoption.verdict}` : '—', ...s.measures.map((m) => {
      const r = c.measures.find((x) => x.measure === m)?.realization;
      return r ? `${t2(r.value)} [${t2(r.lo)}, ${t2(r.hi)}]` : '—';
    }), c.truth ? t2(c.truth.realization) : '', broke || 'none']);
  }
  out.push(textTable(rows));
  for (const c of s.comparisons) out.push(`  ${c.a} − ${c.b} (${c.measure}): ${t2(c.difference.value)} [${t2(c.difference.lo)}, ${t2(c.difference.hi)}] over ${c.difference.n} paired conversations`);
  const failures = s.conditions.reduce((n, c) => n + (c.judge?.failures ?? 0), 0);
  if (s.conditions.some((c) => c.judge)) out.push(`  judge: ${failures} unparsable judgment(s) of ${s.conditions.reduce((n, c) => n + (c.judge?.judgments ?? 0), 0)} (counted, not scored)`);
  return out.join('\n');
}

export const stickinessProbe: Probe<'stickiness', Prepared, StickinessComparison[]> = {
  key: 'stickiness',
  block: 'stickiness',
  title: 'Stickiness under adversarial pressure',
  enabled: (suite) => Boolean(suite.stickiness),
  prepare: (suite, dirs) => {
    const st = suite.stickiness!;
    const library = attackLibrary(st.attack_files.map((f) => resolve(dirs.baseDir ?? '.', f)));
    const fixed = st.retention.activations;
    return { library, ...(fixed?.vector ? { direction: directionFromFile(resolve(dirs.baseDir ?? '.', fixed.vector), fixed.hook) } : {}) };
  },
  // The families a block runs are fixed here and stored, so a re-render needs no attack files.
  record: ({ suite, prepared }) => ({ [FAMILIES]: familiesOf(suite.stickiness!, prepared.library), ...(prepared.direction ? { [DIRECTION]: prepared.direction } : {}) }),
  run: (ctx, prepared) => runStickiness(ctx, prepared.library),
  analyze: ({ suite, responses, requestOf, stored }) => {
    if (!suite.stickiness) return undefined;
    const direction = stored(DIRECTION, z.array(z.number()));
    return analyzeStickiness(suite, stored(FAMILIES, z.array(z.string())) ?? [], { responses, requestOf, simTruth: simTruthOf(suite), ...(direction ? { direction } : {}) });
  },
  sections: async (s, _run, idPrefix) => [
    { id: 'stickiness', title: 'Stickiness under adversarial pressure', html: await stickinessHtml(s) },
    ...(s.conditions.some((c) => c.conversations.length) ? [{ id: 'transcripts', title: 'Transcripts', html: transcriptsHtml(s, `${idPrefix}search`) }] : []),
  ],
  summaryRows: (s) => [['Stickiness conditions', s.conditions.map((c) => escapeHtml(c.id)).join(', ') || '—']],
  console: (s) => [stickinessConsole(s)],
  csv: (s, run) => [{ file: 'retention.csv', text: retentionCsv(s, run) }],
  differences: (A, B) => {
    // Conditions pair by persona and method, else by persona alone.
    const out: StickinessComparison[] = [];
    for (const ca of A.conditions) {
      const cb = B.conditions.find((c) => c.persona === ca.persona && c.method === ca.method) ?? B.conditions.find((c) => c.persona === ca.persona);
      if (!cb) continue;
      for (const ma of ca.measures) {
        const mb = cb.measures.find((m) => m.measure === ma.measure);
        if (mb) out.push({ persona: ca.persona, conditionA: ca.id, conditionB: cb.id, measure: ma.measure, a: ma.realization, b: mb.realization, difference: independentDifference(ma.realization, mb.realization) });
      }
    }
    return out.length ? out : undefined;
  },
  differencesHtml: async (d) =>
    [
      '<h3>Stickiness: realization index</h3>',
      await chartFigure(differenceSpec(d.map((s) => ({ label: `${s.persona} · ${s.measure}`, group: s.measure, ...s.difference })), 'Realization index, B − A', 'realization index, 0..1', 'Retention measure', 'Persona · measure'), 'Per persona and retention measure, the change in realization index from run A to run B (higher keeps more of the persona).'),
      table(['Persona', 'Condition A', 'Condition B', 'Measure', 'A [95% CI]', 'B [95% CI]', 'B − A [95% CI]'], d.map((s) => [escapeHtml(s.persona), escapeHtml(s.conditionA), escapeHtml(s.conditionB), s.measure, ci(s.a), ci(s.b), diffCell(s.difference, true)]), 'Realization index per persona'),
    ].join('\n'),
  judgments: (s) => ({ failed: s.conditions.reduce((n, c) => n + (c.judge?.failures ?? 0), 0), total: s.conditions.reduce((n, c) => n + (c.judge?.judgments ?? 0), 0) }),
  evidence: (s, suite) => ({
    adoptions: [],
    realizations: s.conditions.map((c) => {
      const ref = resolveModelRef(suite, c.model);
      const primary = c.measures.find((m) => m.adoption) ?? c.measures[0];
      return { persona: c.persona, model: ref.kind === 'entry' ? modelIdOf(suite.models[ref.index]!) : ref.id, method: c.method, condition: c.id, adoption: primary?.adoption ?? null, ...(primary ? { realization: primary.realization } : {}) };
    }),
  }),
};
