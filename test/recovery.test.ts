import { test } from 'node:test';
import assert from 'node:assert/strict';
import { recoverySuite } from '../src/suite/recovery-suite.js';
import { runSuite } from '../src/runner/run.js';
import { tempDir } from './helpers.js';

test('parameter recovery on the simulated panel: default pull recovers 1 - fidelity (MAE < 0.1), rank correlation rises with fidelity', async (t) => {
  const suite = recoverySuite({ personas: 24, seed: 11 });
  const fidelities = suite.personas.map((p) => p.sim!.fidelity!);
  assert.equal(Math.min(...fidelities), 0);
  assert.equal(Math.max(...fidelities), 1);
  const result = await runSuite(suite, { outDir: tempDir() });
  const rec = result.analysis.models![0]!.recovery!;
  assert.ok(rec.personas >= 20, `only ${rec.personas} personas had a defined pull`);
  assert.ok(rec.pullMae < 0.1, `pull MAE ${rec.pullMae}`);
  assert.ok(rec.pullRankCorrelation > 0.9, `pull rank correlation ${rec.pullRankCorrelation}`);
  const [low, mid, high] = rec.rankCorrelationByFidelity.map((b) => b.rho);
  t.diagnostic(`seed 11, 24 personas: pull MAE ${rec.pullMae.toFixed(3)}, Spearman ${rec.pullRankCorrelation.toFixed(3)}; rank correlation by fidelity band ${[low, mid, high].map((x) => x!.toFixed(2)).join(' < ')}`);
  assert.ok(low! < mid! && mid! < high!, `rho by band ${low} ${mid} ${high}`);
  assert.ok(high! > 0.85);
});

test('sampled scoring (a panel that answers in text only) recovers the same truth, within a looser tolerance', async () => {
  const base = recoverySuite({ personas: 12, seed: 4, items: 60 });
  const suite = { ...base, instrument: { ...base.instrument, samples: 6 }, models: [{ id: 'sim:seed=4', logprobs: false }] };
  const result = await runSuite(suite, { outDir: tempDir() });
  const m = result.analysis.models![0]!;
  assert.equal(m.optionProbs, false);
  assert.equal(result.counters.total, (12 + 1) * 60 * 6);
  const rec = m.recovery!;
  assert.ok(rec.pullMae < 0.15, `pull MAE ${rec.pullMae}`);
  assert.ok(rec.pullRankCorrelation > 0.85, `pull rank correlation ${rec.pullRankCorrelation}`);
});

test('refusals in sampled answers are recorded as missing, never as scores', async () => {
  const base = recoverySuite({ personas: 3, seed: 5, items: 30 });
  const suite = { ...base, instrument: { ...base.instrument, samples: 2 }, models: [{ id: 'sim:seed=5,refusalRate=0.5', logprobs: false }] };
  const result = await runSuite(suite, { outDir: tempDir() });
  const persona = result.analysis.models![0]!.methods[0]!.personas[0]!;
  // With two samples each refused with p = .5, about a quarter of items have no answer.
  assert.ok(persona.missingAnswers > 0 && persona.missingAnswers < 30, `missing ${persona.missingAnswers}`);
  for (const d of ['O', 'C', 'E', 'A', 'N'] as const) {
    const v = persona.measured[d]!.value;
    assert.ok(v >= 1 && v <= 5, `${d} ${v}`);
  }
});
