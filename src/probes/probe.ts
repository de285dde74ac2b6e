// One shape for every probe. A probe declares whether a suite asks for it, reads what it
// needs before any call, plans or runs its calls through a context it is given, analyzes
// the stored answers into a typed result, and says how that result is shown: report
// sections, console lines, CSV files, differences between two runs, and its evidence for
// the verdicts. The runner, the report, the export, the summary and the comparison iterate
// over the registry (registry.ts) and know no probe by name.
//
// A probe's result type is declared in its own file by adding a field to ProbeResults
// (declaration merging), so `analysis.<key>` is typed without the runner naming it.

import type { Backend, CallTask } from '../backends/types.js';
import type { Evidence } from '../metrics/verdict.js';
import type { RunRole } from '../suite/roles.js';
import type { Suite } from '../suite/schema.js';
import type { ProbeContext } from './context.js';
import type { z } from 'zod';

/** The analysis' probe results, one field per probe: each probe adds its own (declare module './probe.js'). */
export interface ProbeResults {}

export type ProbeKey = keyof ProbeResults;

/** The stored value (per model entry, whether it was scored from option probabilities) the runner records for every run. */
export const OPTION_PROBS = 'option-probs';

/** The stored value (ids of the models that keep state between requests) the runner records for every run. */
export const STATEFUL_MODELS = 'stateful-models';
export type ResultOf<K extends ProbeKey> = NonNullable<ProbeResults[K]>;

export interface ProbeDirs {
  /** The suite file's folder (attack files, vector files are relative to it); undefined for a suite given as an object. */
  baseDir?: string;
  /** Where data files named in the suite are read: the suite's folder, else the working directory. */
  dataDir: string;
}

/** What a probe plans its fixed calls from, and records at the start of a run. */
export interface SetupInput<P> {
  suite: Suite;
  prepared: P;
  /** One backend per model entry, in suite order (stand-ins on a dry run). */
  backends: readonly Backend[];
  /** Per model entry: whether it is scored from option probabilities. */
  optionProbs: readonly boolean[];
}

/** A call whose plan is a pure function of the suite: executed by the runner, model by model. */
export type PlannedTask = CallTask & { modelIndex: number };

export interface AnalyzeInput<P> {
  suite: Suite;
  /** Every stored response of the run, by task key. */
  responses: ReadonlyMap<string, unknown>;
  /** The stored request of a task (what was sent), by key. */
  requestOf(key: string): unknown;
  /** A value the probe recorded at the start of the run (record()), decoded with its schema; undefined if absent. */
  stored<T>(key: string, schema: z.ZodType<T>): T | undefined;
  /** Who played each part (simulated, constructed), from the stored run. */
  roles: readonly RunRole[];
  /** What prepare() read: handed over by a run that has just read it, else read again from the stored suite's files. */
  prepared(): P;
  /** The results of the probes before this one in the registry. */
  earlier: Readonly<Partial<ProbeResults>>;
  dirs: ProbeDirs;
}

/** What a probe's views know of the run beside its own result. */
export interface RunHeader {
  runId: string;
  suiteName: string;
  simulated: boolean;
}

export interface Section {
  /** Anchor id (without the page's prefix). */
  id: string;
  title: string;
  /** HTML: every model or user text escaped. */
  html: string;
}

export interface CsvFile {
  /** File name, e.g. "fidelity.csv": [a-z0-9-]+.csv */
  file: string;
  text: string;
}


export interface Probe<K extends ProbeKey, P = undefined, D = unknown> {
  /** Its field in the analysis. */
  readonly key: K;
  /** Its block in the suite (what --blocks, the progress bar and a dry run call it). */
  readonly block: string;
  /** The title of its report section. */
  readonly title: string;
  enabled(suite: Suite): boolean;
  /**
   * The schema of its block under the suite's `probes:` (a probe added to the registry
   * beside the built-in ones, whose blocks the suite schema holds): checked when the suite
   * loads, with the file and line of a bad field.
   */
  readonly schema?: z.ZodType;
  /** Read and check its files before any call or write (a bad file fails the run before anything is stored). */
  prepare?(suite: Suite, dirs: ProbeDirs): P;
  /** Values stored with the run at its start, so analysis needs neither the files nor the backends. */
  record?(input: SetupInput<P>): Record<string, unknown>;
  /** Calls that are a pure function of the suite (the runner executes them, and a dry run counts them). */
  plan?(input: SetupInput<P>): PlannedTask[];
  /** Calls that depend on earlier replies, made through the context. */
  run?(ctx: ProbeContext, prepared: P): Promise<void>;
  /** The stored answers into its result; undefined where the suite did not ask for it. */
  analyze(input: AnalyzeInput<P>): ProbeResults[K] | undefined;

  /** Report sections (a probe may give none, one or several: transcripts are a second one). */
  sections?(r: ResultOf<K>, run: RunHeader, idPrefix: string): Promise<Section[]>;
  /** Rows of the report's summary table: [label, HTML]. */
  summaryRows?(r: ResultOf<K>, run: RunHeader): [string, string][];
  /** Lines printed at the end of a run. */
  console?(r: ResultOf<K>, run: RunHeader): string[];
  /** Warnings printed before everything else (off-format answers, repetitions not administered). */
  warnings?(r: ResultOf<K>): string[];
  csv?(r: ResultOf<K>, run: RunHeader): CsvFile[];
  /** B − A between two runs' results; undefined when they share nothing to compare. */
  differences?(a: ResultOf<K>, b: ResultOf<K>): D | undefined;
  differencesHtml?(d: D): Promise<string>;
  /** Judge replies that could not be parsed, and all judgments. */
  judgments?(r: ResultOf<K>): { failed: number; total: number };
  evidence?(r: ResultOf<K>, suite: Suite): Evidence;
}

/** Any probe, as the registry holds it. */
export type AnyProbe = Probe<ProbeKey, unknown, unknown>;

/** Set a probe's result on the analysis under its key. */
export function putResult<K extends ProbeKey>(results: Partial<ProbeResults>, key: K, value: ProbeResults[K]): void {
  results[key] = value;
}
