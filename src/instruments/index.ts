import { UserError } from '../util/errors.js';
import { ipipNeo120 } from './ipip-neo-120.js';
import { ipip50 } from './ipip-50.js';
import type { Instrument } from './types.js';

const INSTRUMENTS: Record<string, (language?: string, file?: string) => Instrument> = {
  'ipip-neo-120': (language, file) => {
    if (file) throw new UserError('ipip-neo-120 is read from its package: it takes no instrument.file');
    return ipipNeo120(language);
  },
  'ipip-50': ipip50,
};

export function instrumentIds(): string[] {
  return Object.keys(INSTRUMENTS);
}

/** An instrument by id, in a language it carries (default: English), from its file where it is read from one. */
export function getInstrument(id: string, language?: string, file?: string): Instrument {
  const make = INSTRUMENTS[id];
  if (!make) throw new UserError(`unknown instrument "${id}" (known: ${instrumentIds().join(', ')})`);
  return make(language, file);
}

export * from './types.js';
export * from './scoring.js';
export * from './parse.js';
