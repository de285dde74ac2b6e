import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getInstrument, scoreAnswers, DOMAINS } from '../src/instruments/index.js';
import { cli, tempDir } from './helpers.js';

const ipip = getInstrument('ipip-neo-120');

test('IPIP-NEO-120 comes from @bigfive-org/questions: 120 items, 4 per facet, both keyings', () => {
  assert.equal(ipip.items.length, 120);
  for (const d of DOMAINS) for (let f = 1; f <= 6; f++) assert.equal(ipip.items.filter((i) => i.domain === d && i.facet === f).length, 4, `${d}${f}`);
  assert.ok(ipip.items.some((i) => i.keyed === 'minus') && ipip.items.some((i) => i.keyed === 'plus'));
  assert.equal(ipip.options.length, 5);
});

test('all 5s and all 1s score exactly, reverse keying included', () => {
  const all = (v: number) => Object.fromEntries(ipip.items.map((i) => [i.id, v]));
  const fives = scoreAnswers(ipip, all(5));
  const ones = scoreAnswers(ipip, all(1));
  for (const d of DOMAINS) {
    const items = ipip.items.filter((i) => i.domain === d);
    const plus = items.filter((i) => i.keyed === 'plus').length;
    // A 5 on a plus item scores 5, on a minus item 1.
    assert.equal(fives.domains[d].score, (plus * 5 + (items.length - plus) * 1) / items.length);
    assert.equal(ones.domains[d].score, (plus * 1 + (items.length - plus) * 5) / items.length);
  }
  assert.equal(fives.missing, 0);
});

test('a hand-computed mixed sheet with reversed items scores exactly', () => {
  // Extraversion items, answered by hand; the expected E score is computed item by item below.
  const e = ipip.items.filter((i) => i.domain === 'E');
  const answers: Record<string, number> = {};
  const byText: Record<string, number> = {
    'Make friends easily': 4, 'Feel comfortable around people': 5, 'Avoid contacts with others': 2, 'Keep others at a distance': 1,
    'Love large parties': 3, 'Talk to a lot of different people at parties': 4, 'Prefer to be alone': 4, 'Avoid crowds': 5,
    'Take charge': 2, 'Try to lead others': 3, 'Take control of things': 4, 'Wait for others to lead the way': 3,
    'Am always busy': 5, 'Am always on the go': 4, 'Do a lot in my spare time': 3, 'Like to take it easy': 2,
    'Love excitement': 1, 'Seek adventure': 2, 'Act wild and crazy': 1, 'Enjoy being reckless': 1,
    'Radiate joy': 5, 'Have a lot of fun': 4, 'Love life': 5, 'Look at the bright side of life': 4,
  };
  for (const item of e) {
    const v = byText[item.text];
    assert.ok(v !== undefined, `no hand answer for "${item.text}"`);
    answers[item.id] = v;
  }
  // Keyed: reversed items (Avoid contacts 2->4, Keep others at a distance 1->5, Prefer to be alone 4->2,
  // Avoid crowds 5->1, Wait for others 3->3, Like to take it easy 2->4).
  // Facets: E1 4+5+4+5=18, E2 3+4+2+1=10, E3 2+3+4+3=12, E4 5+4+3+4=16, E5 1+2+1+1=5, E6 5+4+5+4=18. Total 79.
  const s = scoreAnswers(ipip, answers);
  assert.equal(s.domains.E.score, 79 / 24);
  assert.equal(s.facets.E1!.score, 18 / 4);
  assert.equal(s.facets.E2!.score, 10 / 4);
  assert.equal(s.facets.E5!.score, 5 / 4);
  assert.equal(s.facets.E1!.name, 'Friendliness');
  assert.equal(s.domains.O.score, null);
  assert.equal(s.missing, 96);
});

test('missing items: scores come from answered items, and the sheet says how many were missing', () => {
  const answers: Record<string, number | null> = Object.fromEntries(ipip.items.map((i) => [i.id, i.keyed === 'plus' ? 4 : 2]));
  const dropped = ipip.items.filter((i) => i.domain === 'N').slice(0, 3);
  for (const i of dropped) answers[i.id] = null;
  const s = scoreAnswers(ipip, answers);
  assert.equal(s.missing, 3);
  assert.equal(s.domains.N.missing, 3);
  assert.equal(s.domains.N.answered, 21);
  assert.equal(s.domains.N.score, 4);
  assert.deepEqual(s.missingItemIds.sort(), dropped.map((i) => i.id).sort());
});

test('persona-probe score --json prints domain and facet scores; bad sheets get one-line errors', () => {
  const dir = tempDir();
  const sheet = join(dir, 'answers.json');
  writeFileSync(sheet, JSON.stringify(Object.fromEntries(ipip.items.map((i) => [i.id, 5]))));
  const r = cli(['score', '--instrument', 'ipip-neo-120', '--answers', sheet, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.domains.E.score, scoreAnswers(ipip, Object.fromEntries(ipip.items.map((i) => [i.id, 5]))).domains.E.score);
  assert.equal(Object.keys(out.facets).length, 30);
  writeFileSync(sheet, JSON.stringify({ 'not-an-item': 3 }));
  const bad = cli(['score', '--answers', sheet, '--json']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown item id "not-an-item"/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  const unknown = cli(['score', '--instrument', 'mbti-9000', '--answers', sheet]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown instrument "mbti-9000"/);
});
