import type { ChatMessage } from '../backends/types.js';
import { DOMAINS, DOMAIN_NAMES, type Profile } from '../instruments/types.js';
import { describeLevel, describeScaleLevel, levelToNumber } from '../suite/levels.js';
import type { MethodSpec, PersonaSpec, Suite } from '../suite/schema.js';
import { suiteInstrument } from '../suite/instrument.js';

export const BASELINE_ID = '__baseline__';

export function targetProfile(persona: PersonaSpec): Profile {
  return Object.fromEntries(DOMAINS.map((d) => [d, levelToNumber(persona.target[d])!])) as Profile;
}

/** A persona's targets on scales no Big Five domain maps to (1..5), by scale id. */
export function scaleLevels(persona: Pick<PersonaSpec, 'scales'>): Record<string, number> {
  return Object.fromEntries(Object.entries(persona.scales ?? {}).map(([id, level]) => [id, levelToNumber(level)!]));
}

/** "imaginative, curious and open to new ideas; very organized, ..."; then "very high in Candour" per scale target, by the scale's name. */
export function traitSentence(target: Profile, scales: readonly { name: string; level: number }[] = []): string {
  return [...DOMAINS.map((d) => describeLevel(d, target[d])), ...scales.map((s) => describeScaleLevel(s.name, s.level))].join('; ');
}

const ROLE_PERSONALITY = 'You are {role}. Your personality: {traits}. Stay in this role in everything you say.';

function fill(template: string, persona: PersonaSpec, target: Profile, scaleNames: ScaleNames): string {
  const scales = Object.entries(scaleLevels(persona)).map(([id, level]) => ({ name: scaleNames(id), level }));
  return template
    .replaceAll('{name}', persona.name)
    .replaceAll('{role}', persona.role ?? persona.name)
    .replaceAll('{description}', persona.description.trim())
    .replaceAll('{traits}', traitSentence(target, scales))
    .replace(/\s+\n/g, '\n')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** A scale's name by its id (the instrument's wording of a persona's scale targets). */
export type ScaleNames = (id: string) => string;

/** The messages that condition a persona by a method (before any item); `scaleNames` words its scale targets (default: their ids). */
export function conditioningMessages(persona: PersonaSpec, method: MethodSpec, scaleNames: ScaleNames = (id) => id): ChatMessage[] {
  const target = targetProfile(persona);
  const template = method.kind === 'role-personality' ? (method.template ?? ROLE_PERSONALITY) : method.template;
  const facts = persona.facts.map(factText);
  const text = fill(template, persona, target, scaleNames);
  return [{ role: 'system', content: facts.length ? `${text}\nFacts about you: ${facts.join(' | ')}` : text }];
}

type Fact = PersonaSpec['facts'][number];

/** A persona's conditioning in a suite: its scale targets worded by the suite instrument's scale names. */
export function suiteConditioning(suite: Pick<Suite, 'instrument'>, persona: PersonaSpec, method: MethodSpec): ChatMessage[] {
  if (!persona.scales) return conditioningMessages(persona, method);
  const scales = suiteInstrument(suite).scales;
  return conditioningMessages(persona, method, (id) => scales.find((s) => s.id === id)?.name ?? id);
}

export function factText(fact: Fact): string {
  return typeof fact === 'string' ? fact : fact.text;
}

/** The words that identify a fact when it turns up somewhere it should not. */
export function factMarker(fact: Fact): string {
  return typeof fact === 'string' ? fact : fact.marker;
}

/** The persona's backstory as a judge sees it: description, role and facts. */
export function backstoryOf(persona: PersonaSpec): string {
  return [`Name: ${persona.name}.`, persona.role ? `Role: ${persona.role}.` : '', persona.description.trim(), ...persona.facts.map(factText)].filter(Boolean).join('\n');
}

export function domainLabel(d: keyof typeof DOMAIN_NAMES): string {
  return DOMAIN_NAMES[d];
}
