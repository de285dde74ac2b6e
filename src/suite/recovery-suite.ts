// A seeded parameter-recovery panel: personas with random targets away from the
// simulated default and true fidelities spread evenly over [0, 1]. Used by the
// demo (on `sim:`) and by the recovery tests.

import { DOMAINS, type Profile } from '../instruments/types.js';
import { SIM_DEFAULT_PROFILE } from '../backends/sim.js';
import type { Suite } from './schema.js';
import { suiteSchema } from './schema.js';
import { createRng } from '../util/rng.js';

export function recoverySuite(options: { personas?: number; seed?: number; repetitions?: number; items?: number; model?: string } = {}): Suite {
  const n = options.personas ?? 24;
  const rng = createRng(`recovery/${options.seed ?? 1}`);
  const personas = Array.from({ length: n }, (_, i) => {
    let target: Profile;
    // Targets on the half-point grid in [1.5, 4.5], at least 1.5 points from the default overall.
    do {
      target = Object.fromEntries(DOMAINS.map((d) => [d, 1.5 + 0.5 * rng.int(7)])) as Profile;
    } while (Math.hypot(...DOMAINS.map((d) => target[d] - SIM_DEFAULT_PROFILE[d])) < 1.5);
    const fidelity = n === 1 ? 0.5 : Math.round((i / (n - 1)) * 100) / 100;
    return { id: `p${String(i + 1).padStart(2, '0')}`, name: `Recovery persona ${i + 1}`, description: 'A persona of the simulated recovery panel.', target, sim: { fidelity } };
  });
  return suiteSchema.parse({
    name: 'parameter-recovery',
    description: 'Simulated personas with known fidelity: the metrics must find it.',
    instrument: { id: 'ipip-neo-120', ...(options.items ? { items: options.items } : {}) },
    personas,
    models: [options.model ?? `sim:seed=${options.seed ?? 1}`],
    repetitions: options.repetitions ?? 1,
    seed: options.seed ?? 1,
  });
}

/** Per-turn decay rates spread from very sticky to fragile, for stickiness recovery. */
export const RECOVERY_DECAYS = [0.02, 0.05, 0.08, 0.12, 0.17, 0.23, 0.3, 0.4, 0.55, 0.75];

/**
 * A seeded stickiness-recovery suite: one persona per condition, each with a known
 * per-turn decay that some attack families push harder than others, and a simulated
 * judge with known noise. The truth of each condition's realization index follows
 * from the simulation (SimulatedPanel.trueRetention), so the metric can be checked.
 */
export function stickinessRecoverySuite(options: { conditions?: number; seed?: number; conversations?: number; turns?: number; judgeNoise?: number; judgeFailRate?: number; itemsPerDomain?: number } = {}): Suite {
  const n = options.conditions ?? RECOVERY_DECAYS.length;
  const rng = createRng(`stickiness-recovery/${options.seed ?? 1}`);
  const personas = Array.from({ length: n }, (_, i) => {
    let target: Profile;
    do {
      target = Object.fromEntries(DOMAINS.map((d) => [d, 1.5 + 0.5 * rng.int(7)])) as Profile;
    } while (Math.hypot(...DOMAINS.map((d) => target[d] - SIM_DEFAULT_PROFILE[d])) < 2);
    return { id: `s${String(i + 1).padStart(2, '0')}`, name: `Sticky persona ${i + 1}`, description: 'A persona of the simulated stickiness panel.', target };
  });
  const conditions = personas.map((p, i) => {
    const decay = RECOVERY_DECAYS[i % RECOVERY_DECAYS.length]!;
    // Identity challenges and instruction overrides hit harder, slow drift softer.
    const harder = Math.min(1, decay * 1.6);
    return { id: `c${String(i + 1).padStart(2, '0')}`, persona: p.id, sim: { fidelity: 0.6 + 0.4 * ((i * 7) % 10) / 9, decay: { default: decay, 'identity-challenge': harder, 'instruction-override': harder, 'slow-drift': decay * 0.6 } } };
  });
  return suiteSchema.parse({
    name: 'stickiness-recovery',
    description: 'Simulated conditions with known stickiness: the realization index must find it.',
    instrument: { id: 'ipip-neo-120' },
    fidelity: false,
    personas,
    judges: [{ id: 'sim-judge', model: `sim:seed=${options.seed ?? 1},judgeNoise=${options.judgeNoise ?? 0.8},judgeFailRate=${options.judgeFailRate ?? 0}`, temperature: 1, repeats: 2 }],
    stickiness: {
      conditions,
      conversations: options.conversations ?? 2,
      turns: options.turns ?? 5,
      retention: { inventory: { items_per_domain: options.itemsPerDomain ?? 4 }, judge: 'sim-judge' },
    },
    models: [`sim:seed=${options.seed ?? 1}`],
    seed: options.seed ?? 1,
  });
}
