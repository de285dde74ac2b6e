import { UserError } from '../util/errors.js';
import { ipipNeo120 } from './ipip-neo-120.js';
import type { Instrument } from './types.js';

const INSTRUMENTS: Record<string, (language?: string) => Instrument> = {
  'ipip-neo-120': ipipNeo120,
};

export function instrumentIds(): string[] {
  return Object.keys(INSTRUMENTS);
}

/** An instrument by id, in a language it carries (default: English). */
export function getInstrument(id: string, language?: string): Instrument {
  const make = INSTRUMENTS[id];
  if (!make) throw new UserError(`unknown instrument "${id}" (known: ${instrumentIds().join(', ')})`);
  return make(language);
}

export * from './types.js';
export * from './scoring.js';
export * from './parse.js';
