// The fidelity probe (dataset + solver in inspect_ai's terms): which requests to
// make to administer an inventory to every persona, and how to turn the stored
// responses back into answer sheets. Planning is a pure function of the suite,
// so a resumed run or a re-render re-plans exactly the same tasks.

import type { ChatMessage, ChatRequest, OptionProbsRequest, ProbeHints } from '../backends/types.js';
import { decodeChat, decodeOptionProbs } from '../backends/responses.js';
import { ENGLISH_FRAME, type Instrument, type InstrumentItem, type ItemFrame } from '../instruments/types.js';
import { parseAnswer } from '../instruments/parse.js';
import { expectedAnswer } from '../instruments/scoring.js';
import type { Administration } from '../metrics/fidelity.js';
import type { Suite } from '../suite/schema.js';
import { BASELINE_ID, suiteConditioning } from './conditioning.js';

export interface ItemVariant {
  id: string;
  preamble: string;
  postamble: string;
  /** Options listed last to first (1 = the last option); answers are mapped back before scoring. */
  reverse_options?: boolean;
}

export const DEFAULT_VARIANTS: ItemVariant[] = [
  { id: 'standard', preamble: '', postamble: ENGLISH_FRAME.reply },
];

/** The digits a model answers with, one per listed option (1..n; at most 9 options, so each is one character). */
export const optionDigits = (count: number): string[] => Array.from({ length: count }, (_, i) => String(i + 1));

/** The Big Five inventories' five digits. */
export const OPTION_DIGITS = optionDigits(5);

/** The default prompt variant in an instrument's language: its reply instruction as the postamble. */
export const defaultVariant = (instrument: Pick<Instrument, 'frame'>): ItemVariant => ({ id: 'standard', preamble: '', postamble: instrument.frame.reply });

export function itemPrompt(item: InstrumentItem, options: string[], variant: ItemVariant, frame: ItemFrame = ENGLISH_FRAME): string {
  const lines = [
    variant.preamble.trim(),
    frame.statement.replace('{text}', () => item.text),
    frame.question,
    ...listedOptions(options, variant).map((o, i) => `${i + 1} = ${o}`),
    variant.postamble.trim(),
  ];
  return lines.filter(Boolean).join('\n');
}

/** The options in the order a variant lists them. */
export const listedOptions = (options: readonly string[], variant: Pick<ItemVariant, 'reverse_options'>): string[] => (variant.reverse_options ? [...options].reverse() : [...options]);

/** The persona's description and its paraphrases, each with the suffix its administrations' variant ids carry (none for the description). */
export function wordingsOf(persona: Suite['personas'][number]): { suffix: string; description: string }[] {
  return [{ suffix: '', description: persona.description }, ...(persona.paraphrases ?? []).map((description, k) => ({ suffix: `~p${k + 1}`, description }))];
}

export type FidelityTask =
  | { key: string; kind: 'optionProbs'; modelIndex: number; method: string; personaId: string; repetition: number; variant: string; reversed: boolean; itemId: string; request: OptionProbsRequest; oracle: ProbeHints }
  | { key: string; kind: 'chat'; modelIndex: number; method: string; personaId: string; repetition: number; variant: string; reversed: boolean; itemId: string; sample: number; request: ChatRequest; oracle: ProbeHints };

export interface PlanContext {
  suite: Suite;
  instrument: Instrument;
  /** Per model (same order as suite.models): whether it gives option probabilities. */
  optionProbs: boolean[];
  /**
   * Per model: how many repetitions are administered (default: the suite's). An option-
   * probability request carries no seed, so its repetitions collapse to one (repetitionsFor).
   */
  repetitions?: number[];
}

/**
 * Repetitions per model: one where repeating would send the same request again. An
 * option-probability request carries no seed, so its repetitions would be identical
 * requests (the store would serve them, duplicated rows would inflate α and ω): they
 * collapse to one. Sampled answers carry a seed per repetition and run as asked.
 */
export function repetitionsFor(suite: Suite, backends: readonly { capabilities: { optionProbs: boolean } }[]): number[] {
  return backends.map((b) => (b.capabilities.optionProbs ? 1 : suite.repetitions));
}

export function administeredItems(suite: Suite, instrument: Instrument): InstrumentItem[] {
  return suite.instrument.items ? instrument.items.slice(0, suite.instrument.items) : instrument.items;
}

export function optionLabels(suite: Suite, instrument: Instrument): string[] {
  return suite.instrument.options ?? instrument.options;
}

export function planFidelity(ctx: PlanContext): FidelityTask[] {
  const { suite, instrument } = ctx;
  const items = administeredItems(suite, instrument);
  const options = optionLabels(suite, instrument);
  const variants = suite.instrument.variants ?? [defaultVariant(instrument)];
  // One condition per persona wording: the description, then each paraphrase (a prompt variant of its own).
  const conditions: { method: string; personaId: string; system: ChatMessage[]; suffix: string }[] = [];
  for (const method of suite.methods) {
    for (const persona of suite.personas) for (const w of wordingsOf(persona)) conditions.push({ method: method.id, personaId: persona.id, system: suiteConditioning(suite, { ...persona, description: w.description }, method), suffix: w.suffix });
  }
  if (suite.baseline) conditions.push({ method: 'none', personaId: BASELINE_ID, system: [], suffix: '' });
  const tasks: FidelityTask[] = [];
  suite.models.forEach((_, modelIndex) => {
    for (const c of conditions) {
      for (let repetition = 0; repetition < (ctx.repetitions?.[modelIndex] ?? suite.repetitions); repetition++) {
        for (const variant of variants) {
          for (const item of items) {
            const messages: ChatMessage[] = [...c.system, { role: 'user', content: itemPrompt(item, options, variant, instrument.frame) }];
            const oracle: ProbeHints = { personaId: c.personaId, item: { id: item.id, keyed: item.keyed, ...(item.domain ? { domain: item.domain } : {}) }, repetition };
            const variantId = `${variant.id}${c.suffix}`;
            const reversed = variant.reverse_options === true;
            const base = `m${modelIndex}|${c.method}|${c.personaId}|r${repetition}|${variantId}|${item.id}`;
            if (ctx.optionProbs[modelIndex]) {
              tasks.push({ key: base, kind: 'optionProbs', modelIndex, method: c.method, personaId: c.personaId, repetition, variant: variantId, reversed, itemId: item.id, request: { messages, options: optionDigits(options.length) }, oracle });
            } else {
              for (let sample = 0; sample < suite.instrument.samples; sample++) {
                const sampling = { temperature: suite.run.temperature, maxTokens: 24, seed: suite.seed * 1_000_003 + repetition * 1009 + sample };
                tasks.push({ key: `${base}|s${sample}`, kind: 'chat', modelIndex, method: c.method, personaId: c.personaId, repetition, variant: variantId, reversed, itemId: item.id, sample, request: { messages, sampling }, oracle: { ...oracle, sample } });
              }
            }
          }
        }
      }
    }
  });
  return tasks;
}

export interface ItemResponse {
  /** The answer on the option scale used for scoring (expected value or argmax), null if missing. */
  answer: number | null;
  expected: number | null;
  argmax: number | null;
  /** For sampled scoring: reasons samples were missing. */
  missing: string[];
}

function argmaxOf(values: number[]): number {
  let best = 0;
  values.forEach((v, i) => {
    if (v > values[best]!) best = i;
  });
  return best + 1;
}

/**
 * Turn stored responses back into answer sheets, one per (model, method, persona, repetition,
 * variant). Answers are option values (`values`, default 1..n): an expected value from option
 * probabilities, the most likely option's value, or the mean (or most frequent) sampled value.
 */
export function assembleAdministrations(tasks: readonly FidelityTask[], responses: ReadonlyMap<string, unknown>, scoring: 'expected' | 'argmax', options: string[], minCoverage = 0, values: readonly number[] = options.map((_, i) => i + 1)): Map<number, Administration[]> {
  const groups = new Map<string, { modelIndex: number; admin: Administration; samples: Map<string, number[]>; missing: Map<string, string[]> }>();
  for (const t of tasks) {
    const gk = `${t.modelIndex}|${t.method}|${t.personaId}|${t.repetition}|${t.variant}`;
    let g = groups.get(gk);
    if (!g) {
      g = { modelIndex: t.modelIndex, admin: { personaId: t.personaId, method: t.method, repetition: t.repetition, variant: t.variant, answers: {} }, samples: new Map(), missing: new Map() };
      groups.set(gk, g);
    }
    const res = responses.get(t.key);
    // A stored answer that does not decode (a non-finite probability, say) is missing, never a score.
    if (t.kind === 'optionProbs') {
      const decoded = decodeOptionProbs(res, options.length);
      if (decoded === undefined) {
        g.admin.answers[t.itemId] ??= null;
        continue;
      }
      const { coverage } = decoded;
      // A reversed listing: digit 1 was the last option.
      const probs = t.reversed ? [...decoded.probs].reverse() : decoded.probs;
      (g.admin.coverage ??= {})[t.itemId] = coverage;
      // Off-format: too little probability on the options to renormalise into an answer.
      if (coverage < minCoverage) {
        g.admin.answers[t.itemId] = null;
        continue;
      }
      g.admin.answers[t.itemId] = scoring === 'expected' ? expectedAnswer(probs, values) : values[argmaxOf(probs) - 1]!;
    } else {
      const decoded = decodeChat(res);
      if (decoded === undefined) {
        g.admin.answers[t.itemId] ??= null;
        continue;
      }
      // Read against the options as listed (a label or a digit), then mapped back to the instrument's order.
      const parsed = parseAnswer(decoded.text, listedOptions(options, { reverse_options: t.reversed }));
      if (parsed.value !== null && t.reversed) parsed.value = options.length + 1 - parsed.value;
      // Samples are kept as option positions (1..n) until they are combined into a value.
      const list = g.samples.get(t.itemId) ?? [];
      g.samples.set(t.itemId, list);
      if (parsed.value === null) g.missing.set(t.itemId, [...(g.missing.get(t.itemId) ?? []), parsed.reason]);
      else list.push(parsed.value);
    }
  }
  const out = new Map<number, Administration[]>();
  for (const g of groups.values()) {
    for (const [itemId, positions] of g.samples) {
      if (positions.length === 0) g.admin.answers[itemId] = null;
      else if (scoring === 'expected') g.admin.answers[itemId] = positions.reduce((a, k) => a + values[k - 1]!, 0) / positions.length;
      else {
        const counts = new Array<number>(options.length).fill(0);
        for (const k of positions) counts[k - 1]!++;
        g.admin.answers[itemId] = values[argmaxOf(counts) - 1]!;
      }
    }
    const list = out.get(g.modelIndex) ?? [];
    list.push(g.admin);
    out.set(g.modelIndex, list);
  }
  return out;
}
