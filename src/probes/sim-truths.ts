// What a suite declares to a backend that reads it (Backend.readsSuite: only the simulated
// panel has the method): every persona's target and simulated parameters, each stickiness
// condition's, and what each is recognised by in text (its name or role, its facts). The
// truth never rides in a request; a backend without readsSuite learns nothing from here.

import { suiteInstrument } from '../suite/instrument.js';
import { optionValues } from '../instruments/types.js';
import type { Backend, DeclaredPersona, DeclaredSuite, TruthSource } from '../backends/types.js';
import type { PersonaSpec, Suite } from '../suite/schema.js';
import { factText, scaleLevels, targetProfile } from './conditioning.js';
import { simSubjectOf } from './stickiness.js';

function truthOf(persona: PersonaSpec, override?: { fidelity?: number; decay?: number | Record<string, number> }): DeclaredPersona['truth'] {
  const s = persona.sim;
  const fidelity = override?.fidelity ?? s?.fidelity;
  return {
    target: targetProfile(persona),
    ...(persona.scales ? { scales: scaleLevels(persona) } : {}),
    ...(fidelity !== undefined ? { fidelity } : {}),
    decay: override?.decay ?? s?.decay,
    behavior: s?.behavior,
    contradictions: s?.contradictions,
    commitmentFlip: s?.commitment_flip,
  };
}

/** The suite's personas (and stickiness conditions, as subjects of their persona) and items. */
export function declaredSuite(suite: Suite): DeclaredSuite {
  return {
    items: suiteInstrument(suite).items,
    options: suite.instrument.options ?? suiteInstrument(suite).options,
    values: optionValues(suiteInstrument(suite)),
    personas: [
      ...suite.personas.map((p) => ({ id: p.id, truth: truthOf(p), identity: { names: [p.name, ...(p.role ? [p.role] : [])], facts: p.facts.map(factText), description: p.description } })),
      ...(suite.stickiness?.conditions ?? []).map((c) => ({ id: simSubjectOf(c.id), truth: truthOf(suite.personas.find((p) => p.id === c.persona)!, c.sim), identity: { of: c.persona } })),
    ],
  };
}

/** Hand the suite's declaration to a backend that reads it (the simulated panel); any other ignores it. */
export function declareSuite(backend: Backend | TruthSource, suite: Suite): void {
  backend.readsSuite?.(declaredSuite(suite));
}
