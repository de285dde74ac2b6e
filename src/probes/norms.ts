// Human norms for measured profiles: each persona's measured profile, and the unconditioned
// default's, placed among real people: a percentile per scale, and the mean distance to the
// nearest real respondents beside what is typical between real people. Two sources:
//  - a public dataset's people on the Big Five domains (big5-osp, sapa-spi): its instrument need
//    not be the suite's, so the comparison is of domain scores on one 1..5 scale, and says so;
//  - the people the suite's instrument comes with (layout: instrument: ipip-50, epi, bfi-25,
//    spi-135), scored exactly as the model is, on every scale of the instrument.

import { resolve } from 'node:path';
import { domainScore, loadBig5, loadSapa, type HumanDataset } from '../datasets/human.js';
import { DOMAINS, valueRange, type Instrument, type Profile, type ScaleProfile } from '../instruments/types.js';
import { scaleProfileOf, scoreAnswers } from '../instruments/scoring.js';
import { instrumentSheets } from '../instruments/people.js';
import { suiteInstrument } from '../suite/instrument.js';
import { nearestDistance, norms, percentileOf, typicalNearest, type Norms } from '../metrics/norms.js';
import type { Suite } from '../suite/schema.js';

export interface NormRow {
  model: string;
  method: string;
  /** A persona id, or "(default)" for the unconditioned model. */
  persona: string;
  /** Its scores on the norms' scales (Big Five domains on 1..5, or the instrument's scales). */
  profile: Record<string, number>;
  percentile: Record<string, number>;
  /** Mean distance to the `nearest` closest real people (over the norms' scales, in their units). */
  nearest: number;
}

export interface NormsAnalysis {
  dataset: string;
  people: number;
  nearest: number;
  /** The scales compared: the five domains, or every scale of the instrument (layout: instrument). */
  scales: string[];
  /** The units of the scores and distances ("1..5", or the instrument's value range). */
  units: string;
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

/**
 * The people an instrument comes with, scored exactly as a model's answers are (the same items,
 * keys and values): a scale profile per person who has a score on every scale.
 */
export function instrumentPeopleProfiles(instrument: Instrument): ScaleProfile[] {
  return instrumentSheets(instrument)
    .map((sheet) => scaleProfileOf(scoreAnswers(instrument, sheet)))
    .filter((p) => Object.values(p).every(Number.isFinite));
}

/** The norms' people, read once per run (a bad file fails before any call) and handed to the analysis. */
export interface NormsData {
  norms: Norms;
  typical: number;
  note: string;
  dataset: string;
  /** Whether measured profiles are compared on the instrument's own scales (layout: instrument) or on the Big Five domains. */
  byScale: boolean;
  units: string;
}

export function loadNorms(suite: Suite, baseDir: string): NormsData {
  const spec = suite.norms!;
  if (spec.dataset.layout === 'instrument') {
    const instrument = suiteInstrument(suite);
    const people = instrumentPeopleProfiles(instrument);
    const keys = instrument.scales.map((s) => s.id);
    const n = norms(people, keys);
    const { min, max } = valueRange(instrument);
    return {
      norms: n,
      typical: typicalNearest(n, spec.nearest),
      note: `every scale of ${instrument.id}, scored on the answers of ${instrument.people!.description} to the same items, wording and options a model is asked (the people with a score on every scale)`,
      dataset: `${instrument.id}'s people`,
      byScale: true,
      units: `${min}..${max}`,
    };
  }
  const file = resolve(baseDir, spec.dataset.file!);
  const ds = spec.dataset.layout === 'big5-osp' ? loadBig5(file) : loadSapa(file);
  const n = norms(peopleProfiles(ds), DOMAINS);
  return {
    norms: n,
    typical: typicalNearest(n, spec.nearest),
    note: suite.instrument.id === 'ipip-50' && ds.name === 'big5-osp'
      ? `domain scores of ${ds.name} against the suite's ipip-50 scores: the same 50 items, the same wording and answer scale as these people had`
      : `domain scores of ${ds.name} (${ds.items.length} items on ${ds.scale.min}..${ds.scale.max}${ds.scale.max !== 5 || ds.scale.min !== 1 ? ', rescaled to 1..5' : ''}) against the suite's ${suite.instrument.id} scores: the same domains on one scale, not the same items`,
    dataset: ds.name,
    byScale: false,
    units: '1..5',
  };
}

export function analyzeNorms(suite: Suite, data: NormsData, measured: readonly { model: string; method: string; persona: string; profile: Record<string, number> }[]): NormsAnalysis {
  const spec = suite.norms!;
  const n = data.norms;
  const rows = measured.map((m): NormRow => ({
    ...m,
    percentile: Object.fromEntries(n.keys.map((d) => [d, percentileOf(m.profile[d] ?? Number.NaN, n.sorted[d]!)])),
    nearest: nearestDistance(m.profile, n.people, spec.nearest, n.keys),
  }));
  return { dataset: data.dataset, people: n.people.length, nearest: spec.nearest, scales: [...n.keys], units: data.units, typical: data.typical, note: data.note, rows };
}
