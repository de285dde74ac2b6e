// The 20-questions commitment set: yes/no questions and the objects they describe
// (content/twenty-questions.yaml, the project's own content). Checked on load:
// every "yes" names a question, and no question is answered the same by every object.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { parseValidatedYaml } from '../util/yaml.js';

const FILE = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'content', 'twenty-questions.yaml');

const schema = z
  .object({
    version: z.number().int(),
    questions: z.array(z.object({ id: z.string(), text: z.string() }).strict()).min(2),
    objects: z.array(z.object({ name: z.string(), yes: z.array(z.string()) }).strict()).min(2),
  })
  .strict();

export interface TwentyQuestionsSet {
  version: number;
  questions: { id: string; text: string }[];
  objects: { name: string; answers: boolean[] }[];
}

let cached: TwentyQuestionsSet | undefined;

export function twentyQuestionsSet(): TwentyQuestionsSet {
  if (cached) return cached;
  const { data, errorAt } = parseValidatedYaml(readFileSync(FILE, 'utf8'), FILE, schema);
  const ids = data.questions.map((q) => q.id);
  data.objects.forEach((o, i) =>
    o.yes.forEach((y, j) => {
      if (!ids.includes(y)) throw errorAt(['objects', i, 'yes', j], `unknown question "${y}"`);
    }),
  );
  const objects = data.objects.map((o) => ({ name: o.name, answers: ids.map((id) => o.yes.includes(id)) }));
  ids.forEach((id, q) => {
    if (objects.every((o) => o.answers[q] === objects[0]!.answers[q])) throw errorAt(['questions', q], `question "${id}" gets the same answer from every object`);
  });
  cached = { version: data.version, questions: data.questions, objects };
  return cached;
}
