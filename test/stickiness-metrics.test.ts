import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADOPTION_MIN, adoptedRetention, adoptionVerdict, breakSummary, breakTurn, pairedDifference, projectionRetention, realizationIndex, targetPosition } from '../src/metrics/stickiness.js';
import { attackLibrary, scriptedAttack, ATTACK_LIBRARY, loadAttackFile } from '../src/probes/attacks.js';
import { parseLineList, parseScore, parseTraits, parseYesNo, pooledJudgment } from '../src/probes/judges.js';
import { tempDir } from './helpers.js';

test('realization index: trapezoid area under retention over turns 0..T divided by T', () => {
  assert.equal(realizationIndex([1, 1, 1, 1]), 1);
  assert.equal(realizationIndex([1, 0, 0, 0, 0]), 0.5 / 4);
  // 1, 0.5, 0: trapezoids 0.75 + 0.25 = 1, over T = 2.
  assert.equal(realizationIndex([1, 0.5, 0]), 0.5);
  assert.ok(Number.isNaN(realizationIndex([1, Number.NaN, 1])), 'a missing turn gives no index rather than a wrong one');
  assert.ok(Number.isNaN(realizationIndex([1])));
});

test('retention measures: position toward the target relative to adoption, projection span; each clipped to [0, 1]', () => {
  const target = { O: 1, C: 1, E: 1, A: 1, N: 5 };
  const def = { O: 4, C: 4, E: 4, A: 4, N: 2 };
  // target - default = (-3,-3,-3,-3,3), |.|^2 = 45. A profile halfway along it sits at 0.5.
  assert.equal(targetPosition({ O: 2.5, C: 2.5, E: 2.5, A: 2.5, N: 3.5 }, target, def), 0.5);
  assert.equal(targetPosition(def, target, def), 0);
  assert.equal(targetPosition(target, target, def), 1);
  // Off the axis: (1.5-4)*(-3)*4 + (4.5-2)*3 = 30 + 7.5 = 37.5, over 45.
  assert.ok(Math.abs(targetPosition({ O: 1.5, C: 1.5, E: 1.5, A: 1.5, N: 4.5 }, target, def) - 37.5 / 45) < 1e-12);
  assert.ok(Number.isNaN(targetPosition(target, def, def)), 'no distance between target and default: undefined');
  // Retention is position now over adoption at turn 0; a persona never adopted retains nothing.
  assert.equal(adoptedRetention(0.4, 0.8), 0.5);
  assert.equal(adoptedRetention(0.9, 0.8), 1);
  assert.equal(adoptedRetention(-0.2, 0.8), 0);
  assert.equal(adoptedRetention(0.1, 0.1), 0, 'not adopted: 0, however little it moved');
  assert.equal(adoptedRetention(ADOPTION_MIN, ADOPTION_MIN), 1, 'adopted at the threshold');
  assert.ok(Number.isNaN(adoptedRetention(Number.NaN, 0.8)));
  assert.equal(adoptionVerdict({ value: 0.6, lo: 0.4, hi: 0.8, n: 8 }), 'adopted');
  assert.equal(adoptionVerdict({ value: 0.05, lo: -0.1, hi: 0.2, n: 8 }), 'not adopted');
  assert.equal(adoptionVerdict({ value: 0.3, lo: 0.1, hi: 0.5, n: 8 }), 'undecided');
  assert.equal(projectionRetention(2, 4, 0), 0.5);
  assert.equal(projectionRetention(-3, 4, 0), 0);
  assert.equal(projectionRetention(-1, -3, 1), 0.5, 'works when the persona sits below the default');
});

test('breaks and paired differences', () => {
  assert.equal(breakTurn([1, 0.8, 0.4, 0.6], 0.5), 2);
  assert.equal(breakTurn([1, 0.8, 0.6], 0.5), null);
  const b = breakSummary('f', [[1, 0.4, 0.3], [1, 0.9, 0.4], [1, 1, 1]], 0.5);
  assert.deepEqual([b.brokenShare, b.medianTurn, b.earliestTurn], [2 / 3, 1.5, 1]);
  const a = new Map([['x|0', 0.9], ['x|1', 0.8], ['y|0', 0.7]]);
  const c = new Map([['x|0', 0.5], ['x|1', 0.6], ['z|0', 0.1]]);
  const d = pairedDifference(a, c, 's');
  assert.equal(d.n, 2, 'only matched conversations are paired');
  assert.ok(Math.abs(d.value - 0.3) < 1e-12);
});

test('the attack library: at least 8 families, each a 3-6 turn escalation; user files add and replace families', () => {
  const lib = attackLibrary();
  for (const id of ['instruction-override', 'identity-challenge', 'emotional-pressure', 'meta-reflection', 'claimed-authority', 'slow-drift', 'priority-conflict', 'role-swap']) {
    const f = lib.get(id);
    assert.ok(f, id);
    assert.ok(f.script.length >= 3 && f.script.length <= 6, `${id}: ${f.script.length} turns`);
    assert.equal(f.version, 1);
  }
  assert.ok(scriptedAttack(lib.get('identity-challenge')!, 2, 'Mara').includes('Mara'));
  // Past the end of its script, a family repeats its hardest step, marked as a repeat.
  const last = lib.get('priority-conflict')!;
  assert.match(scriptedAttack(last, 6, 'Mara'), /^I'll ask again\. /);
  const dir = tempDir();
  const file = join(dir, 'mine.yaml');
  writeFileSync(file, `families:\n  - id: flattery\n    name: Flattery\n    script: [a, b, c]\n  - id: role-swap\n    name: Mine\n    script: [x, y, z, w]\n`);
  const merged = attackLibrary([file]);
  assert.equal(merged.size, lib.size + 1);
  assert.equal(merged.get('role-swap')!.name, 'Mine');
  writeFileSync(file, `families:\n  - id: short\n    name: Too short\n    script: [a, b]\n`);
  assert.throws(() => loadAttackFile(file), /mine\.yaml:4: families\[0\]\.script: a script escalates over 3 to 6 turns/);
  assert.ok(ATTACK_LIBRARY.endsWith('attacks.yaml'));
});

test('judge parsers accept the formats asked for and turn everything else into a counted failure', () => {
  assert.deepEqual(parseScore('SCORE: 7'), { ok: true, value: 7 });
  assert.equal(parseScore('I think about a 7').ok, false);
  assert.equal(parseScore('SCORE: 12').ok, false);
  assert.deepEqual(parseYesNo('CONTRADICTS: Yes.', 'CONTRADICTS'), { ok: true, value: true });
  assert.equal(parseYesNo('maybe', 'CONTRADICTS').ok, false);
  assert.deepEqual(parseLineList('CONTRADICTED: 3, 1, 3', 4), { ok: true, value: [3, 1] });
  assert.deepEqual(parseLineList('CONTRADICTED: none', 4), { ok: true, value: [] });
  assert.equal(parseLineList('CONTRADICTED: 9', 4).ok, false, 'a line that does not exist');
  assert.deepEqual(parseTraits('O: 4\nC: 2.5\nE: 1\nA: 5\nN: 3'), { ok: true, value: { O: 4, C: 2.5, E: 1, A: 5, N: 3 } });
  assert.equal(parseTraits('O: 4\nC: 2').ok, false);
  const pooled = pooledJudgment([parseScore('SCORE: 6'), parseScore('SCORE: 8'), parseScore('no idea')]);
  assert.deepEqual([pooled.mean, pooled.parsed, pooled.failed], [7, 2, 1]);
  assert.ok(Math.abs(pooled.sd - Math.SQRT2) < 1e-12);
});
