// The people an instrument comes with: for the inventories built from human data (ipip-50,
// epi, bfi-25, spi-135), each respondent's answer sheet on the very items, keys and values a
// model is asked, read from the data file beside the instrument's source. Norms and the
// reliability bench score these sheets exactly as a model's are scored.

import { column, readTable } from '../datasets/table.js';
import { UserError } from '../util/errors.js';
import type { Instrument } from './types.js';

/** Each respondent's answers (item id -> option value, null where missing or out of range). */
export function instrumentSheets(instrument: Instrument): Record<string, number | null>[] {
  const people = instrument.people;
  if (!people) throw new UserError(`instrument ${instrument.id} comes with no human data (those that do: ipip-50, epi, bfi-25, spi-135)`);
  const table = readTable(people.file);
  const cols = instrument.items.map((it) => [it.id, column(table, it.id)] as const);
  return table.rows.map((row) => Object.fromEntries(cols.map(([id, c]) => [id, people.values[row[c]!.trim()] ?? null])));
}
