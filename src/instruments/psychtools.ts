// Inventories built from the item texts and keys that come with the human data sets of the
// R package psychTools (../shared/data/human/psychtools_*; GPL >= 2 as data, the items are
// IPIP's public-domain items or Eysenck's published EPI items): read at run time from the
// dictionary file a suite names as instrument.file, never shipped in this package.
//
//   epi      Eysenck Personality Inventory: 57 yes/no questions; E, N, the Lie scale, and
//            E's Impulsivity and Sociability parts (epi.dictionary.csv + epi.keys.csv)
//   bfi-25   the 25 IPIP items of psychTools' bfi, five per Big Five domain, 1..6
//            (bfi.dictionary.csv + bfi.keys.csv)
//   spi-135  the SAPA Personality Inventory: 135 IPIP items, 27 narrow factors (5 items each)
//            and 70 of them marking the Big Five, 1..6 (spi.dictionary.csv; psychTools ships
//            its keys as R data only, so keys are inferred from spi.csv beside it)

import { basename, dirname, join, resolve } from 'node:path';
import { column, readTable } from '../datasets/table.js';
import { inferGroupKeys, readScaleKeys } from '../datasets/human.js';
import { UserError } from '../util/errors.js';
import { bigFiveScales, type Domain, type Instrument, type InstrumentItem, type InstrumentScale, type ItemFrame, type Keying, type ScaleKey } from './types.js';

const IPIP_ACCURACY = ['Very Inaccurate', 'Moderately Inaccurate', 'Slightly Inaccurate', 'Slightly Accurate', 'Moderately Accurate', 'Very Accurate'];
/** The IPIP items are whole sentences with their period. */
const STATEMENT_FRAME: ItemFrame = { statement: 'Statement: "{text}"', question: 'How accurately does this statement describe you?', reply: 'Reply with the number of your answer only.' };
const QUESTION_FRAME: ItemFrame = { statement: 'Question: "{text}"', question: 'What is your answer to this question about yourself?', reply: 'Reply with the number of your answer only.' };
const ONE_TO_SIX: Record<string, number> = { '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6 };
const IPIP_LICENCE = 'item texts: IPIP, public domain (ipip.ori.org); the psychTools files they are read from: GPL (>= 2)';
const EPI_LICENCE = "item texts: Eysenck & Eysenck's Eysenck Personality Inventory (1964), as psychTools distributes them; the psychTools files: GPL (>= 2)";

const cached = new Map<string, Instrument>();

function once(id: string, file: string | undefined, expect: string, language: string, build: (path: string) => Instrument): Instrument {
  if (!file) throw new UserError(`${id} is read from psychTools' ${expect}: give instrument.file (e.g. ../shared/data/human/psychtools_${id === 'epi' ? 'epiR' : id === 'bfi-25' ? 'bfi' : 'spi'}/${expect})`);
  if (language !== 'en') throw new UserError(`${id}: psychTools' items are English only; language "${language}" is not available`);
  const path = resolve(file);
  if (basename(path) !== expect) throw new UserError(`${id}: instrument.file must be psychTools' ${expect}, got ${basename(path)}`);
  const key = `${id}|${path}`;
  const hit = cached.get(key);
  if (hit) return hit;
  const made = build(path);
  cached.set(key, made);
  return made;
}

/** A psychTools keys table (scale,item,reversed) as item id -> its scale keys, in file order. */
function readKeys(keysFile: string): { scales: string[]; byItem: Map<string, ScaleKey[]> } {
  const keyed = readScaleKeys(keysFile);
  const byItem = new Map<string, ScaleKey[]>();
  for (const [scale, items] of Object.entries(keyed)) for (const { id, reversed } of items) byItem.set(id, [...(byItem.get(id) ?? []), { scale, keyed: reversed ? 'minus' : 'plus' }]);
  return { scales: Object.keys(keyed), byItem };
}

/** An item whose Big-Five-facing key is its first key on a scale mapped to a domain. */
function itemOf(id: string, text: string, keys: ScaleKey[], scales: readonly InstrumentScale[]): InstrumentItem {
  const onDomain = keys.find((k) => scales.find((s) => s.id === k.scale)?.domain !== undefined);
  const domain = onDomain ? scales.find((s) => s.id === onDomain.scale)!.domain : undefined;
  return { id, text, keys, keyed: (onDomain ?? keys[0]!).keyed, ...(domain ? { domain } : {}) };
}

const EPI_SCALES: Record<string, { name: string; domain?: Domain }> = {
  E: { name: 'Extraversion', domain: 'E' },
  N: { name: 'Neuroticism', domain: 'N' },
  L: { name: 'Lie' },
  Imp: { name: 'Impulsivity (part of E)' },
  Soc: { name: 'Sociability (part of E)' },
};

/** The EPI: yes (1) or no (0) to 57 questions; a scale score is the share of its items answered the keyed way. */
export function epi(language = 'en', file?: string): Instrument {
  return once('epi', file, 'epi.dictionary.csv', language, (path) => {
    const dict = readTable(path);
    const { scales: ids, byItem } = readKeys(join(dirname(path), 'epi.keys.csv'));
    const scales = ids.map((id) => {
      const known = EPI_SCALES[id];
      if (!known) throw new UserError(`epi: ${path}: unknown scale "${id}" in epi.keys.csv`);
      return { id, ...known };
    });
    const [idc, tc] = [column(dict, 'rowname'), column(dict, 'Content')];
    const items = dict.rows.flatMap((r) => {
      const keys = byItem.get(r[idc]!.trim());
      // Items no scale scores (the EPI has a few fillers) are not asked.
      return keys ? [itemOf(r[idc]!.trim(), r[tc]!.trim(), keys, scales)] : [];
    });
    return { id: 'epi', name: 'Eysenck Personality Inventory (psychTools epi)', language: 'en', frame: QUESTION_FRAME, items, scales, options: ['Yes', 'No'], values: [1, 0], people: { file: join(dirname(path), 'epi.csv'), values: { '1': 1, '2': 0 }, description: 'psychTools epi: 3,570 answer sheets (1 = yes, 2 = no)' }, source: `psychTools 2.5.3 epi.dictionary.csv and epi.keys.csv (${dirname(path)})`, licence: EPI_LICENCE };
  });
}

/** psychTools' names of the Big Five scales (bfi.keys.csv's and spi.dictionary.csv's B5 column). */
const PSYCHTOOLS_DOMAINS: Record<string, Domain> = {
  openness: 'O', conscientious: 'C', extraversion: 'E', agree: 'A', neuroticism: 'N',
  Open: 'O', Consc: 'C', Extra: 'E', Agree: 'A', Neuro: 'N',
};

/** psychTools' bfi: 25 IPIP items on the 6-point accuracy scale its people answered. */
export function bfi25(language = 'en', file?: string): Instrument {
  return once('bfi-25', file, 'bfi.dictionary.csv', language, (path) => {
    const dict = readTable(path);
    const { scales: ids, byItem } = readKeys(join(dirname(path), 'bfi.keys.csv'));
    for (const id of ids) if (!PSYCHTOOLS_DOMAINS[id]) throw new UserError(`bfi-25: ${path}: unknown scale "${id}" in bfi.keys.csv`);
    const scales = bigFiveScales();
    const [idc, tc] = [column(dict, 'rowname'), column(dict, 'Item')];
    const items = dict.rows.flatMap((r) => {
      const keys = byItem.get(r[idc]!.trim())?.map((k) => ({ scale: PSYCHTOOLS_DOMAINS[k.scale]!, keyed: k.keyed }));
      return keys ? [itemOf(r[idc]!.trim(), r[tc]!.trim(), keys, scales)] : [];
    });
    return { id: 'bfi-25', name: "BFI-25 (psychTools bfi, IPIP items)", language: 'en', frame: STATEMENT_FRAME, items, scales, options: IPIP_ACCURACY, people: { file: join(dirname(path), 'bfi.csv'), values: ONE_TO_SIX, description: 'psychTools bfi: 2,800 people' }, source: `psychTools 2.5.3 bfi.dictionary.csv and bfi.keys.csv (${dirname(path)})`, licence: IPIP_LICENCE };
  });
}

/** Split "EmotionalStability" into "Emotional stability". */
const spaced = (id: string): string => id.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a} ${b.toLowerCase()}`);

/** The SPI-135: 27 narrow factors and the Big Five, keys inferred from the 4,000 people of spi.csv. */
export function spi135(language = 'en', file?: string): Instrument {
  return once('spi-135', file, 'spi.dictionary.csv', language, (path) => {
    const dict = readTable(path);
    const [idc, tc, b5c, l27c] = [column(dict, 'item_id'), column(dict, 'item'), column(dict, 'B5'), column(dict, 'L27')];
    const rows = dict.rows.filter((r) => r[l27c]!.trim() !== 'NA');
    const l27 = [...new Set(rows.map((r) => r[l27c]!.trim()))];
    const scales: InstrumentScale[] = [...bigFiveScales(), ...l27.map((id) => ({ id, name: spaced(id) }))];
    // Keys: each item's sign against the rest of its scale, on the people's answers.
    const data = readTable(join(dirname(path), 'spi.csv'));
    const cols = rows.map((r) => column(data, r[idc]!.trim()));
    const people = data.rows.map((row) => cols.map((c) => {
      const v = Number(row[c]!.trim());
      return Number.isInteger(v) && v >= 1 && v <= 6 ? v : null;
    }));
    const groups = scales.map((s) => rows.flatMap((r, j) => ((s.domain ? PSYCHTOOLS_DOMAINS[r[b5c]!.trim()] === s.id : r[l27c]!.trim() === s.id) ? [j] : [])));
    const keys = inferGroupKeys(people, groups);
    const keyOf = (scale: number, j: number): Keying => keys[scale]![groups[scale]!.indexOf(j)]!;
    const items = rows.map((r, j) => {
      const own = scales.findIndex((s) => s.id === r[l27c]!.trim());
      const b5 = PSYCHTOOLS_DOMAINS[r[b5c]!.trim()];
      const b5i = b5 ? scales.findIndex((s) => s.id === b5) : -1;
      const itemKeys: ScaleKey[] = [{ scale: scales[own]!.id, keyed: keyOf(own, j) }, ...(b5 ? [{ scale: b5, keyed: keyOf(b5i, j) }] : [])];
      return itemOf(r[idc]!.trim(), r[tc]!.trim(), itemKeys, scales);
    });
    const minus = items.flatMap((it) => it.keys.filter((k) => k.keyed === 'minus').map((k) => `${it.id}/${k.scale}`));
    return {
      id: 'spi-135',
      name: 'SAPA Personality Inventory (SPI-135)',
      language: 'en',
      frame: STATEMENT_FRAME,
      items,
      scales,
      options: IPIP_ACCURACY,
      people: { file: join(dirname(path), 'spi.csv'), values: ONE_TO_SIX, description: 'psychTools spi: 4,000 people' },
      source: `psychTools 2.5.3 spi.dictionary.csv; keys inferred from spi.csv (${dirname(path)}), ${minus.length} item-scale keys reversed`,
      licence: IPIP_LICENCE,
      notes: ['spi-135: psychTools ships the SPI keys as R data only; each item\'s key was inferred from the sign of its correlation with the rest of its scale among the 4,000 people of spi.csv'],
    };
  });
}
