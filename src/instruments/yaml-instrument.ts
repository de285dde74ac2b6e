// An instrument given as a YAML file: its items, keys, scales, options (labels and values),
// item frame, language, licence and source, validated with errors naming file, line and field.
//
//   id: warmth-3            # what a suite's instrument.id names
//   name: Three warmth scales
//   language: en
//   licence: CC0-1.0
//   source: the authors' own items
//   options: [Never, Rarely, ..., Always]          # or [{label: Never, value: 0}, ...]
//   scales:
//     - { id: warmth, name: Warmth, domain: A }     # domain: the Big Five domain it measures, if any
//   items:
//     - { id: w1, text: I put people at ease., scale: warmth, keyed: plus }

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseValidatedYaml, YamlError } from '../util/yaml.js';
import { DOMAINS, type Instrument, type InstrumentItem, type ItemFrame } from './types.js';

/** A listed option: a label, or a label with its own value. */
const optionSchema = z.union([z.string().min(1), z.object({ label: z.string().min(1), value: z.number().finite() }).strict()]);

const keyedSchema = z.enum(['plus', 'minus']);

export const yamlInstrumentSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'an id of lower-case letters, digits, ".", "_" and "-"'),
    name: z.string().min(1),
    language: z.string().min(2).default('en'),
    licence: z.string().min(1).describe('the licence its items are under'),
    source: z.string().min(1).describe('where its items come from'),
    frame: z.object({ statement: z.string().includes('{text}', { message: 'the statement must contain {text}' }), question: z.string().min(1), reply: z.string().min(1) }).strict().optional(),
    options: z.array(optionSchema).min(2).max(9).describe('2 to 9 options in the order they are listed (a model answers with their digits)'),
    scales: z.array(z.object({ id: z.string().min(1), name: z.string().min(1), domain: z.enum(DOMAINS).optional(), facets: z.array(z.string().min(1)).optional() }).strict()).min(1),
    items: z
      .array(
        z
          .object({
            id: z.string().min(1),
            text: z.string().min(1),
            scale: z.string().min(1),
            keyed: keyedSchema.default('plus'),
            facet: z.number().int().min(1).optional(),
            also: z.array(z.object({ scale: z.string().min(1), keyed: keyedSchema.default('plus') }).strict()).optional().describe('further scales the item is scored on'),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** The default frame of a YAML instrument: a statement and the accuracy question. */
const DEFAULT_FRAME: ItemFrame = { statement: 'Statement: "{text}"', question: 'How accurately does this statement describe you?', reply: 'Reply with the number of your answer only.' };

/** An instrument file past this size is refused (its text goes into every request). */
const MAX_BYTES = 4 << 20;

const cached = new Map<string, { mtimeMs: number; instrument: Instrument }>();

export function isYamlInstrumentFile(file: string): boolean {
  return /\.ya?ml$/i.test(file);
}

export function loadYamlInstrument(file: string): Instrument {
  const path = resolve(file);
  let size: number;
  let mtimeMs: number;
  try {
    ({ size, mtimeMs } = statSync(path));
  } catch (err) {
    throw new YamlError(`${file}: cannot read instrument file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const hit = cached.get(path);
  if (hit && hit.mtimeMs === mtimeMs) return hit.instrument;
  if (size > MAX_BYTES) throw new YamlError(`${file}: ${(size / 2 ** 20).toFixed(1)} MiB is too large for an instrument (at most ${MAX_BYTES / 2 ** 20} MiB)`);
  const instrument = parseYamlInstrument(readFileSync(path, 'utf8'), file);
  cached.set(path, { mtimeMs, instrument });
  return instrument;
}

export function parseYamlInstrument(text: string, file = '<instrument>'): Instrument {
  const { data, errorAt } = parseValidatedYaml(text, file, yamlInstrumentSchema);
  const unique = (ids: string[], field: string, noun: string) => {
    const seen = new Map<string, number>();
    ids.forEach((id, i) => {
      const first = seen.get(id);
      if (first !== undefined) throw errorAt(noun === 'label' ? [field, i] : [field, i, 'id'], `duplicate ${noun} "${id}" (also at ${field}[${first}])`);
      seen.set(id, i);
    });
  };
  unique(data.scales.map((s) => s.id), 'scales', 'scale id');
  unique(data.items.map((s) => s.id), 'items', 'item id');
  const labels = data.options.map((o) => (typeof o === 'string' ? o : o.label));
  unique(labels, 'options', 'label');
  const values = data.options.map((o, i) => (typeof o === 'string' ? i + 1 : o.value));
  if (new Set(values).size !== values.length) throw errorAt(['options'], `two options have one value (${values.join(', ')}): each option needs its own`);
  if (data.options.some((o) => typeof o === 'string') && data.options.some((o) => typeof o !== 'string')) throw errorAt(['options'], 'give every option a value, or none (then they are 1..n)');
  data.scales.forEach((s, i) => {
    if (s.domain === undefined) return;
    const other = data.scales.findIndex((t) => t.domain === s.domain);
    if (other !== i) throw errorAt(['scales', i, 'domain'], `domain ${s.domain} is already measured by scales[${other}] ("${data.scales[other]!.id}"); one scale per Big Five domain takes a persona's target`);
  });
  const scales = new Map(data.scales.map((s) => [s.id, s]));
  const items: InstrumentItem[] = data.items.map((it, i) => {
    const known = (scale: string, path: (string | number)[]) => {
      if (!scales.has(scale)) throw errorAt(path, `unknown scale "${scale}" (scales: ${[...scales.keys()].join(', ')})`);
    };
    known(it.scale, ['items', i, 'scale']);
    (it.also ?? []).forEach((a, j) => {
      known(a.scale, ['items', i, 'also', j, 'scale']);
      if (a.scale === it.scale || it.also!.findIndex((b) => b.scale === a.scale) !== j) throw errorAt(['items', i, 'also', j, 'scale'], `the item is already scored on "${a.scale}"`);
    });
    const facets = scales.get(it.scale)!.facets;
    if (it.facet !== undefined && (!facets || it.facet > facets.length)) throw errorAt(['items', i, 'facet'], `scale "${it.scale}" has ${facets?.length ?? 0} facets`);
    const keys = [{ scale: it.scale, keyed: it.keyed }, ...(it.also ?? [])];
    const onDomain = keys.find((k) => scales.get(k.scale)!.domain !== undefined);
    const domain = onDomain ? scales.get(onDomain.scale)!.domain : undefined;
    return { id: it.id, text: it.text, keys, keyed: (onDomain ?? keys[0]!).keyed, ...(domain ? { domain } : {}), ...(it.facet !== undefined ? { facet: it.facet } : {}) };
  });
  data.scales.forEach((s, i) => {
    if (!items.some((it) => it.keys.some((k) => k.scale === s.id))) throw errorAt(['scales', i], `scale "${s.id}" has no items`);
  });
  return {
    id: data.id,
    name: data.name,
    language: data.language,
    frame: data.frame ?? DEFAULT_FRAME,
    items,
    scales: data.scales.map((s) => ({ id: s.id, name: s.name, ...(s.domain ? { domain: s.domain } : {}), ...(s.facets ? { facets: s.facets } : {}) })),
    options: labels,
    ...(data.options.some((o) => typeof o !== 'string') ? { values } : {}),
    source: data.source,
    licence: data.licence,
  };
}
