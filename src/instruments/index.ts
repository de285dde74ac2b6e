import { UserError } from '../util/errors.js';
import { ipipNeo120 } from './ipip-neo-120.js';
import type { Instrument } from './types.js';

const INSTRUMENTS: Record<string, () => Instrument> = {
  'ipip-neo-120': ipipNeo120,
};

export function instrumentIds(): string[] {
  return Object.keys(INSTRUMENTS);
}

export function getInstrument(id: string): Instrument {
  const make = INSTRUMENTS[id];
  if (!make) throw new UserError(`unknown instrument "${id}" (known: ${instrumentIds().join(', ')})`);
  return make();
}

export * from './types.js';
export * from './scoring.js';
export * from './parse.js';
