// Consistency metrics. Pure functions; the consistency probe feeds them stored judgments.

import { mean } from './stats.js';

/**
 * One-way random-effects intraclass correlations (Shrout & Fleiss 1979, case 1):
 * rows are subjects (personas), columns are repeated measurements (regenerations).
 * ICC(1,1) is the reliability of one regeneration; ICC(1,k) of their mean.
 */
export function icc1(rows: readonly (readonly number[])[]): { single: number; average: number; subjects: number; k: number } {
  const ok = rows.filter((r) => r.length > 0 && r.every(Number.isFinite));
  const n = ok.length;
  const k = n ? ok[0]!.length : 0;
  if (n < 2 || k < 2 || ok.some((r) => r.length !== k)) return { single: Number.NaN, average: Number.NaN, subjects: n, k };
  const grand = mean(ok.flat());
  let ssb = 0;
  let ssw = 0;
  for (const r of ok) {
    const m = mean(r);
    ssb += k * (m - grand) ** 2;
    for (const x of r) ssw += (x - m) ** 2;
  }
  const msb = ssb / (n - 1);
  const msw = ssw / (n * (k - 1));
  return { single: (msb - msw) / (msb + (k - 1) * msw), average: msw === 0 && msb === 0 ? Number.NaN : (msb - msw) / msb, subjects: n, k };
}

/**
 * Line-to-line consistency (Abdulhai et al.): 1 - the share of (line, earlier line)
 * pairs of one speaker judged contradictory. `contradicted[i]` holds, for line i, the
 * judged probability (share of judge repeats) that each earlier line 0..i-1 is contradicted.
 */
export function lineToLineConsistency(contradicted: readonly (readonly number[])[]): { value: number; pairs: number } {
  let pairs = 0;
  let sum = 0;
  for (const row of contradicted) {
    for (const p of row) {
      if (!Number.isFinite(p)) continue;
      pairs++;
      sum += p;
    }
  }
  return { value: pairs ? 1 - sum / pairs : Number.NaN, pairs };
}

/** Prompt-to-line consistency: the share of a persona's lines not judged to contradict its backstory. */
export function promptToLineConsistency(contradictionShares: readonly number[]): { value: number; lines: number } {
  const ok = contradictionShares.filter(Number.isFinite);
  return { value: ok.length ? 1 - mean(ok) : Number.NaN, lines: ok.length };
}

/** Objects whose yes/no answers agree with every given answer (null answers are skipped). */
export function consistentObjects(objects: readonly { name: string; answers: readonly boolean[] }[], given: readonly (boolean | null)[]): string[] {
  return objects.filter((o) => given.every((a, q) => a === null || o.answers[q] === a)).map((o) => o.name);
}

/** Occurrences of other tenants' fact markers in a persona's reply (case-insensitive, whole words). */
export function leakedMarkers(reply: string, ownMarkers: readonly string[], othersMarkers: ReadonlyMap<string, readonly string[]>): { from: string; marker: string }[] {
  const found: { from: string; marker: string }[] = [];
  const own = new Set(ownMarkers.map((m) => m.toLowerCase()));
  for (const [persona, markers] of othersMarkers) {
    for (const marker of markers) {
      if (own.has(marker.toLowerCase())) continue;
      const escaped = marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      if (new RegExp(`(^|\\W)${escaped}(\\W|$)`, 'i').test(reply)) found.push({ from: persona, marker });
    }
  }
  return found;
}
