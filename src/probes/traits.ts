// Trait definitions for persona vectors: contrastive system instructions, elicitation
// questions and a judge rubric, in YAML. The project ships its own in content/traits/:
// the ten Big Five poles (one file per domain gives both poles), sycophancy and humor.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseValidatedYaml, YamlError } from '../util/yaml.js';
import { UserError } from '../util/errors.js';

export const TRAITS_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'content', 'traits');

const traitFileSchema = z
  .object({
    version: z.number().int().min(1),
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/),
    name: z.string().min(1),
    domain: z.enum(['O', 'C', 'E', 'A', 'N']).optional(),
    description: z.string().min(1),
    poles: z.boolean().default(false).describe('true: the file defines ID-high (as written) and ID-low (pairs swapped)'),
    pairs: z.array(z.object({ positive: z.string().min(1), negative: z.string().min(1) }).strict()).length(5, 'a trait has 5 pairs of contrastive instructions'),
    questions: z.array(z.string().min(1)).optional(),
    questions_from: z.string().optional().describe('a YAML file with `questions:`, relative to this one'),
    rubric: z.string().min(1),
  })
  .strict();

export interface TraitDefinition {
  id: string;
  /** The Big Five domain a pole definition belongs to, and which pole. */
  domain?: 'O' | 'C' | 'E' | 'A' | 'N';
  pole?: 'high' | 'low';
  name: string;
  description: string;
  pairs: { positive: string; negative: string }[];
  questions: string[];
  rubric: string;
  source: string;
}

function readYaml(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new YamlError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The trait definitions in one file (two for a file with `poles: true`). */
export function loadTraitFile(file: string): TraitDefinition[] {
  const { data, errorAt } = parseValidatedYaml(readYaml(file), file, traitFileSchema);
  let questions = data.questions ?? [];
  if (data.questions_from) {
    const from = resolve(dirname(file), data.questions_from);
    const parsed = parseValidatedYaml(readYaml(from), from, z.object({ version: z.number().int(), questions: z.array(z.string().min(1)) }).strict());
    questions = [...questions, ...parsed.data.questions];
  }
  if (questions.length < 20 || questions.length > 40) throw errorAt(['questions'], `a trait needs 20 to 40 elicitation questions (has ${questions.length})`);
  const base = { description: data.description, questions, source: file, ...(data.domain ? { domain: data.domain } : {}) };
  if (!data.poles) return [{ ...base, id: data.id, name: data.name, pairs: data.pairs, rubric: data.rubric }];
  return [
    { ...base, pole: 'high' as const, id: `${data.id}-high`, name: `High ${data.name.toLowerCase()}`, pairs: data.pairs, rubric: data.rubric },
    { ...base, pole: 'low' as const, id: `${data.id}-low`, name: `Low ${data.name.toLowerCase()}`, pairs: data.pairs.map((p) => ({ positive: p.negative, negative: p.positive })), rubric: data.rubric.replace(/show high /, 'show low ').replace('0 = the clear opposite', '0 = the clear opposite (high)') },
  ];
}

/** Every trait the project ships, by id. */
export function builtinTraits(): Map<string, TraitDefinition> {
  const out = new Map<string, TraitDefinition>();
  for (const name of readdirSync(TRAITS_DIR).sort()) {
    if (!name.endsWith('.yaml') || name.endsWith('-questions.yaml')) continue;
    for (const t of loadTraitFile(join(TRAITS_DIR, name))) out.set(t.id, t);
  }
  return out;
}

/** A trait by file path, or by the id of a built-in one (e.g. extraversion-high, sycophancy). */
export function resolveTrait(ref: string): TraitDefinition {
  if (existsSync(ref)) {
    const defs = loadTraitFile(ref);
    if (defs.length > 1) throw new UserError(`${ref} defines both poles (${defs.map((d) => d.id).join(', ')}); name one of them as a built-in id, or write a file without poles: true`);
    return defs[0]!;
  }
  const t = builtinTraits().get(ref);
  if (!t) throw new UserError(`no trait file or built-in trait "${ref}" (built-in: ${[...builtinTraits().keys()].join(', ')})`);
  return t;
}
