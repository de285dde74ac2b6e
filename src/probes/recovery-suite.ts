// A seeded parameter-recovery panel: personas with random targets away from the
// simulated default and true fidelities spread evenly over [0, 1]. Used by the
// demo (on `sim:`) and by the recovery tests.

import { DOMAINS, type Profile } from '../instruments/types.js';
import { SIM_DEFAULT_PROFILE } from '../backends/sim.js';
import type { Suite } from '../suite/schema.js';
import { suiteSchema } from '../suite/schema.js';
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
