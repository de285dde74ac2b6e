// YAML validated by a zod schema, with errors that name file, line and field.
// Suites and intervention files both go through here.

import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { UserError } from './errors.js';

/** A YAML file that failed validation: the message names file, line and field. */
export class YamlError extends UserError {}

export function pathText(path: readonly PropertyKey[]): string {
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

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) return `missing required field (${issue.message})`;
  return issue.message;
}

export interface ValidatedYaml<T> {
  data: T;
  /** An error located at `path` in the file, for checks the schema cannot express. */
  errorAt(path: (string | number)[], message: string): YamlError;
}

export function parseValidatedYaml<S extends z.ZodType>(text: string, file: string, schema: S, ErrorClass: new (m: string) => YamlError = YamlError): ValidatedYaml<z.infer<S>> {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = counter.linePos(e.pos[0]).line;
    throw new ErrorClass(`${file}:${line}: malformed YAML: ${e.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    // Aliases are expanded at most 100 times over: a "billion laughs" file is refused, not expanded.
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ErrorClass(`${file}: YAML aliases expand too far (${(err as Error).message}); refusing to expand it`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? pathText(issue.path) : '(top level)';
    throw new ErrorClass(`${file}:${lineOf(doc, counter, issue.path)}: ${where}: ${describeIssue(issue)}`);
  }
  return {
    data: parsed.data,
    errorAt: (path, message) => new ErrorClass(`${file}:${lineOf(doc, counter, path)}: ${pathText(path)}: ${message}`),
  };
}
