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
  /** Response options in order; option i (0-based) is the answer value i + 1. */
  options: string[];
  facetNames: Record<Domain, string[]>;
  /** What a researcher must know about this version of it (a translation's flaws), shown with every result. */
  notes?: string[];
}

/** A profile: a score per Big Five domain on the 1..5 item scale. */
export type Profile = Record<Domain, number>;
