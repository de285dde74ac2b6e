// Human norms for measured profiles: each persona's measured Big Five profile, and the
// unconditioned default's, placed among real people from a public dataset: a percentile per
// domain, and the mean distance to the nearest real respondents beside what is typical between
// real people. The dataset's instrument is not the suite's (the BIG5 data are the 50 IPIP
// markers; SAPA's are 70 SPI items on 1..6, rescaled to 1..5): the comparison is of domain scores
// on one scale, and the report says so.

import { resolve } from 'node:path';
import { domainScore, loadBig5, loadSapa, type HumanDataset } from '../datasets/human.js';
import { DOMAINS, type Domain, type Profile } from '../instruments/types.js';
import { nearestDistance, norms, percentileOf, typicalNearest, type Norms } from '../metrics/norms.js';
import type { Suite } from '../suite/schema.js';

export interface NormRow {
  model: string;
  method: string;
  /** A persona id, or "(default)" for the unconditioned model. */
  persona: string;
  profile: Profile;
  percentile: Record<Domain, number>;
  /** Mean distance to the `nearest` closest real people (1..5 units over five domains). */
  nearest: number;
}

export interface NormsAnalysis {
  dataset: string;
  people: number;
  nearest: number;
  /** The same distance between real people (median over people): the yardstick. */
  typical: number;
  note: string;
  rows: NormRow[];
}

/** Each person's five domain scores on the 1..5 scale (people missing a domain left out). */
export function peopleProfiles(ds: HumanDataset): Profile[] {
  const toFive = (x: number) => 1 + ((x - ds.scale.min) * 4) / (ds.scale.max - ds.scale.min);
  const out: Profile[] = [];
  for (const p of ds.respondents) {
    const scores = DOMAINS.map((d) => domainScore(ds, p.answers, d));
    if (scores.some((s) => s === null)) continue;
    out.push(Object.fromEntries(DOMAINS.map((d, i) => [d, toFive(scores[i]!)])) as Profile);
  }
  return out;
}

/** The norms' people, read once per run (a bad file fails before any call) and handed to the analysis. */
export interface NormsData {
  norms: Norms;
  typical: number;
  note: string;
  dataset: string;
}

export function loadNorms(suite: Suite, baseDir: string): NormsData {
  const spec = suite.norms!;
  const file = resolve(baseDir, spec.dataset.file);
  const ds = spec.dataset.layout === 'big5-osp' ? loadBig5(file) : loadSapa(file);
  const n = norms(peopleProfiles(ds));
  return {
    norms: n,
    typical: typicalNearest(n, spec.nearest),
    note: suite.instrument.id === 'ipip-50' && ds.name === 'big5-osp'
      ? `domain scores of ${ds.name} against the suite's ipip-50 scores: the same 50 items, the same wording and answer scale as these people had`
      : `domain scores of ${ds.name} (${ds.items.length} items on ${ds.scale.min}..${ds.scale.max}${ds.scale.max !== 5 || ds.scale.min !== 1 ? ', rescaled to 1..5' : ''}) against the suite's ${suite.instrument.id} scores: the same domains on one scale, not the same items`,
    dataset: ds.name,
  };
}

export function analyzeNorms(suite: Suite, data: NormsData, measured: readonly { model: string; method: string; persona: string; profile: Profile }[]): NormsAnalysis {
  const spec = suite.norms!;
  const n = data.norms;
  const rows = measured.map((m): NormRow => ({
    ...m,
    percentile: Object.fromEntries(DOMAINS.map((d) => [d, percentileOf(m.profile[d], n.sorted[d])])) as Record<Domain, number>,
    nearest: nearestDistance(m.profile, n.people, spec.nearest),
  }));
  return { dataset: data.dataset, people: n.people.length, nearest: spec.nearest, typical: data.typical, note: data.note, rows };
}
