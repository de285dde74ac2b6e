// Truth never travels in a request. What a probe knows about a call (the oracle: the part it
// plays, the conversation, a multiple-choice key, a twin's real answer) goes beside the
// request, only to the simulated panel; the panel finds the persona and the item in the text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { runSuite } from '../src/runner/run.js';
import { recoverySuite } from '../src/suite/recovery-suite.js';
import { loadSuite } from '../src/suite/load.js';
import { suiteSchema } from '../src/suite/schema.js';
import { tempDir, twinsSuiteFile } from './helpers.js';

/** Every key a request may hold: what a real backend is sent. */
const REQUEST_KEYS = new Set(['messages', 'role', 'content', 'options', 'sampling', 'temperature', 'topP', 'maxTokens', 'seed', 'stop', 'hooks']);

function keysOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) keysOf(v, into);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      into.add(k);
      keysOf(v, into);
    }
  }
  return into;
}

function storedRequests(outDir: string): { kind: string; request: unknown }[] {
  const db = new Database(join(outDir, 'persona-probe.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT kind, request_json AS q FROM calls').all() as { kind: string; q: string }[]).map((r) => ({ kind: r.kind, request: JSON.parse(r.q) as unknown }));
  } finally {
    db.close();
  }
}

test('no truth in any request: fidelity, stickiness (judge, adaptive attacker), every consistency part and twins on sim: store only what a real backend is sent', async () => {
  const out = tempDir();
  const suite = suiteSchema.parse({
    name: 'oracle-check',
    instrument: { id: 'ipip-neo-120', items: 10 },
    personas: [
      { id: 'ann', name: 'Ann', description: 'A baker.', target: { O: 4, C: 2, E: 4, A: 2, N: 4 }, facts: ['Ann keeps bees.'] },
      { id: 'bob', name: 'Bob', description: 'A pilot.', target: { O: 2, C: 4, E: 2, A: 4, N: 2 }, facts: ['Bob flies gliders.'] },
    ],
    judges: [{ id: 'j', model: 'sim:' }],
    stickiness: { conditions: [{ id: 'c', persona: 'ann' }], attacks: ['slow-drift'], turns: 2, conversations: 1, retention: { inventory: { items_per_domain: 1 }, judge: 'j' }, adaptive: { model: 'sim:' } },
    consistency: { judge: 'j', dialogue: { turns: 2, conversations: 1, qa: { every: 1, questions: 2, generator: 'j' } }, regeneration: { seeds: 2, items_per_domain: 1 }, tenancy: { turns: 2 }, self_report: { turns: 2, items_per_domain: 1 }, twenty_questions: { games: 1 } },
    models: ['sim:'],
  });
  const r = await runSuite(suite, { outDir: out });
  assert.equal(r.counters.errors, 0);
  // The panel still played every part (through the oracle): answers were scored and judged.
  const qa = r.analysis.consistency!.dialogue!.map((row) => row.qa!);
  assert.ok(qa.every((q) => q.asked > 0 && q.accuracy > 0.5), JSON.stringify(qa));
  assert.ok(r.analysis.stickiness!.conditions[0]!.judge!.judgments > 0);

  const twinsFile = twinsSuiteFile(['sim:'], '  respondents: 20\n');
  const dir = dirname(twinsFile);
  const tw = await runSuite(loadSuite(twinsFile), { outDir: join(dir, 'out'), suitePath: twinsFile });
  assert.equal(tw.counters.errors, 0);
  // A twin on sim: aims at the real answer it gets beside the request: accuracy 1.
  assert.equal(tw.analysis.twins!.results[0]!.individual.accuracy, 1);

  const requests = [...storedRequests(out), ...storedRequests(join(dir, 'out'))];
  assert.ok(requests.length > 500, `${requests.length} stored requests`);
  assert.deepEqual(new Set(requests.map((q) => q.kind)), new Set(['chat', 'optionProbs']));
  const keys = new Set(requests.flatMap((q) => [...keysOf(q.request)]));
  assert.deepEqual([...keys].filter((k) => !REQUEST_KEYS.has(k)), [], 'a request holds only what a backend is sent');
});

test('the simulated panel reads its persona from the prompt: an empty persona template breaks its recovery', async () => {
  const base = recoverySuite({ personas: 12, seed: 4, items: 60 });
  const ok = (await runSuite(base, { outDir: tempDir() })).analysis.models![0]!.recovery!;
  const broken = (await runSuite(suiteSchema.parse({ ...base, methods: [{ id: 'broken', kind: 'role-personality', template: '' }] }), { outDir: tempDir() })).analysis.models![0]!;
  assert.ok(ok.pullMae < 0.1 && ok.pullRankCorrelation > 0.9, JSON.stringify(ok));
  // With nothing in the system prompt the panel cannot tell who it is: every persona answers as the default.
  assert.ok(broken.recovery!.pullMae > 0.3, `pull MAE ${broken.recovery!.pullMae}`);
  for (const p of broken.methods[0]!.personas) assert.ok(p.defaultPull! > 0.95, `${p.personaId}: pull ${p.defaultPull}`);
});

test('the simulated judges read words, not numbers: a reply holds none of the persona state; the adherence judge scores the voice against the character it is given, reads none without it, and a prompt that lost the description leaves only the name', async () => {
  const { SimulatedPanel } = await import('../src/backends/sim.js');
  const { adherenceRequest, backstoryRequest, linesRequest } = await import('../src/probes/judges.js');
  const sim = new SimulatedPanel({ judgeNoise: 0, seed: 5 });
  const description = 'A cheerful baker who sings opera while kneading sourdough.';
  sim.setPersona('ann', { target: { O: 4, C: 2, E: 4, A: 2, N: 4 }, fidelity: 0.6, contradictions: { backstory: 1, line: 1, qa: 0 } }, { names: ['Ann'], description, facts: ['Ann keeps bees.'] });
  const judgeSpec = { id: 'j', model: 'sim:', temperature: 0, repeats: 1 } as never;
  const say = async (system: string, earlier: string[] = []) =>
    (await sim.chat({ messages: [{ role: 'system', content: system }, ...earlier.flatMap((e) => [{ role: 'user' as const, content: 'And?' }, { role: 'assistant' as const, content: e }]), { role: 'user', content: 'Hello.' }] }, undefined, { task: 'persona', conversation: 'c', turn: earlier.length })).text;
  const judge = async (call: { request: Parameters<typeof sim.chat>[0]; oracle: Parameters<typeof sim.chat>[2] }) => (await sim.chat(call.request, undefined, call.oracle)).text;
  const jc = { judge: judgeSpec, repetition: 0, conversation: 'c', turn: 0 };
  const character = `Name: Ann.\n${description}\nAnn keeps bees.`;

  const reply = await say(`You are Ann. ${description} Ann keeps bees.`);
  assert.doesNotMatch(reply, /\d\.\d|adherence|fidelity/, 'no number of the state in the text');
  // 20 voice words, 12 of them (0.6) the character's: the judge reads 6 of 10.
  assert.equal(await judge(adherenceRequest(jc, character, reply)), 'SCORE: 6');
  assert.equal(await judge(adherenceRequest(jc, '', reply)), 'SCORE: 0', 'given no character, the judge finds none in the voice');
  // Without the description in the prompt the persona is still found by name, and speaks with what is left.
  const bare = await say('You are Ann.');
  const voiceOf = (text: string) => /Voice: ([^.]*)\./.exec(text)![1]!.split(' ');
  assert.deepEqual([...new Set(voiceOf(bare).filter((w) => !['certainly', 'happy', 'assist', 'glad', 'helpful', 'assistant', 'absolutely', 'provide', 'information', 'support', 'question', 'great', 'sure', 'understand', 'anything', 'hope', 'helps', 'feel', 'free', 'let'].includes(w)))], ['ann']);
  // The backstory judge compares the story with the Name line it is given; the lines judge finds the line whose claim is denied.
  assert.equal(await judge(backstoryRequest(jc, character, reply)), 'CONTRADICTS: yes');
  assert.equal(await judge(backstoryRequest(jc, 'Name: Bea.', reply)), 'CONTRADICTS: no');
  const second = await say(`You are Ann. ${description}`, [reply]);
  assert.equal(await judge(linesRequest(jc, [reply], second)), 'CONTRADICTED: 1');
  assert.equal(await judge(linesRequest(jc, ['Nothing to see here.'], second)), 'CONTRADICTED: none');
});
