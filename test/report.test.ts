import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliAsync, tempDir } from './helpers.js';

test('demo offline: says so in one line within seconds, runs on sim:, labels every output as a simulation, prints recovery', async () => {
  const out = tempDir();
  const started = Date.now();
  const r = await cliAsync(['demo', '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  // The verdict leads the console summary and the report: 6 personas x 2 methods from fidelity, the stickiness conditions among them.
  assert.match(r.stdout, /^Verdict \(adopted: /m);
  const verdicts = r.stdout.split('\n').filter((l) => /^ {2}[a-z-]+ · .* · [a-z-]+.*: (adopted|not adopted|adoption undecided|undecided)/.test(l));
  assert.equal(verdicts.length, 12, verdicts.join('\n'));
  assert.match(readFileSync(/report: (\S+report\.html)/.exec(r.stdout)![1]!, 'utf8'), /<section class="verdict"><h3>Verdict<\/h3>/);
  const offline = r.stderr.split('\n').filter((l) => /no network/.test(l));
  if (offline.length) {
    // No network here: the fallback must be quick and labelled.
    assert.equal(offline.length, 1);
    assert.ok(Date.now() - started < 60_000);
    assert.match(r.stdout, /^SIMULATION:/m);
    assert.match(r.stdout, /Parameter recovery on sim:.* 24 personas/);
    const mae = Number(/default pull vs 1 - fidelity: MAE ([0-9.]+)/.exec(r.stdout)![1]);
    assert.ok(mae < 0.1, `recovery MAE ${mae}`);
    const html = readFileSync(/report: (\S+report\.html)/.exec(r.stdout)![1]!, 'utf8');
    assert.match(html, /<strong>SIMULATION\.<\/strong>/);
    assert.match(html, /<svg/);
    const csv = readFileSync(/(\S+fidelity\.csv)/.exec(r.stdout)![1]!, 'utf8');
    assert.match(csv.split('\n')[1]!, /,true,sim:/);
  } else {
    // With a network the demo ran the real SmolLM2 model: nothing may be labelled a simulation.
    assert.doesNotMatch(r.stdout, /^SIMULATION:/m);
    assert.match(r.stdout, /llamacpp:hf:/);
  }
});

test('report re-renders a stored run without any model, identically, and model text is escaped', async () => {
  const out = tempDir();
  const suite = join(tempDir(), 'suite.yaml');
  writeFileSync(suite, `name: "<script>window.pwned=1</script> suite"
instrument: { id: ipip-neo-120, items: 10 }
personas:
  - { id: p1, name: "Eve <img src=x onerror=alert(1)>", target: { O: 4, C: 4, E: 2, A: 3, N: 2 } }
  - { id: p2, name: Bo, target: { O: 2, C: 2, E: 4, A: 2, N: 4 } }
  - { id: p3, name: Cy, target: { O: 3, C: 5, E: 1, A: 5, N: 1 } }
models: ["sim:"]
`);
  const first = await cliAsync(['run', suite, '--out', out, '--quiet']);
  assert.equal(first.code, 0, first.stderr);
  const runId = /run ([0-9a-f]{12})/.exec(first.stdout)![1]!;
  const reportDir = join(out, 'reports', runId);
  const json1 = readFileSync(join(reportDir, 'results.json'), 'utf8');
  const html1 = readFileSync(join(reportDir, 'report.html'), 'utf8');
  assert.ok(!html1.includes('<script>'));
  assert.ok(html1.includes('&lt;script&gt;window.pwned=1&lt;/script&gt;'));

  // Re-render into a fresh folder, with every backend made unusable: only the store is read.
  const again = join(tempDir(), 'again');
  const r = cli(['report', runId.slice(0, 6), '--out', out, '--to', again], { env: { OPENAI_API_KEY: '', PATH: '' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(again, 'results.json'), 'utf8'), json1);
  assert.equal(readFileSync(join(again, 'fidelity.csv'), 'utf8'), readFileSync(join(reportDir, 'fidelity.csv'), 'utf8'));
  const missing = cli(['report', 'ffffffffffff', '--out', out]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no run "ffffffffffff"/);
});
