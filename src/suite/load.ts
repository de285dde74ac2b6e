import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { UserError } from '../util/errors.js';
import { getInstrument } from '../instruments/index.js';
import { suiteSchema, type Suite } from './schema.js';
import { parseModelId } from '../backends/registry.js';

/** A suite file that failed validation: the message names file, line and field. */
export class SuiteError extends UserError {}

function pathText(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
}

/** The line of the deepest node of `path` that exists in the document (1-based). */
function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as (string | number)[], true);
    if (isNode(node) && node.range) return counter.linePos(node.range[0]).line;
  }
  return 1;
}

export function parseSuite(text: string, file = '<suite>'): Suite {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = counter.linePos(e.pos[0]).line;
    throw new SuiteError(`${file}:${line}: malformed YAML: ${e.message.split('\n')[0]}`);
  }
  const raw = doc.toJS();
  const parsed = suiteSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? pathText(issue.path) : '(top level)';
    throw new SuiteError(`${file}:${lineOf(doc, counter, issue.path)}: ${where}: ${describeIssue(issue)}`);
  }
  const suite = parsed.data;
  // Semantic checks the schema cannot express, located the same way.
  try {
    getInstrument(suite.instrument.id);
  } catch (err) {
    throw new SuiteError(`${file}:${lineOf(doc, counter, ['instrument', 'id'])}: instrument.id: ${(err as Error).message}`);
  }
  suite.models.forEach((m, i) => {
    const id = typeof m === 'string' ? m : m.id;
    try {
      parseModelId(id);
    } catch (err) {
      throw new SuiteError(`${file}:${lineOf(doc, counter, ['models', i])}: models[${i}]: ${(err as Error).message}`);
    }
  });
  return suite;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `missing required field (${issue.message})`;
  return issue.message;
}

export function loadSuite(file: string): Suite {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SuiteError(`${file}: cannot read suite file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSuite(text, file);
}
