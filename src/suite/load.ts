import { readFileSync, statSync } from 'node:fs';
import { suiteInstrument } from './instrument.js';
import { instrumentIds, isYamlInstrumentFile, missingDomains, requireBigFive } from '../instruments/index.js';
import { dirname, resolve } from 'node:path';
import { parseValidatedYaml, YamlError } from '../util/yaml.js';
import { levelToNumber } from './levels.js';
import { suiteSchema, type Suite } from './schema.js';
import { parseModelId } from '../backends/registry.js';
import { modelRefs, resolveModelRef } from './roles.js';
import { ADAPTIVE_FAMILY, attackLibrary } from '../probes/attacks.js';
import { BASELINE_ID } from '../probes/conditioning.js';
import { probeBlockIssue } from '../probes/registry.js';

/** A suite file that failed validation: the message names file, line and field. */
export class SuiteError extends YamlError {}

type ErrorAt = (path: (string | number)[], message: string) => YamlError;

/** The method id of the unconditioned baseline, and the persona id it runs as: no suite entry may take them. */
const RESERVED_METHODS = new Set(['none']);
const RESERVED_PERSONAS = new Set([BASELINE_ID]);

/**
 * Every id namespace the suite defines holds each id once: two entries with one id would
 * share task keys and silently overwrite each other's answers. Ids that name something
 * the harness makes itself (the baseline) are reserved.
 */
function checkUniqueIds(suite: Suite, errorAt: ErrorAt): void {
  // `what` is the entry's field holding the id, or null where the entry is the id itself (named `noun`).
  const unique = (field: string, ids: readonly (string | undefined)[], reserved = new Set<string>(), what: string | null = 'id', noun = what ?? 'entry') => {
    const seen = new Map<string, number>();
    ids.forEach((id, i) => {
      if (id === undefined) return;
      const path: (string | number)[] = [];
      for (const part of field.split('.')) path.push(part === '#' ? i : part);
      if (what !== null) path.push(what);
      if (reserved.has(id)) throw errorAt(path, `"${id}" is reserved (it names what the harness runs itself); choose another ${noun}`);
      const first = seen.get(id);
      if (first !== undefined) throw errorAt(path, `duplicate ${noun} "${id}" (also at ${field.replace('.#', `[${first}]`)})`);
      seen.set(id, i);
    });
  };
  unique('personas.#', suite.personas.map((p) => p.id), RESERVED_PERSONAS);
  unique('methods.#', suite.methods.map((m) => m.id), RESERVED_METHODS);
  unique('instrument.variants.#', (suite.instrument.variants ?? []).map((v) => v.id));
  const models = suite.models.map((m) => (typeof m === 'string' ? { id: m } : m));
  unique('models.#', models.map((m) => (m as { name?: string }).name), new Set(), 'name');
  // Two identical model entries would run as one (their calls share a cache key) while reported as two.
  const seen = new Map<string, number>();
  suite.models.forEach((m, i) => {
    const key = JSON.stringify(typeof m === 'string' ? { id: m } : { ...m, name: undefined });
    const first = seen.get(key);
    if (first !== undefined) throw errorAt(['models', i], `the same model as models[${first}]; give each entry a different backend, setting or interventions`);
    seen.set(key, i);
  });
  if (suite.stickiness?.attacks) unique('stickiness.attacks.#', suite.stickiness.attacks, new Set(), null, 'attack family');
}

/**
 * Cross-references the schema cannot express: every persona, method, judge, condition,
 * attack family and model a probe names must exist, so a typo fails before any call.
 */
function checkReferences(suite: Suite, errorAt: ErrorAt, baseDir: string): void {
  checkUniqueIds(suite, errorAt);
  const personas = new Set(suite.personas.map((p) => p.id));
  const methods = new Set(['none', ...suite.methods.map((m) => m.id)]);
  const judges = new Set<string>();
  const list = (xs: Iterable<string>) => [...xs].map((x) => `"${x}"`).join(', ');
  suite.judges.forEach((j, i) => {
    if (judges.has(j.id)) throw errorAt(['judges', i, 'id'], `duplicate judge "${j.id}"`);
    judges.add(j.id);
  });
  const judge = (id: string | undefined, path: (string | number)[]) => {
    if (id !== undefined && !judges.has(id)) throw errorAt(path, `unknown judge "${id}" (judges: ${list(judges) || 'none declared; add a judges: list'})`);
  };
  for (const { ref, path } of modelRefs(suite)) {
    const r = resolveModelRef(suite, ref);
    if (r.kind === 'extra') {
      try {
        parseModelId(r.id);
      } catch (err) {
        throw errorAt(path, `"${ref}" is neither a model entry's name or id nor a backend id: ${(err as Error).message}`);
      }
    }
  }
  const st = suite.stickiness;
  if (st) {
    const ids = new Set<string>();
    st.conditions.forEach((c, i) => {
      if (ids.has(c.id)) throw errorAt(['stickiness', 'conditions', i, 'id'], `duplicate condition "${c.id}"`);
      ids.add(c.id);
      if (!personas.has(c.persona)) throw errorAt(['stickiness', 'conditions', i, 'persona'], `unknown persona "${c.persona}" (personas: ${list(personas)})`);
      if (!methods.has(c.method)) throw errorAt(['stickiness', 'conditions', i, 'method'], `unknown method "${c.method}" (methods: ${list(methods)})`);
      if (!c.model && suite.models.length !== 1) throw errorAt(['stickiness', 'conditions', i], `name the condition's model (the suite has ${suite.models.length} models)`);
    });
    st.compare?.forEach((pair, i) =>
      pair.forEach((id, j) => {
        if (!ids.has(id)) throw errorAt(['stickiness', 'compare', i, j], `unknown condition "${id}" (conditions: ${list(ids)})`);
      }),
    );
    judge(st.retention.judge, ['stickiness', 'retention', 'judge']);
    if (st.retention.inventory === false && !st.retention.judge && !st.retention.activations) throw errorAt(['stickiness', 'retention'], 'choose at least one retention measure (inventory, judge, activations)');
    const files = st.attack_files.map((f) => resolve(baseDir, f));
    let library;
    try {
      library = attackLibrary(files);
    } catch (err) {
      throw errorAt(['stickiness', 'attack_files'], (err as Error).message);
    }
    st.attacks?.forEach((family, i) => {
      if (family === ADAPTIVE_FAMILY ? !st.adaptive : !library.has(family)) {
        throw errorAt(['stickiness', 'attacks', i], family === ADAPTIVE_FAMILY ? 'the "adaptive" family needs an adaptive: block naming the attacker model' : `unknown attack family "${family}" (known: ${list(library.keys())})`);
      }
    });
  }
  const c = suite.consistency;
  if (c) {
    c.personas?.forEach((id, i) => {
      if (!personas.has(id)) throw errorAt(['consistency', 'personas', i], `unknown persona "${id}" (personas: ${list(personas)})`);
    });
    if (!methods.has(c.method)) throw errorAt(['consistency', 'method'], `unknown method "${c.method}" (methods: ${list(methods)})`);
    judge(c.judge, ['consistency', 'judge']);
    if ((c.dialogue || c.self_report) && !c.judge) throw errorAt(['consistency', 'judge'], 'dialogue and self_report need a judge (a judge id from judges:)');
    const chosen = c.personas ? suite.personas.filter((p) => c.personas!.includes(p.id)) : suite.personas;
    if (c.dialogue?.qa) {
      judge(c.dialogue.qa.generator, ['consistency', 'dialogue', 'qa', 'generator']);
      const missing = chosen.filter((p) => !p.qa).map((p) => p.id);
      if (missing.length && !c.dialogue.qa.generator) throw errorAt(['consistency', 'dialogue', 'qa'], `personas ${list(missing)} have no qa: questions; give them some or name a generator judge`);
    }
    if (c.tenancy && chosen.length < 2) throw errorAt(['consistency', 'tenancy'], 'multi-tenancy needs at least two personas');
  }
}

export function parseSuite(text: string, file = '<suite>'): Suite {
  const { data: suite, errorAt } = parseValidatedYaml(text, file, suiteSchema, SuiteError);
  // Semantic checks the schema cannot express, located the same way.
  if (!instrumentIds().includes(suite.instrument.id) && !(suite.instrument.file && isYamlInstrumentFile(suite.instrument.file))) throw errorAt(['instrument', 'id'], `unknown instrument "${suite.instrument.id}" (known: ${instrumentIds().join(', ')}; or a YAML instrument given as instrument.file)`);
  // An instrument read from a file: the file is relative to the suite, and stored resolved.
  if (suite.instrument.file) suite.instrument.file = resolve(dirname(resolve(file)), suite.instrument.file);
  let instrument;
  try {
    instrument = suiteInstrument(suite);
  } catch (err) {
    const message = (err as Error).message;
    throw errorAt(['instrument', /language/.test(message) ? 'language' : suite.instrument.file || /instrument\.file/.test(message) ? 'file' : 'id'], message);
  }
  // A persona's scale targets name scales of the instrument that no Big Five domain maps to (a mapped one takes its target from target:).
  suite.personas.forEach((p, i) => {
    for (const [id, level] of Object.entries(p.scales ?? {})) {
      const scale = instrument.scales.find((s) => s.id === id);
      const free = instrument.scales.filter((s) => !s.domain).map((s) => s.id);
      if (!scale) throw errorAt(['personas', i, 'scales', id], `instrument ${instrument.id} has no scale "${id}" (${free.length ? `scales without a Big Five domain: ${free.join(', ')}` : 'all its scales are Big Five domains: use target:'})`);
      if (scale.domain) throw errorAt(['personas', i, 'scales', id], `scale "${id}" measures ${scale.domain}: its target is target.${scale.domain}, not a scale target`);
      if (levelToNumber(level) === undefined) throw errorAt(['personas', i, 'scales', id], `expected a number 1..5 or one of the nine levels, got ${JSON.stringify(level)}`);
    }
  });
  const norms = suite.norms?.dataset;
  if (norms?.layout === 'instrument') {
    if (norms.file !== undefined) throw errorAt(['norms', 'dataset', 'file'], "layout: instrument reads the people the instrument comes with; it takes no file");
    if (!instrument.people) throw errorAt(['norms', 'dataset', 'layout'], `instrument ${instrument.id} comes with no human data (those that do: ipip-50, epi, bfi-25, spi-135); give a dataset layout and file instead`);
  } else if (norms && norms.file === undefined) throw errorAt(['norms', 'dataset'], `layout ${norms.layout} needs the data file (file: ...)`);
  if (suite.instrument.options && suite.instrument.options.length !== instrument.options.length) throw errorAt(['instrument', 'options'], `${suite.instrument.options.length} option labels for an instrument with ${instrument.options.length} options`);
  // The blocks that read a Big Five profile off the instrument refuse one that lacks a domain.
  if (missingDomains(instrument).length) {
    const blocks: [string, boolean][] = [['stickiness', !!suite.stickiness && suite.stickiness.retention.inventory !== false], ['consistency', !!suite.consistency], ['norms', !!suite.norms && suite.norms.dataset.layout !== 'instrument']];
    for (const [block, on] of blocks) {
      if (!on) continue;
      try {
        requireBigFive(instrument, `the ${block} block`);
      } catch (err) {
        throw errorAt([block], (err as Error).message);
      }
    }
  }
  suite.models.forEach((m, i) => {
    const id = typeof m === 'string' ? m : m.id;
    try {
      parseModelId(id);
    } catch (err) {
      throw errorAt(['models', i], (err as Error).message);
    }
  });
  checkReferences(suite, errorAt, dirname(resolve(file)));
  const issue = probeBlockIssue(suite);
  if (issue) throw errorAt(issue.path, issue.message);
  return suite;
}

/** A suite file past this size is refused: every byte of a persona may be copied into thousands of requests. */
export const MAX_SUITE_BYTES = 4 << 20;

export function loadSuite(file: string): Suite {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_SUITE_BYTES) throw new SuiteError(`${file}: ${(size / 2 ** 20).toFixed(1)} MiB is too large for a suite (at most ${MAX_SUITE_BYTES / 2 ** 20} MiB; its text is copied into every request)`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(`${file}: cannot read suite file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseSuite(text, file);
}
