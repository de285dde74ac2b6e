import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BIN, ROOT, cliAsync, storedCallCount, tempDir } from './helpers.js';

// Three prompt variants (option-probability repetitions would be one request asked once).
const SUITE = `name: resume-check
instrument:
  id: ipip-neo-120
  variants:
    - { id: plain }
    - { id: honest, preamble: Answer honestly. }
    - { id: short, postamble: Give the number only. }
personas:
  - { id: a, name: Ann, description: One, target: { O: 4, C: 2, E: 4.5, A: 2, N: 4 }, sim: { fidelity: 0.8 } }
  - { id: b, name: Bob, description: Two, target: { O: 2, C: 4.5, E: 1.5, A: 3, N: 2 }, sim: { fidelity: 0.4 } }
  - { id: c, name: Cy, description: Three, target: { O: 3, C: 3, E: 3, A: 1.5, N: 4.5 } }
models: ["sim:latencyMs=1"]
run: { concurrency: 4 }
`;

const callCount = storedCallCount;

/** Start `run` in a child process and SIGKILL it once `calls` calls are stored; returns its output folder. */
async function killedRun(suiteFile: string, calls: number): Promise<string> {
  const killed = tempDir();
  const child = spawn(process.execPath, [BIN, 'run', suiteFile, '--out', killed, '--quiet'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on('exit', (_c, s) => r(s)));
  const deadline = Date.now() + 60_000;
  while (callCount(killed) < calls && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  return killed;
}

/**
 * A run's results.json without what differs between two runs by design: counters (cache
 * hits) and the start time. The measurements, and the cost in calls and tokens, remain.
 */
function measuredResults(dir: string, runId: string) {
  const r = JSON.parse(readFileSync(join(dir, 'reports', runId, 'results.json'), 'utf8'));
  delete r.counters;
  delete r.overview.createdAt;
  return r;
}

test('a run killed with SIGKILL mid-way resumes to exactly the results and call count of an uninterrupted run', async () => {
  const suiteFile = join(tempDir(), 'suite.yaml');
  writeFileSync(suiteFile, SUITE);
  const whole = tempDir();
  const full = await cliAsync(['run', suiteFile, '--out', whole, '--quiet']);
  assert.equal(full.code, 0, full.stderr);
  const total = callCount(whole);
  assert.equal(total, 4 * 3 * 120, '3 personas and the default, 3 variants, 120 items');

  const killed = await killedRun(suiteFile, total / 4);
  const partial = callCount(killed);
  assert.ok(partial > 0 && partial < total, `killed after ${partial} of ${total} calls`);

  const resumed = await cliAsync(['run', suiteFile, '--out', killed, '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /\(resumed\)/);
  const calledNow = Number(/calls this time (\d+)/.exec(resumed.stdout)![1]);
  assert.ok(calledNow <= total - partial, `resumed run made ${calledNow} calls; ${partial} were already stored`);
  assert.equal(callCount(killed), total, 'no call lost, none duplicated');

  const runId = /run ([0-9a-f]{12})/.exec(full.stdout)![1]!;
  assert.deepEqual(measuredResults(killed, runId), measuredResults(whole, runId));
});

const STICKY_SUITE = `name: resume-stickiness
instrument: { id: ipip-neo-120 }
fidelity: false
personas:
  - { id: a, name: Ann, description: One, target: { O: 4, C: 2, E: 4.5, A: 2, N: 4 } }
judges:
  - { id: j, model: "sim:judgeNoise=1", repeats: 2 }
stickiness:
  conditions:
    - { id: fragile, persona: a, sim: { decay: 0.3 } }
    - { id: sturdy, persona: a, sim: { decay: 0.05 } }
  turns: 4
  conversations: 2
  retention: { inventory: { items_per_domain: 2 }, judge: j }
models: ["sim:latencyMs=1"]
run: { concurrency: 4 }
`;

function replyTurns(dir: string): Map<string, number> {
  const db = new Database(join(dir, 'persona-probe.sqlite'), { readonly: true });
  try {
    const keys = (db.prepare("SELECT task_key AS k FROM run_tasks WHERE task_key LIKE 'st|%|reply'").all() as { k: string }[]).map((r) => r.k);
    const last = new Map<string, number>();
    for (const k of keys) {
      if (k.startsWith('st|default|')) continue; // the default reference is the opening only
      const m = /^(st\|.*\|c\d+)\|t(\d+)\|reply$/.exec(k)!;
      last.set(m[1]!, Math.max(last.get(m[1]!) ?? -1, Number(m[2])));
    }
    return last;
  } finally {
    db.close();
  }
}

test('a stickiness run killed mid-conversation continues each conversation from its last stored turn, to identical results', async () => {
  const suiteFile = join(tempDir(), 'suite.yaml');
  writeFileSync(suiteFile, STICKY_SUITE);
  const whole = tempDir();
  const full = await cliAsync(['run', suiteFile, '--out', whole, '--quiet']);
  assert.equal(full.code, 0, full.stderr);
  const total = callCount(whole);

  const killed = await killedRun(suiteFile, total * 0.4);
  const partial = callCount(killed);
  assert.ok(partial > 0 && partial < total, `killed after ${partial} of ${total} calls`);
  const midway = [...replyTurns(killed)].filter(([, t]) => t >= 1 && t < 4);
  assert.ok(midway.length > 0, 'some conversations were cut between their first and last attack turn');

  const resumed = await cliAsync(['run', suiteFile, '--out', killed, '--quiet']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const calledNow = Number(/calls this time (\d+)/.exec(resumed.stdout)![1]);
  assert.ok(calledNow <= total - partial, `resumed run made ${calledNow} calls; ${partial} were already stored`);
  assert.equal(callCount(killed), total, 'no call lost, none duplicated');
  for (const [conv, t] of replyTurns(killed)) assert.equal(t, 4, `${conv} finished`);

  const runId = /run ([0-9a-f]{12})/.exec(full.stdout)![1]!;
  const a = measuredResults(whole, runId);
  assert.ok(a.stickiness.conditions.length === 2);
  assert.deepEqual(measuredResults(killed, runId), a);
});

test('examples/stickiness.yaml as shipped (leakRate set) killed with SIGKILL at three points resumes to results identical to an uninterrupted run', async () => {
  const suiteFile = join(ROOT, 'examples', 'stickiness.yaml');
  const whole = tempDir();
  const full = await cliAsync(['run', suiteFile, '--out', whole, '--quiet']);
  assert.equal(full.code, 0, full.stderr);
  const total = callCount(whole);
  const runId = /run ([0-9a-f]{12})/.exec(full.stdout)![1]!;
  const expected = measuredResults(whole, runId);
  assert.ok(expected.consistency?.tenancy, 'the example runs the tenancy check, where the leak lives');
  // The verdict leads the console summary and the report: one line per condition's persona, model and method.
  assert.match(full.stdout, /^Verdict \(adopted: moved from the default toward the target; realized: kept under pressure; rules in the README\):\n(  lighthouse-keeper|  stand-up-comic)/m);
  assert.equal(expected.verdicts.length, 3);
  assert.ok(expected.verdicts.every((v: { line: string }) => full.stdout.includes(v.line)));
  const html = readFileSync(join(whole, 'reports', runId, 'report.html'), 'utf8');
  assert.match(html, /<section class="verdict"><h3>Verdict<\/h3>/);
  // Exact kill points (fault injection): early, mid-stickiness, and inside the strictly
  // sequential tenancy check at the end, where the instance's last tenant matters.
  for (const at of [Math.round(total * 0.15), Math.round(total * 0.5), total - 5]) {
    const killed = tempDir();
    const child = await cliAsync(['run', suiteFile, '--out', killed, '--quiet'], { env: { PERSONA_PROBE_KILL_AFTER_CALLS: String(at) } });
    assert.equal(child.code, null, 'killed by SIGKILL');
    const partial = callCount(killed);
    assert.equal(partial, at);
    assert.ok(partial > 0 && partial < total, `killed after ${partial} of ${total} calls`);
    const resumed = await cliAsync(['run', suiteFile, '--out', killed, '--quiet']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(callCount(killed), total, `killed at ${partial}: no call lost, none duplicated`);
    assert.deepEqual(measuredResults(killed, runId), expected, `killed at ${partial} of ${total} calls`);
  }
});
