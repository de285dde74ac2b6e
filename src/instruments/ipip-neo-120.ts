import { createRequire } from 'node:module';
import type { Domain, Instrument, InstrumentItem } from './types.js';
import { DOMAINS } from './types.js';

const require = createRequire(import.meta.url);

interface PackageItem {
  id: string;
  text: string;
  keyed: 'plus' | 'minus';
  domain: string;
  facet: number;
}

// Facet labels of Johnson's IPIP-NEO (the package only numbers them).
const FACET_NAMES: Record<Domain, string[]> = {
  N: ['Anxiety', 'Anger', 'Depression', 'Self-consciousness', 'Immoderation', 'Vulnerability'],
  E: ['Friendliness', 'Gregariousness', 'Assertiveness', 'Activity level', 'Excitement-seeking', 'Cheerfulness'],
  O: ['Imagination', 'Artistic interests', 'Emotionality', 'Adventurousness', 'Intellect', 'Liberalism'],
  A: ['Trust', 'Morality', 'Altruism', 'Cooperation', 'Modesty', 'Sympathy'],
  C: ['Self-efficacy', 'Orderliness', 'Dutifulness', 'Achievement-striving', 'Self-discipline', 'Cautiousness'],
};

let cached: Instrument | undefined;

/** IPIP-NEO-120 items and keys, read from `@bigfive-org/questions` (English). */
export function ipipNeo120(): Instrument {
  if (cached) return cached;
  const pkg = require('@bigfive-org/questions') as { getQuestions(lang?: string): PackageItem[]; getChoices(lang?: string): { plus: { text: string }[] } };
  const items: InstrumentItem[] = pkg.getQuestions('en').map((q) => {
    if (!(DOMAINS as readonly string[]).includes(q.domain)) throw new Error(`@bigfive-org/questions: item ${q.id} has unknown domain ${q.domain}`);
    return { id: q.id, text: q.text, domain: q.domain as Domain, facet: Number(q.facet), keyed: q.keyed };
  });
  const options = pkg.getChoices('en').plus.map((c) => c.text);
  cached = { id: 'ipip-neo-120', name: "Johnson's IPIP-NEO-120", items, options, facetNames: FACET_NAMES };
  return cached;
}
