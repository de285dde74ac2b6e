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

export interface InstrumentItem {
  /** The instrument's own item id (for IPIP-NEO-120: the package's UUIDs). */
  id: string;
  text: string;
  domain: Domain;
  /** 1-based facet number within the domain. */
  facet: number;
  keyed: Keying;
}

export interface Instrument {
  id: string;
  name: string;
  items: InstrumentItem[];
  /** Response options in order; option i (0-based) is the answer value i + 1. */
  options: string[];
  facetNames: Record<Domain, string[]>;
}

/** A profile: a score per Big Five domain on the 1..5 item scale. */
export type Profile = Record<Domain, number>;
