import { createRequire } from 'node:module';
import type { Domain, Instrument, InstrumentItem, ItemFrame } from './types.js';
import { UserError } from '../util/errors.js';
import { bigFiveItem, bigFiveScales, DOMAINS, ENGLISH_FRAME } from './types.js';

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

/**
 * The item frame per language: the project's own wording (English is the one every stored
 * English run was asked with; the others translate it). A language the package carries but
 * this table does not is refused by name, not asked in a mixed language.
 */
export const ITEM_FRAMES: Record<string, ItemFrame> = {
  en: ENGLISH_FRAME,
  de: { statement: 'Aussage: „{text}“', question: 'Wie genau beschreibt diese Aussage Sie?', reply: 'Antworten Sie nur mit der Nummer Ihrer Antwort.' },
  es: { statement: 'Afirmación: «{text}»', question: '¿Con qué precisión le describe esta afirmación?', reply: 'Responda solo con el número de su respuesta.' },
  fr: { statement: 'Affirmation : « {text} »', question: 'Dans quelle mesure cette affirmation vous décrit-elle ?', reply: 'Répondez uniquement par le numéro de votre réponse.' },
  it: { statement: 'Affermazione: «{text}»', question: 'Quanto ti descrive accuratamente questa affermazione?', reply: 'Rispondi solo con il numero della tua risposta.' },
  pt: { statement: 'Afirmação: "{text}"', question: 'Com que precisão esta afirmação descreve você?', reply: 'Responda apenas com o número da sua resposta.' },
  nl: { statement: 'Stelling: "{text}"', question: 'Hoe nauwkeurig beschrijft deze stelling u?', reply: 'Antwoord alleen met het nummer van uw antwoord.' },
  ja: { statement: '文：「{text}」', question: 'この文はあなたにどの程度当てはまりますか？', reply: '回答の番号だけを答えてください。' },
  'zh-cn': { statement: '陈述：“{text}”', question: '这个陈述在多大程度上符合你？', reply: '只回答你的选项编号。' },
};

const frameFor = (language: string): ItemFrame | undefined => ITEM_FRAMES[language] ?? ITEM_FRAMES[language.split('-')[0]!];

const cached = new Map<string, Instrument>();

interface Package {
  getQuestions(lang?: string): PackageItem[];
  getChoices(lang?: string): { plus: { text: string; score: number }[] };
  getInfo(): { languages: { id: string; text: string }[] };
}

/** The languages the package carries and this project has an item frame for. */
export function ipipLanguages(): string[] {
  const pkg = require('@bigfive-org/questions') as Package;
  return pkg.getInfo().languages.map((l) => l.id).filter((id) => frameFor(id) !== undefined);
}

/**
 * IPIP-NEO-120 items, keys and options, read from `@bigfive-org/questions` in one of its
 * languages (default English). Every translation must carry the same 120 item ids with the
 * same domain, facet and keying as the English one, or it is refused.
 */
export function ipipNeo120(language = 'en'): Instrument {
  const hit = cached.get(language);
  if (hit) return hit;
  const pkg = require('@bigfive-org/questions') as Package;
  const carried = pkg.getInfo().languages.map((l) => l.id);
  const frame = frameFor(language);
  if (!carried.includes(language)) throw new UserError(`ipip-neo-120: no language "${language}" in @bigfive-org/questions (it carries ${carried.join(', ')})`);
  if (!frame) throw new UserError(`ipip-neo-120: language "${language}" has items but no item frame here yet (framed: ${ipipLanguages().join(', ')}); add one to ITEM_FRAMES`);
  const english = new Map(pkg.getQuestions('en').map((q) => [q.id, q]));
  const questions = pkg.getQuestions(language);
  const items: InstrumentItem[] = questions.map((q) => {
    if (!(DOMAINS as readonly string[]).includes(q.domain)) throw new Error(`@bigfive-org/questions: item ${q.id} has unknown domain ${q.domain}`);
    const en = english.get(q.id);
    if (!en || en.domain !== q.domain || Number(en.facet) !== Number(q.facet) || en.keyed !== q.keyed) throw new Error(`@bigfive-org/questions (${language}): item ${q.id} does not match the English item of that id`);
    return bigFiveItem(q.id, q.text, q.domain as Domain, q.keyed, Number(q.facet));
  });
  if (items.length !== english.size) throw new Error(`@bigfive-org/questions (${language}): ${items.length} items, the English has ${english.size}`);
  const choices = [...pkg.getChoices(language).plus].sort((a, b) => a.score - b.score);
  const options = choices.map((c) => c.text);
  // A translation may give two items one text: a model then reads the same question twice and
  // their answers cannot differ. Said with every result, never silently scored as two items.
  const byText = new Map<string, InstrumentItem[]>();
  for (const item of items) byText.set(item.text, [...(byText.get(item.text) ?? []), item]);
  const notes = [...byText.values()]
    .filter((same) => same.length > 1)
    .map((same) => `ipip-neo-120 (${language}): items ${same.map((i) => `${i.domain}${i.facet} ${i.keyed === 'plus' ? '+' : '−'} (${i.id.slice(0, 8)})`).join(' and ')} have the same text in this translation ("${same[0]!.text}"): a model reads one question twice, so their answers cannot differ`);
  const instrument: Instrument = { id: 'ipip-neo-120', name: "Johnson's IPIP-NEO-120", language, frame, items, scales: bigFiveScales(FACET_NAMES), options, source: '@bigfive-org/questions (Johnson, 2014; ipip.ori.org)', licence: 'public domain (IPIP items); package MIT', ...(notes.length ? { notes } : {}) };
  cached.set(language, instrument);
  return instrument;
}
