import type { ChatMessage } from '../backends/types.js';
import { DOMAINS, DOMAIN_NAMES, type Profile } from '../instruments/types.js';
import { describeLevel, levelToNumber } from '../suite/levels.js';
import type { MethodSpec, PersonaSpec } from '../suite/schema.js';

export const BASELINE_ID = '__baseline__';

export function targetProfile(persona: PersonaSpec): Profile {
  return Object.fromEntries(DOMAINS.map((d) => [d, levelToNumber(persona.target[d])!])) as Profile;
}

/** "imaginative, curious and open to new ideas; very organized, ..." */
export function traitSentence(target: Profile): string {
  return DOMAINS.map((d) => describeLevel(d, target[d])).join('; ');
}

const ROLE_PERSONALITY = 'You are {role}. Your personality: {traits}. Stay in this role in everything you say.';

function fill(template: string, persona: PersonaSpec, target: Profile): string {
  return template
    .replaceAll('{name}', persona.name)
    .replaceAll('{role}', persona.role ?? persona.name)
    .replaceAll('{description}', persona.description.trim())
    .replaceAll('{traits}', traitSentence(target))
    .replace(/\s+\n/g, '\n')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** The messages that condition a persona by a method (before any item). */
export function conditioningMessages(persona: PersonaSpec, method: MethodSpec): ChatMessage[] {
  const target = targetProfile(persona);
  const template = method.kind === 'role-personality' ? (method.template ?? ROLE_PERSONALITY) : method.template;
  const facts = persona.facts.map(factText);
  const text = fill(template, persona, target);
  return [{ role: 'system', content: facts.length ? `${text}\nFacts about you: ${facts.join(' | ')}` : text }];
}

type Fact = PersonaSpec['facts'][number];

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
