// Delimited text tables (CSV or TSV, LF or CRLF, double-quoted fields) read whole.
// A row with the wrong number of fields is a one-line error naming file and line.

import { readTextFile } from '../util/files.js';
import { UserError } from '../util/errors.js';

export interface Table {
  file: string;
  header: string[];
  rows: string[][];
  /** 1-based line number of each row, for messages. */
  lines: number[];
}

function splitLine(line: string, sep: string): string[] {
  if (!line.includes('"')) return line.split(sep);
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function readTable(file: string): Table {
  const text = readTextFile(file);
  const all = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = all[0] ?? '';
  if (!first.trim()) throw new UserError(`${file}:1: empty file or missing header`);
  const sep = first.split('\t').length > first.split(',').length ? '\t' : ',';
  const header = splitLine(first, sep).map((h) => h.trim());
  const rows: string[][] = [];
  const lines: number[] = [];
  for (let i = 1; i < all.length; i++) {
    const line = all[i]!;
    if (!line.trim()) continue;
    const cells = splitLine(line, sep);
    if (cells.length !== header.length) throw new UserError(`${file}:${i + 1}: ${cells.length} fields where the header has ${header.length}`);
    rows.push(cells);
    lines.push(i + 1);
  }
  return { file, header, rows, lines };
}

export function column(table: Table, name: string): number {
  const i = table.header.indexOf(name);
  if (i < 0) throw new UserError(`${table.file}: no column "${name}" (columns: ${table.header.slice(0, 12).join(', ')}${table.header.length > 12 ? ', ...' : ''})`);
  return i;
}
