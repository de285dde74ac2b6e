import { UserError } from '../util/errors.js';

export const DOMAINS = ['O', 'C', 'E', 'A', 'N'] as const;
export type Domain = (typeof DOMAINS)[number];

export const DOMAIN_NAMES: Record<Domain, string> = {
  O: 'Openness',
  C: 'Conscientiousness',
  E: 'Extraversion',
  A: 'Agreeableness',
  N: 'Neuroticism',
};

export type Keying = 'plus' | 'minus';

/** One scale an item is scored on, and which way. */
export interface ScaleKey {
  scale: string;
  keyed: Keying;
}

export interface InstrumentItem {
  /** The instrument's own item id (for IPIP-NEO-120: the package's UUIDs). */
  id: string;
  text: string;
  /** Every scale the item is scored on (at least one; SPI items mark a narrow factor and a Big Five domain). */
  keys: ScaleKey[];
  /** The Big Five domain the item marks (through a scale mapped to a domain), if any: what Big-Five-only probes and the simulation read. */
  domain?: Domain;
  /** Keying on that domain's scale, else on the item's first scale. */
  keyed: Keying;
  /** 1-based facet number within its first scale, where the instrument has facets. */
  facet?: number;
}

/** A scale of an instrument: any id and name; mapped to a Big Five domain where it measures one (the only scales persona targets apply to). */
export interface InstrumentScale {
  id: string;
  name: string;
  domain?: Domain;
  /** Facet names (facet k is facets[k - 1]), where the scale has facets. */
  facets?: string[];
}

/** How an item is put to the model, in the instrument's language: a statement, a question, a reply instruction. */
export interface ItemFrame {
  /** The statement line; {text} is the item's text. */
  statement: string;
  question: string;
  /** The default reply instruction (the postamble of the default prompt variant). */
  reply: string;
}

/** The English item frame: the wording every stored English run was asked with. */
export const ENGLISH_FRAME: ItemFrame = { statement: 'Statement: "{text}."', question: 'How accurately does this statement describe you?', reply: 'Reply with the number of your answer only.' };

export interface Instrument {
  id: string;
  name: string;
  /** Language of its items, options and item frame (a BCP 47 tag, e.g. en, de, ja). */
  language: string;
  frame: ItemFrame;
  items: InstrumentItem[];
  scales: InstrumentScale[];
  /** Response options in the order they are listed. */
  options: string[];
  /** The numeric value of each option (default 1..n): what answers, scores and reverse keying use. */
  values?: number[];
  /** What a researcher must know about this version of it (a translation's flaws), shown with every result. */
  notes?: string[];
  /** Where its text comes from and under what licence (YAML and data-built instruments). */
  source?: string;
  licence?: string;
  /** The people it comes with: their data file (a column per item id) and each raw answer's option value (anything else is missing). */
  people?: { file: string; values: Record<string, number>; description: string };
}

/** A profile: a score per Big Five domain on the 1..5 item scale. */
export type Profile = Record<Domain, number>;

/** Scores keyed by an instrument's scale ids, on the instrument's own value range. */
export type ScaleProfile = Record<string, number>;

/** The value of each option in listed order. */
export const optionValues = (instrument: Pick<Instrument, 'options' | 'values'>): number[] => instrument.values ?? instrument.options.map((_, i) => i + 1);

/** The lowest and highest option value: a reverse-keyed answer v scores min + max − v. */
export function valueRange(instrument: Pick<Instrument, 'options' | 'values'>): { min: number; max: number } {
  const v = optionValues(instrument);
  return { min: Math.min(...v), max: Math.max(...v) };
}

/** A level on the 1..5 item scale (a persona target) on the instrument's value range. */
export function onRange(level: number, range: { min: number; max: number }): number {
  return range.min + ((level - 1) / 4) * (range.max - range.min);
}

/** The scale that measures a Big Five domain (the first one mapped to it), if the instrument has one. */
export const scaleOfDomain = (instrument: Pick<Instrument, 'scales'>, domain: Domain): InstrumentScale | undefined => instrument.scales.find((s) => s.domain === domain);

/** The Big Five domains the instrument has no scale for (empty: it measures all five). */
export const missingDomains = (instrument: Pick<Instrument, 'scales'>): Domain[] => DOMAINS.filter((d) => !scaleOfDomain(instrument, d));

/** The five Big Five scales of the IPIP inventories (id = domain letter). */
export function bigFiveScales(facets?: Record<Domain, string[]>): InstrumentScale[] {
  return DOMAINS.map((d) => ({ id: d, name: DOMAIN_NAMES[d], domain: d, ...(facets?.[d]?.length ? { facets: facets[d] } : {}) }));
}

/** A Big-Five-keyed item (scale id = domain letter). */
export function bigFiveItem(id: string, text: string, domain: Domain, keyed: Keying, facet?: number): InstrumentItem {
  return { id, text, keys: [{ scale: domain, keyed }], domain, keyed, ...(facet !== undefined ? { facet } : {}) };
}

export type BigFiveItem = InstrumentItem & { domain: Domain };

/** The items that mark a Big Five domain. */
export const bigFiveItems = (instrument: Pick<Instrument, 'items'>): BigFiveItem[] => instrument.items.filter((i): i is BigFiveItem => i.domain !== undefined);

/** For what reads a Big Five profile: the instrument's Big Five items, or a one-line refusal naming the domains it lacks. */
export function requireBigFive(instrument: Pick<Instrument, 'id' | 'items' | 'scales'>, what: string): BigFiveItem[] {
  const missing = missingDomains(instrument);
  if (missing.length) throw new UserError(`${what} reads a Big Five profile, and instrument ${instrument.id} has no scale for ${missing.map((d) => DOMAIN_NAMES[d]).join(', ')}; use an instrument that measures all five (ipip-neo-120, ipip-50, bfi-25, spi-135)`);
  return bigFiveItems(instrument);
}
