// The IPIP 50-item Big-Five factor markers (Goldberg, 1992) as the Open-Source Psychometrics
// Project administered them to the 19,719 people of ../shared/data/human/big5_osp_19719: its
// first-person item texts and keys are read from that data set's codebook.txt at run time (the
// text is not shipped in the package), and its five answers are the agreement scale those people
// saw. Administered to a model, its scores sit on the same items as the people's, so norms compare
// like with like. The IPIP items are in the public domain (ipip.ori.org).

import { dirname, join, resolve } from 'node:path';
import { big5CodebookItems } from '../datasets/human.js';
import { UserError } from '../util/errors.js';
import { bigFiveItem, bigFiveScales, type Instrument, type ItemFrame } from './types.js';

/** The five answers (the codebook names 1, 3 and 5; the test page named 2 and 4 "slightly"). */
const OPTIONS = ['Disagree', 'Slightly disagree', 'Neutral', 'Slightly agree', 'Agree'];

/** The items are whole first-person sentences with their period; the question asks for agreement, as the people were asked. */
const FRAME: ItemFrame = { statement: 'Statement: "{text}"', question: 'How much do you agree with this statement?', reply: 'Reply with the number of your answer only.' };

const cached = new Map<string, Instrument>();

export function ipip50(language = 'en', file?: string): Instrument {
  if (!file) throw new UserError('ipip-50 is read from the BIG5 data set\'s codebook: give instrument.file (e.g. ../shared/data/human/big5_osp_19719/codebook.txt)');
  if (language !== 'en') throw new UserError(`ipip-50: the BIG5 codebook is English only; language "${language}" is not available`);
  const path = resolve(file);
  const hit = cached.get(path);
  if (hit) return hit;
  const items = big5CodebookItems(path).map((it) => bigFiveItem(it.id, it.text, it.domain!, it.keyed));
  const instrument: Instrument = { id: 'ipip-50', name: 'IPIP 50-item Big-Five factor markers (Open-Source Psychometrics BIG5 wording)', language: 'en', frame: FRAME, items, scales: bigFiveScales(), options: OPTIONS, people: { file: join(dirname(path), 'data.csv'), values: { '1': 1, '2': 2, '3': 3, '4': 4, '5': 5 }, description: 'the 19,719 people of the BIG5 data set (0 = not answered)' }, source: 'Open-Source Psychometrics Project BIG5 data set codebook (Goldberg, 1992 markers)', licence: 'public domain (IPIP items)' };
  cached.set(path, instrument);
  return instrument;
}
