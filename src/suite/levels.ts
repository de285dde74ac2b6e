import type { Domain } from '../instruments/types.js';

/** The nine qualifier levels (as in Serapio-Garcia et al.'s persona prompts), on the 1..5 item scale. */
export const QUALIFIER_LEVELS: Record<string, number> = {
  'extremely low': 1,
  'very low': 1.5,
  low: 2,
  'a bit low': 2.5,
  neutral: 3,
  'a bit high': 3.5,
  high: 4,
  'very high': 4.5,
  'extremely high': 5,
};

export function levelToNumber(level: number | string): number | undefined {
  if (typeof level === 'number') return level >= 1 && level <= 5 ? level : undefined;
  return QUALIFIER_LEVELS[level.trim().toLowerCase()];
}

/** Trait markers used to describe a target level in words (the project's own wording). */
export const MARKERS: Record<Domain, { high: string[]; low: string[] }> = {
  O: { high: ['imaginative', 'curious', 'open to new ideas'], low: ['practical', 'conventional', 'set in familiar ways'] },
  C: { high: ['organized', 'disciplined', 'dependable'], low: ['spontaneous', 'disorganized', 'careless with plans'] },
  E: { high: ['outgoing', 'talkative', 'energetic'], low: ['reserved', 'quiet', 'solitary'] },
  A: { high: ['warm', 'cooperative', 'trusting'], low: ['blunt', 'competitive', 'skeptical of others'] },
  N: { high: ['anxious', 'moody', 'easily stressed'], low: ['composed', 'calm', 'emotionally steady'] },
};

/** A level on a named scale in words: "very high in Candour", "average in Lie", "a bit low in Humor". */
export function describeScaleLevel(name: string, level: number): string {
  const distance = Math.abs(level - 3);
  if (distance < 0.25) return `average in ${name}`;
  const qualifier = distance >= 1.75 ? 'extremely ' : distance >= 1.25 ? 'very ' : distance >= 0.75 ? '' : 'a bit ';
  return `${qualifier}${level > 3 ? 'high' : 'low'} in ${name}`;
}

/** "very outgoing, very talkative and very energetic"; "neither ... nor ..." at the midpoint. */
export function describeLevel(domain: Domain, level: number): string {
  const m = MARKERS[domain];
  if (Math.abs(level - 3) < 0.25) return `neither ${m.high[0]} nor ${m.low[0]}`;
  const words = level > 3 ? m.high : m.low;
  const distance = Math.abs(level - 3);
  const qualifier = distance >= 1.75 ? 'extremely ' : distance >= 1.25 ? 'very ' : distance >= 0.75 ? '' : 'a bit ';
  const parts = words.map((w) => `${qualifier}${w}`);
  return `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
}
