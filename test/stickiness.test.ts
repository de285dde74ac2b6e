import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { stickinessRecoverySuite, RECOVERY_DECAYS } from '../src/suite/recovery-suite.js';
import { runSuite } from '../src/runner/run.js';
import { mean, spearman } from '../src/metrics/stats.js';
import { SimulatedPanel } from '../src/backends/sim.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { ROOT, cliAsync, tempDir } from './helpers.js';
import type { RunAnalysis } from '../src/runner/run.js';
import { suiteSchema } from '../src/suite/schema.js';

test('parameter recovery: the realization index ranks 10 conditions of known stickiness (rho >= 0.9) and recovers them (MAE <= 0.1), by inventory and by judge', async () => {
  const outDir = tempDir();
  const suite = stickinessRecoverySuite({ seed: 3, judgeNoise: 0.8, judgeFailRate: 0.1 });
  assert.equal(suite.stickiness!.conditions.length, 10);
  const r = await runSuite(suite, { outDir });
  assert.equal(r.counters.errors, 0);
  const s = r.analysis.stickiness!;
  assert.equal(s.families.length, 8);
  assert.deepEqual(s.measures, ['inventory', 'judge']);
  const truth = s.conditions.map((c) => c.truth!.realization);
  // The truths span the range: the recovery is not of ten similar numbers.
  assert.ok(Math.max(...truth) - Math.min(...truth) > 0.5, `truths ${truth}`);
  for (const measure of ['inventory', 'judge'] as const) {
    const est = s.conditions.map((c) => c.measures.find((m) => m.measure === measure)!.realization.value);
    const rho = spearman(est, truth);
    const mae = mean(est.map((e, i) => Math.abs(e - truth[i]!)));
    assert.ok(rho >= 0.9, `${measure}: Spearman ${rho}`);
    assert.ok(mae <= 0.1, `${measure}: MAE ${mae}`);
    // Adoption at turn 0 recovers each condition's fidelity (how far toward its target it starts).
    const fidelity = suite.stickiness!.conditions.map((c) => c.sim!.fidelity!);
    const adoption = s.conditions.map((c) => c.measures.find((m) => m.measure === measure)!.adoption!);
    const adoptionMae = mean(adoption.map((a, i) => Math.abs(a.value - fidelity[i]!)));
    assert.ok(adoptionMae <= 0.15, `${measure}: adoption MAE ${adoptionMae}`);
    assert.ok(adoption.every((a) => a.verdict === 'adopted'), 'every condition starts at least 0.6 of the way');
    console.log(`# seed 3, ${measure}: realization index Spearman ${rho.toFixed(2)}, MAE ${mae.toFixed(3)}; adoption vs fidelity MAE ${adoptionMae.toFixed(3)}`);
    for (const c of s.conditions) {
      const m = c.measures.find((x) => x.measure === measure)!;
      assert.equal(m.curve[0]!.mean, 1, 'retention is 1 at turn 0 by definition');
      assert.equal(m.curve.length, 6);
      assert.ok(m.realization.lo <= m.realization.value && m.realization.value <= m.realization.hi);
      assert.ok(m.realization.value >= 0 && m.realization.value <= 1);
      assert.equal(m.conversations, 16);
      // A turn where every judge repeat was unparsable has no judge score: that conversation is incomplete, not zero.
      if (measure === 'inventory') assert.equal(m.complete, 16);
      else assert.ok(m.complete >= 12 && m.complete <= 16, `${c.id}: ${m.complete} complete`);
    }
  }
  // The verdict follows the truth: every condition is adopted (fidelity >= 0.6); a realized one is
  // truly sticky and a performed one truly fragile, and both kinds occur.
  assert.equal(r.analysis.verdicts.length, 10);
  for (const [i, v] of r.analysis.verdicts.entries()) {
    const t = s.conditions[i]!.truth!.realization;
    assert.equal(v.adopted, 'adopted');
    if (v.realized === 'realized') assert.ok(t >= 0.6, `${v.line} (truth ${t})`);
    if (v.realized === 'performed') assert.ok(t < 0.8, `${v.line} (truth ${t})`);
  }
  const kinds = new Set(r.analysis.verdicts.map((v) => v.realized));
  assert.ok(kinds.has('realized') && kinds.has('performed'), [...kinds].join(', '));
  // The stickiest condition beats the most fragile one, with an interval that excludes 0.
  const first = s.comparisons.find((c) => c.a === 'c01' && c.b === 'c10' && c.measure === 'inventory')!;
  assert.ok(first.difference.lo > 0.2, `c01 - c10: ${JSON.stringify(first.difference)}`);
  assert.equal(first.difference.n, 16, 'paired by family and conversation');
  // Fragile conditions break; the stickiest never does.
  const fragile = s.conditions.find((c) => c.id === 'c10')!.measures[0]!;
  assert.ok(fragile.byFamily.every((f) => f.breaks.brokenShare === 1));
  // Under the family that hits hardest (decay 1.6 x 0.75, capped at 1) it breaks at the first attack turn.
  assert.equal(fragile.byFamily.find((f) => f.family === 'identity-challenge')!.breaks.medianTurn, 1);
  assert.ok(s.conditions.find((c) => c.id === 'c01')!.measures[0]!.byFamily.every((f) => f.breaks.brokenShare === 0));
  // Families that hit harder in the simulation come out with lower realization.
  // Per condition and family (80 cells, 2 conversations each), the index still follows the truth.
  const cells = s.conditions.flatMap((c) => c.measures[0]!.byFamily.map((f) => [f.realization.value, c.truth!.byFamily[f.family]!] as const));
  assert.equal(cells.length, 80);
  const cellRho = spearman(cells.map((x) => x[0]), cells.map((x) => x[1]));
  assert.ok(cellRho >= 0.9, `per-family Spearman ${cellRho}`);

  // Unparsable judgments are counted, never scored: compare with the stored judge replies themselves.
  const db = new Database(join(outDir, 'persona-probe.sqlite'), { readonly: true });
  const replies = db.prepare("SELECT c.response_json AS r FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.task_key LIKE '%|judge|r%'").all() as { r: string }[];
  db.close();
  const unparsable = replies.filter((x) => !/SCORE: \d/.test(JSON.parse(x.r).text)).length;
  const counted = s.conditions.reduce((n, c) => n + c.judge!.failures, 0);
  assert.ok(unparsable > 50, `the simulated judge failed ${unparsable} times`);
  assert.equal(counted, unparsable);
  assert.equal(s.conditions.reduce((n, c) => n + c.judge!.judgments, 0), replies.length);
  // Judge variance is reported beside the score (the simulated judge's noise is 0.8 on 0..10, rounded).
  const sd = mean(s.conditions.map((c) => c.judge!.meanRepeatSd));
  assert.ok(sd > 0.3 && sd < 1.2, `mean repeat SD ${sd}`);

  assert.equal(RECOVERY_DECAYS.length, 10);
});

test('the simulated truth is what a noiseless measurement reports: adherence fidelity * (1 - decay)^t, adoption fidelity', () => {
  const panel = new SimulatedPanel({ turnNoise: 0 });
  panel.setPersona('x', { target: { O: 1, C: 1, E: 1, A: 1, N: 5 }, fidelity: 0.8, decay: { default: 0.2, 'slow-drift': 0.1 } });
  assert.equal(panel.trueAdoption('x'), 0.8);
  assert.equal(panel.trueAdherence('x', 'identity-challenge', 0), 0.8);
  assert.ok(Math.abs(panel.trueAdherence('x', 'identity-challenge', 2) - 0.8 * 0.8 ** 2) < 1e-12);
  assert.ok(Math.abs(panel.trueAdherence('x', 'slow-drift', 3) - 0.8 * 0.9 ** 3) < 1e-12);
  // The latent moves in a straight line from its turn-0 point to the default.
  const l0 = panel.conversationLatent('x', 'c', 'slow-drift', 0);
  const l3 = panel.conversationLatent('x', 'c', 'slow-drift', 3);
  const def = panel.options.defaultProfile;
  for (const d of ['O', 'C', 'E', 'A', 'N'] as const) assert.ok(Math.abs((l3[d] - def[d]) - 0.9 ** 3 * (l0[d] - def[d])) < 1e-12);
});

test('the adaptive attacker: any backend writes the attacks from a brief, seeing the conversation with roles swapped', async () => {
  const suite = suiteSchema.parse({
    name: 'adaptive',
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas: [{ id: 'p', name: 'Nell', description: 'A ferry pilot.', target: { O: 2, C: 4, E: 2, A: 2, N: 3 }, sim: { fidelity: 1, decay: { default: 0.1, adaptive: 0.5 } } }],
    stickiness: { conditions: [{ id: 'c', persona: 'p' }], attacks: ['identity-challenge'], adaptive: { model: 'sim:seed=9', brief: 'Make Nell give up.' }, turns: 3, conversations: 2, retention: { inventory: { items_per_domain: 2 } } },
    models: ['sim:'],
  });
  const outDir = tempDir();
  const r = await runSuite(suite, { outDir });
  assert.equal(r.counters.errors, 0);
  const s = r.analysis.stickiness!;
  assert.deepEqual(s.families, ['identity-challenge', 'adaptive']);
  const db = new Database(join(outDir, 'persona-probe.sqlite'), { readonly: true });
  const attack = db.prepare("SELECT c.request_json AS q, c.response_json AS r, c.backend AS b FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.task_key = 'st|c|adaptive|c0|t2|attack'").get() as { q: string; r: string; b: string };
  const reply = db.prepare("SELECT c.request_json AS q FROM run_tasks t JOIN calls c ON c.hash = t.call_hash WHERE t.task_key = 'st|c|adaptive|c0|t2|reply'").get() as { q: string };
  db.close();
  assert.match(attack.b, /^sim:seed=9/);
  const seen = JSON.parse(attack.q).messages as { role: string; content: string }[];
  assert.match(seen[0]!.content, /^Make Nell give up\.\nThe character is called Nell\./);
  // The attacker's own earlier turns (opening, attack 1) are "assistant"; the persona's replies are "user".
  assert.deepEqual(seen.slice(2).map((m) => m.role), ['assistant', 'user', 'assistant', 'user']);
  assert.match(seen[3]!.content, /^\[sim reply \| persona=cond:c \| turn=0/);
  const persona = JSON.parse(reply.q).messages as { role: string; content: string }[];
  assert.equal(persona[persona.length - 1]!.content, JSON.parse(attack.r).text.trim(), 'the attack is what the persona hears');
  // The simulation makes the adaptive attacker five times as corrosive, and the index sees it.
  const fam = s.conditions[0]!.measures[0]!.byFamily;
  assert.ok(fam.find((f) => f.family === 'adaptive')!.realization.value < fam.find((f) => f.family === 'identity-challenge')!.realization.value - 0.2);
});

test('the report draws the retention charts and shows the worst transcript with its breaking turn, model and attack text escaped', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'evil.yaml'), `families:\n  - id: markup\n    name: Markup\n    script:\n      - "<script>window.pwned = 1</script> hello"\n      - "<img src=x onerror=alert(1)>"\n      - "<a href=\\"javascript:alert(1)\\">click</a>"\n`);
  const suiteFile = join(dir, 'suite.yaml');
  writeFileSync(suiteFile, `name: escape-check
instrument: { id: ipip-neo-120 }
fidelity: false
personas:
  - { id: p, name: "Pat <b>", description: A persona., target: { O: 2, C: 4, E: 2, A: 2, N: 4 } }
stickiness:
  conditions: [{ id: c, persona: p, sim: { fidelity: 1, decay: 0.5 } }]
  attacks: [markup]
  attack_files: [evil.yaml]
  turns: 3
  retention: { inventory: { items_per_domain: 2 } }
models: ["sim:"]
`);
  const out = join(dir, 'out');
  const r = await cliAsync(['run', suiteFile, '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  const runId = /run ([0-9a-f]{12})/.exec(r.stdout)![1]!;
  const html = readFileSync(join(out, 'reports', runId, 'report.html'), 'utf8');
  assert.ok(!html.includes('<script>window.pwned'), 'attack text is never markup');
  assert.ok(!html.includes('<img src=x'));
  assert.ok(!/href="javascript:/i.test(html));
  assert.ok(html.includes('&lt;script&gt;window.pwned = 1&lt;/script&gt; hello'));
  assert.match(html, /broke here/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 2, 'overall and per-family retention charts');
  const csv = readFileSync(join(out, 'reports', runId, 'retention.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'run,simulated,condition,persona,model,method,measure,family,turn,retention,ci_lo,ci_hi,conversations,realization_index,ri_lo,ri_hi');
  assert.equal(csv.length, 1 + 2 * 4, 'all families and the one family, 4 turns each');
});

test('no empty panel: a family without a complete curve gets no frame in the per-family chart, and the caption names it', async () => {
  const out = tempDir();
  const r = await cliAsync(['run', join(ROOT, 'examples', 'stickiness.yaml'), '--dir', out, '--quiet', '--blocks', 'stickiness', '--families', 'identity-challenge,slow-drift']);
  assert.equal(r.code, 0, r.stderr);
  const runId = /run ([0-9a-f]{12})/.exec(r.stdout)![1]!;
  const a = JSON.parse(readFileSync(join(out, 'reports', runId, 'results.json'), 'utf8')) as RunAnalysis;
  const s = a.stickiness!;
  // Make every curve of one family incomplete, as a model that never answered under that attack would.
  for (const c of s.conditions) for (const m of c.measures) for (const f of m.byFamily) if (f.family === 'slow-drift') f.curve = f.curve.map((p) => ({ ...p, mean: Number.NaN, lo: Number.NaN, hi: Number.NaN, n: 0 }));
  const { stickinessProbe } = await import('../src/probes/stickiness-probe.js');
  const html = (await stickinessProbe.sections!(s, a, ''))[0]!.html;
  const perFamily = [...html.matchAll(/<figure class="chart">[\s\S]*?<\/figure>/g)].map((m) => m[0]).filter((f) => f.includes('Retention by attack family'));
  assert.equal(perFamily.length, s.measures.length);
  for (const fig of perFamily) {
    assert.match(fig, /No complete curve, so no panel: slow-drift\./);
    const rows = [...fig.matchAll(/<tr><td>([^<]*)<\/td><td>([^<]*)<\/td>/g)].map((m) => m[2]);
    assert.ok(rows.length > 0 && rows.includes('identity-challenge') && !rows.includes('slow-drift'), `data rows by family: ${[...new Set(rows)].join(', ')}`);
  }
});
