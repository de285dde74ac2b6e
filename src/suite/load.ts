import { readFileSync } from 'node:fs';
import { parseValidatedYaml, YamlError } from '../util/yaml.js';
import { getInstrument } from '../instruments/index.js';
import { suiteSchema, type Suite } from './schema.js';
import { parseModelId } from '../backends/registry.js';

/** A suite file that failed validation: the message names file, line and field. */
export class SuiteError extends YamlError {}

export function parseSuite(text: string, file = '<suite>'): Suite {
  const { data: suite, errorAt } = parseValidatedYaml(text, file, suiteSchema, SuiteError);
  // Semantic checks the schema cannot express, located the same way.
  try {
    getInstrument(suite.instrument.id);
  } catch (err) {
    throw errorAt(['instrument', 'id'], (err as Error).message);
  }
  suite.models.forEach((m, i) => {
    const id = typeof m === 'string' ? m : m.id;
    try {
      parseModelId(id);
    } catch (err) {
      throw errorAt(['models', i], (err as Error).message);
    }
  });
  return suite;
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
