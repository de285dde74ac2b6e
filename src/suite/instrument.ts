// The instrument a suite administers: its id, in the language the suite asks for.

import { getInstrument, type Instrument } from '../instruments/index.js';
import type { Suite } from './schema.js';

export const suiteInstrument = (suite: Pick<Suite, 'instrument'>): Instrument => getInstrument(suite.instrument.id, suite.instrument.language, suite.instrument.file);
