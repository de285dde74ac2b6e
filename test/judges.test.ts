// Judge repeats mean something on every backend: each repeat is asked with its own seed,
// and at temperature 0 (greedy, so identical on a deterministic backend whatever the seed)
// a judgment is asked once and the report says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adherenceRequest, effectiveRepeats, repeatsNote } from '../src/probes/judges.js';
import { judgeSchema } from '../src/suite/probe-schemas.js';
import { EngineBackend } from '../src/backends/engine.js';
import { familyConfig, makeModel } from './engine-helpers.js';

test('judge repeats: their own seeds above temperature 0 (distinct replies on the engine), one judgment at temperature 0 with a note', async () => {
  const warm = judgeSchema.parse({ id: 'j', model: 'x', temperature: 0.8, seed: 5, repeats: 3 });
  const greedy = judgeSchema.parse({ id: 'g', model: 'x', repeats: 3 });
  assert.equal(effectiveRepeats(warm), 3);
  assert.equal(effectiveRepeats(greedy), 1);
  assert.equal(repeatsNote(warm), undefined);
  assert.match(repeatsNote(greedy)!, /temperature 0: its 3 repeats would be identical/);
  const requests = [0, 1, 2].map((r) => adherenceRequest({ judge: warm, repetition: r, conversation: 'c', turn: 1 }, 'A keeper.', 'Hello.').request);
  assert.deepEqual(requests.map((q) => q.sampling!.seed), [5, 6, 7]);
  // On a real (deterministic) backend the seeds are what makes repeats differ.
  const backend = await EngineBackend.create({ model: makeModel(familyConfig('llama', { layers: 1 })).dir });
  const replies = await Promise.all(requests.map((q) => backend.chat({ ...q, sampling: { ...q.sampling, maxTokens: 6 } })));
  assert.equal(new Set(replies.map((r) => r.text)).size, 3, 'three seeds, three different samples');
  const again = await backend.chat({ ...requests[0]!, sampling: { ...requests[0]!.sampling, maxTokens: 6 } });
  assert.equal(again.text, replies[0]!.text, 'the same seed gives the same sample');
});
