import { UserError } from '../util/errors.js';
import { ipipNeo120 } from './ipip-neo-120.js';
import { ipip50 } from './ipip-50.js';
import { bfi25, epi, spi135 } from './psychtools.js';
import { isYamlInstrumentFile, loadYamlInstrument } from './yaml-instrument.js';
import type { Instrument } from './types.js';

const INSTRUMENTS: Record<string, (language?: string, file?: string) => Instrument> = {
  'ipip-neo-120': (language, file) => {
    if (file) throw new UserError('ipip-neo-120 is read from its package: it takes no instrument.file');
    return ipipNeo120(language);
  },
  'ipip-50': ipip50,
  epi,
  'bfi-25': bfi25,
  'spi-135': spi135,
};

export function instrumentIds(): string[] {
  return Object.keys(INSTRUMENTS);
}

/**
 * An instrument by id, in a language it carries (default: English), from its file where it is
 * read from one; a .yaml/.yml file is an instrument of its own, whose id must be the one asked for.
 */
export function getInstrument(id: string, language?: string, file?: string): Instrument {
  if (file && isYamlInstrumentFile(file)) {
    const own = loadYamlInstrument(file);
    if (INSTRUMENTS[id]) throw new UserError(`instrument "${id}" is built in and is not read from a YAML file; give the YAML instrument its own id (the file declares "${own.id}")`);
    if (own.id !== id) throw new UserError(`the instrument file declares id "${own.id}", not "${id}"`);
    if (language !== undefined && language !== own.language) throw new UserError(`the instrument file is in language "${own.language}", not "${language}"`);
    return own;
  }
  const make = INSTRUMENTS[id];
  if (!make) throw new UserError(`unknown instrument "${id}" (known: ${instrumentIds().join(', ')}; or a YAML instrument given as instrument.file)`);
  return make(language, file);
}

export * from './types.js';
export * from './scoring.js';
export * from './parse.js';
export * from './yaml-instrument.js';
