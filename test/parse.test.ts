import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAnswer } from '../src/instruments/parse.js';

const options = ['Very Inaccurate', 'Moderately Inaccurate', 'Neither Accurate Nor Inaccurate', 'Moderately Accurate', 'Very Accurate'];

test('sampled replies are parsed robustly; refusals and ambiguity are missing, never a score', () => {
  assert.deepEqual(parseAnswer('4', options), { value: 4 });
  assert.deepEqual(parseAnswer('Answer: 2.', options), { value: 2 });
  assert.deepEqual(parseAnswer('(5) Very Accurate', options), { value: 5 });
  assert.deepEqual(parseAnswer('Moderately inaccurate, I think.', options), { value: 2 });
  assert.deepEqual(parseAnswer('very accurate!', options), { value: 5 });
  assert.deepEqual(parseAnswer('3 or 4', options), { value: null, reason: 'ambiguous' });
  assert.deepEqual(parseAnswer("As an AI, I don't have personal feelings.", options), { value: null, reason: 'refusal' });
  assert.deepEqual(parseAnswer('Hmm, hard to say.', options), { value: null, reason: 'unparsable' });
  assert.deepEqual(parseAnswer('7', options), { value: null, reason: 'unparsable' });
});
