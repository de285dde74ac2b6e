// Real human personality answers, read through adapters for public layouts: the
// Open-Source Psychometrics BIG5 file, SAPA (psychTools spi), and the EPI retest set.
// Every loader reports how many rows and answers it dropped and why; quirks (0 =
// missed, impossible ages, tab separation with CRLF, ids repeated across studies)
// are handled here, not by callers.

import { readTextFile } from '../util/files.js';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.js';
import { column, readTable, type Table } from './table.js';
import { DOMAINS, type Domain } from '../instruments/types.js';
import { pearson } from '../metrics/stats.js';

export interface HumanItem {
  id: string;
  text: string;
  domain: Domain | null;
  keyed: 'plus' | 'minus';
}

export interface Respondent {
  id: string;
  covariates: Record<string, number | string | null>;
  /** One answer per item (dataset order), null where missing. */
  answers: (number | null)[];
}

export interface LoadReport {
  file: string;
  rowsRead: number;
  rowsKept: number;
  droppedRows: Record<string, number>;
  missingAnswers: Record<string, number>;
  cleanedCovariates: Record<string, number>;
  notes: string[];
}

export interface HumanDataset {
  name: string;
  scale: { min: number; max: number };
  items: HumanItem[];
  respondents: Respondent[];
  report: LoadReport;
}

const bump = (m: Record<string, number>, k: string, n = 1) => {
  m[k] = (m[k] ?? 0) + n;
};

function answer(raw: string, min: number, max: number, report: LoadReport): number | null {
  const t = raw.trim();
  if (t === '' || t === 'NA') {
    bump(report.missingAnswers, 'empty or NA');
    return null;
  }
  const v = Number(t);
  if (v === 0 && min > 0) {
    bump(report.missingAnswers, '0 = missed');
    return null;
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    bump(report.missingAnswers, `outside ${min}..${max}`);
    return null;
  }
  return v;
}

function newReport(file: string, rowsRead: number, notes: string[] = []): LoadReport {
  return { file, rowsRead, rowsKept: 0, droppedRows: {}, missingAnswers: {}, cleanedCovariates: {}, notes };
}

interface RowReader {
  /** Why a row with no answer at all is dropped (counted under this reason). */
  noAnswers: string;
  /** Codes meaning "no answer" besides empty and NA, counted per code. */
  missing?: ReadonlySet<string>;
  covariates(row: string[]): Respondent['covariates'];
  id(row: string[], line: number): string;
}

/** The respondents of a table: one answer per item column on the scale, rows with no answer dropped. */
function readRespondents(table: Table, itemColumns: readonly string[], scale: { min: number; max: number }, report: LoadReport, o: RowReader): Respondent[] {
  const cols = itemColumns.map((c) => column(table, c));
  const respondents: Respondent[] = [];
  table.rows.forEach((row, r) => {
    const answers = cols.map((c) => {
      const raw = row[c]!.trim();
      if (o.missing?.has(raw)) {
        bump(report.missingAnswers, `missing code ${raw}`);
        return null;
      }
      return answer(raw, scale.min, scale.max, report);
    });
    if (answers.every((a) => a === null)) {
      bump(report.droppedRows, o.noAnswers);
      return;
    }
    respondents.push({ id: o.id(row, table.lines[r]!), covariates: o.covariates(row), answers });
  });
  report.rowsKept = respondents.length;
  return respondents;
}

const BIG5_DOMAINS: Record<string, Domain> = { E: 'E', N: 'N', A: 'A', C: 'C', O: 'O' };

/**
 * The 50 items of the Open-Source Psychometrics BIG5 codebook, with their keys. The codebook
 * keys its N items as emotional stability; here N is neuroticism, so those keys are flipped.
 */
export function big5CodebookItems(codebookFile: string): HumanItem[] {
  const codebook = readTextFile(codebookFile);
  const items: HumanItem[] = [];
  for (const m of codebook.matchAll(/^([ENACO])(\d+)\t(.*)\(([+-])\)\s*$/gm)) {
    const domain = BIG5_DOMAINS[m[1]!]!;
    const plus = m[4] === '+';
    items.push({ id: `${m[1]}${m[2]}`, text: m[3]!.trim(), domain, keyed: domain === 'N' ? (plus ? 'minus' : 'plus') : plus ? 'plus' : 'minus' });
  }
  if (items.length !== 50) throw new UserError(`${codebookFile}: expected 50 items in the BIG5 codebook, found ${items.length}`);
  return items;
}

/**
 * The Open-Source Psychometrics BIG5 layout (data.csv + codebook.txt). The codebook keys
 * its N items as emotional stability; here N is neuroticism, so those keys are flipped.
 * Ages outside 10..100 become missing (the file has 83 over 100, one of 999999999).
 */
export function loadBig5(file: string): HumanDataset {
  const table = readTable(file);
  const items = big5CodebookItems(join(dirname(file), 'codebook.txt'));
  const report = newReport(file, table.rows.length, ['N keyed as neuroticism (codebook keys it as stability)']);
  const cov = ['race', 'age', 'engnat', 'gender', 'hand', 'source', 'country'].map((c) => [c, column(table, c)] as const);
  const respondents = readRespondents(table, items.map((it) => it.id), { min: 1, max: 5 }, report, {
    noAnswers: 'no answers',
    id: (_row, line) => `row${line}`,
    covariates: (row) => {
      const covariates: Respondent['covariates'] = {};
      for (const [name, c] of cov) {
        const raw = row[c]!.trim();
        if (name === 'country') covariates[name] = raw === '' || raw === '(nu' ? null : raw;
        else {
          const v = Number(raw);
          covariates[name] = Number.isFinite(v) && v !== 0 ? v : null;
        }
      }
      const age = covariates.age as number | null;
      if (age !== null && (age < 10 || age > 100)) {
        covariates.age = null;
        bump(report.cleanedCovariates, 'age outside 10..100 set missing');
      }
      covariates.gender = covariates.gender === 1 ? 'male' : covariates.gender === 2 ? 'female' : covariates.gender === 3 ? 'other' : null;
      return covariates;
    },
  });
  return { name: 'big5-osp', scale: { min: 1, max: 5 }, items, respondents, report };
}

const SAPA_DOMAINS: Record<string, Domain> = { Open: 'O', Consc: 'C', Extra: 'E', Agree: 'A', Neuro: 'N' };

/**
 * SAPA (psychTools spi.csv + spi.dictionary.csv): the 70 items the dictionary assigns to a
 * Big Five scale (1..6). The dictionary gives no keying, so each item's key is the sign of
 * its correlation with the rest of its scale (iterated once from the majority direction);
 * the report lists the items found reverse-keyed.
 */
export function loadSapa(file: string): HumanDataset {
  const table = readTable(file);
  const dict = readTable(join(dirname(file), 'spi.dictionary.csv'));
  const [idCol, textCol, b5Col] = [column(dict, 'item_id'), column(dict, 'item'), column(dict, 'B5')];
  const items: HumanItem[] = dict.rows.filter((r) => SAPA_DOMAINS[r[b5Col]!.trim()]).map((r) => ({ id: r[idCol]!.trim(), text: r[textCol]!.trim(), domain: SAPA_DOMAINS[r[b5Col]!.trim()]!, keyed: 'plus' as const }));
  const report = newReport(file, table.rows.length);
  const covNames = ['age', 'sex', 'health', 'p1edu', 'p2edu', 'education', 'wellness', 'exer', 'smoke', 'ER'];
  const covCols = covNames.map((c) => [c, column(table, c)] as const);
  const respondents = readRespondents(table, items.map((it) => it.id), { min: 1, max: 6 }, report, {
    noAnswers: 'no Big Five answers',
    id: (_row, line) => `row${line}`,
    covariates: (row) => {
      const covariates: Respondent['covariates'] = {};
      for (const [name, c] of covCols) {
        const v = Number(row[c]!.trim());
        covariates[name] = row[c]!.trim() === 'NA' || !Number.isFinite(v) ? null : v;
      }
      // psychTools codes sex by X chromosomes: 1 = male, 2 = female.
      covariates.sex = covariates.sex === 1 ? 'male' : covariates.sex === 2 ? 'female' : null;
      return covariates;
    },
  });
  inferKeys(items, respondents);
  report.notes.push(`keying inferred from item-rest correlations; reverse-keyed: ${items.filter((i) => i.keyed === 'minus').map((i) => i.id).join(', ')}`);
  return { name: 'sapa-spi', scale: { min: 1, max: 6 }, items, respondents, report };
}

/** Set each item's key to the sign of its correlation with the rest of its domain (keyed by the current keys). */
function inferKeys(items: HumanItem[], people: Respondent[]): void {
  const groups = DOMAINS.map((d) => items.flatMap((it, j) => (it.domain === d ? [j] : [])));
  const keys = inferGroupKeys(people.map((p) => p.answers), groups);
  groups.forEach((g, i) => g.forEach((j, k) => (items[j]!.keyed = keys[i]![k]!)));
}

/**
 * Keys inferred from data, per group of item columns (a scale): each item's key is the sign of
 * its loading on the first principal component of the group's correlations (pairwise complete),
 * oriented so that most items are plus-keyed (the first item breaks a tie). For data sets that
 * ship no keys (SAPA's SPI); on the BFI it recovers the published keys (test).
 */
export function inferGroupKeys(rows: readonly (readonly (number | null | undefined)[])[], groups: readonly (readonly number[])[]): ('plus' | 'minus')[][] {
  return groups.map((group) => {
    const k = group.length;
    const r = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    for (let i = 0; i < k; i++) {
      r[i]![i] = 1;
      for (let j = i + 1; j < k; j++) {
        const xs: number[] = [];
        const ys: number[] = [];
        for (const answers of rows) {
          const a = answers[group[i]!];
          const b = answers[group[j]!];
          if (a === null || a === undefined || b === null || b === undefined) continue;
          xs.push(a);
          ys.push(b);
        }
        const c = pearson(xs, ys);
        r[i]![j] = r[j]![i] = Number.isFinite(c) ? c : 0;
      }
    }
    // Power iteration on R + I (positive definite shift: the largest eigenvalue dominates).
    let v = new Array<number>(k).fill(1 / Math.sqrt(k));
    for (let it = 0; it < 500; it++) {
      const w = v.map((_, i) => v[i]! + r[i]!.reduce((s, x, j) => s + x * v[j]!, 0));
      const norm = Math.hypot(...w);
      const next = w.map((x) => x / norm);
      const delta = Math.max(...next.map((x, i) => Math.abs(x - v[i]!)));
      v = next;
      if (delta < 1e-12) break;
    }
    const plus = v.filter((x) => x >= 0).length;
    const flip = plus * 2 < k || (plus * 2 === k && v[0]! < 0);
    return v.map((x) => ((x >= 0) !== flip ? 'plus' : 'minus'));
  });
}

/** Domain score: mean of keyed answers (reverse: min + max - x), null without answers. */
export function domainScore(ds: Pick<HumanDataset, 'items' | 'scale'>, answers: readonly (number | null)[], domain: Domain): number | null {
  let s = 0;
  let n = 0;
  ds.items.forEach((it, j) => {
    const a = answers[j];
    if (it.domain !== domain || a === null || a === undefined) return;
    s += it.keyed === 'plus' ? a : ds.scale.min + ds.scale.max - a;
    n++;
  });
  return n ? s / n : null;
}

export interface RetestPair {
  id: string;
  first: (boolean | null)[];
  second: (boolean | null)[];
}

export interface RetestSet {
  items: { id: string; scale: string; reversed: boolean }[];
  /** Item ids per scale (E, N, L, ...). */
  scales: Record<string, { id: string; reversed: boolean }[]>;
  pairs: RetestPair[];
  report: LoadReport;
}

/**
 * The EPI retest set (psychTools epiR.csv + epi.keys.csv): people are matched on
 * (study, id), since ids repeat across studies. Answers are coded 1 = yes, 2 = no.
 */
export function loadEpiRetest(file: string): RetestSet {
  const table = readTable(file);
  const scales: RetestSet['scales'] = readScaleKeys(join(dirname(file), 'epi.keys.csv'));
  const itemIds = table.header.filter((h) => /^V\d+$/.test(h));
  const cols = itemIds.map((id) => column(table, id));
  const [idCol, timeCol, studyCol] = [column(table, 'id'), column(table, 'time'), column(table, 'study')];
  const report = newReport(file, table.rows.length, ['matched on (study, id); 1 = yes, 2 = no']);
  const byPerson = new Map<string, { first?: (boolean | null)[]; second?: (boolean | null)[] }>();
  table.rows.forEach((row) => {
    const key = `${row[studyCol]!.trim()}/${row[idCol]!.trim()}`;
    const answers = cols.map((c) => {
      const v = row[c]!.trim();
      if (v === '1') return true;
      if (v === '2') return false;
      bump(report.missingAnswers, v === 'NA' || v === '' ? 'empty or NA' : `not 1 or 2 (${v})`);
      return null;
    });
    const entry = byPerson.get(key) ?? {};
    const time = row[timeCol]!.trim();
    if (time === '1') {
      if (entry.first) bump(report.droppedRows, 'duplicate time 1');
      entry.first = answers;
    } else if (time === '2') {
      if (entry.second) bump(report.droppedRows, 'duplicate time 2');
      entry.second = answers;
    } else bump(report.droppedRows, `time not 1 or 2`);
    byPerson.set(key, entry);
  });
  const pairs: RetestPair[] = [];
  for (const [id, e] of byPerson) {
    if (e.first && e.second) pairs.push({ id, first: e.first, second: e.second });
    else bump(report.droppedRows, 'no retest partner', e.first || e.second ? 1 : 0);
  }
  report.rowsKept = pairs.length * 2;
  return { items: itemIds.map((id) => ({ id, scale: Object.keys(scales).find((s) => scales[s]!.some((k) => k.id === id)) ?? '', reversed: false })), scales, pairs, report };
}

export interface GenericLayout {
  file: string;
  name?: string;
  /** Column holding the respondent id (default: the row's line number). */
  id?: string;
  scale: { min: number; max: number };
  /** Codes that mean "no answer" besides empty and NA (e.g. 0, -9). */
  missing?: (string | number)[];
  items: { column: string; text: string; domain?: Domain | null; keyed?: 'plus' | 'minus' }[];
  covariates?: { column: string; name?: string; kind: 'number' | 'category'; min?: number; max?: number; labels?: Record<string, string> }[];
}

/** Any respondents-by-items table, described by a column map. */
export function loadGeneric(layout: GenericLayout): HumanDataset {
  const table = readTable(layout.file);
  const report = newReport(layout.file, table.rows.length);
  const missing = new Set((layout.missing ?? []).map(String));
  const covCols = (layout.covariates ?? []).map((c) => ({ ...c, index: column(table, c.column) }));
  const idCol = layout.id ? column(table, layout.id) : -1;
  const seen = new Map<string, number>();
  const respondents = readRespondents(table, layout.items.map((it) => it.column), layout.scale, report, {
    noAnswers: 'no answers',
    missing,
    covariates: (row) => {
      const covariates: Respondent['covariates'] = {};
      for (const c of covCols) {
        const raw = row[c.index]!.trim();
        const name = c.name ?? c.column;
        if (raw === '' || raw === 'NA' || missing.has(raw)) {
          covariates[name] = null;
          continue;
        }
        // An own property only: a value such as "toString" must not find Object.prototype's function.
        if (c.kind === 'category') covariates[name] = c.labels && Object.hasOwn(c.labels, raw) ? c.labels[raw]! : raw;
        else {
          const v = Number(raw);
          const ok = Number.isFinite(v) && (c.min === undefined || v >= c.min) && (c.max === undefined || v <= c.max);
          if (!ok) bump(report.cleanedCovariates, `${name} outside ${c.min ?? '-inf'}..${c.max ?? 'inf'} set missing`);
          covariates[name] = ok ? v : null;
        }
      }
      return covariates;
    },
    // Ids may repeat (several studies in one file): later rows get a suffix, and the report says so.
    id: (row, line) => {
      const id = idCol >= 0 ? row[idCol]!.trim() : `row${line}`;
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      if (n === 0) return id;
      bump(report.cleanedCovariates, 'repeated id made unique');
      return `${id}#${n + 1}`;
    },
  });
  return { name: layout.name ?? 'generic', scale: layout.scale, items: layout.items.map((it) => ({ id: it.column, text: it.text, domain: it.domain ?? null, keyed: it.keyed ?? 'plus' })), respondents, report };
}

/** One scale of a human data set: its items and every respondent's keyed answers (reverse-keyed ones reflected), null where missing. */
export interface KeyedScale {
  scale: string;
  items: string[];
  rows: (number | null)[][];
}

/** The Big Five domains of a loaded data set as keyed scales. */
export function datasetScales(ds: HumanDataset): KeyedScale[] {
  const { min, max } = ds.scale;
  return DOMAINS.flatMap((domain) => {
    const idx = ds.items.flatMap((it, j) => (it.domain === domain ? [j] : []));
    if (!idx.length) return [];
    return [{ scale: domain, items: idx.map((j) => ds.items[j]!.id), rows: ds.respondents.map((p) => idx.map((j) => { const a = p.answers[j]; return a === null || a === undefined ? null : ds.items[j]!.keyed === 'minus' ? min + max - a : a; })) }];
  });
}

/** A psychTools keys table (scale,item,reversed; reversed is 1 or 0): each scale's items in file order. */
export function readScaleKeys(keysFile: string): Record<string, { id: string; reversed: boolean }[]> {
  const keys = readTable(keysFile);
  const [sc, ic, rc] = [column(keys, 'scale'), column(keys, 'item'), column(keys, 'reversed')];
  const scales: Record<string, { id: string; reversed: boolean }[]> = {};
  for (const r of keys.rows) (scales[r[sc]!.trim()] ??= []).push({ id: r[ic]!.trim(), reversed: r[rc]!.trim() === '1' });
  return scales;
}
