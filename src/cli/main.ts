import { COMMANDS, HelpShown, groupHelp, helpText, parseCommand, type CommandName } from './specs.js';
import type { Out } from './out.js';
import { readFileSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, errorMessage } from '../util/errors.js';
import { readJsonFile } from '../util/files.js';
import { redact } from '../util/redact.js';
import { loadSuite } from '../suite/load.js';
import { suiteJsonSchema, suiteSchema, type Suite } from '../suite/schema.js';
import { runSuite, analyzeRun, type RunResult } from '../runner/run.js';
import type { PriceTable } from '../runner/dry-run.js';
import { RunStore, STORE_FILE } from '../store/store.js';
import { writeReport, type ReportFiles } from '../report/export.js';
import { renderHtml } from '../report/html.js';
import { htmlDocument } from '../present/html.js';
import { storedMechanismPage } from '../report/mechanism-html.js';
import { getInstrument, optionValues, valueRange } from '../instruments/index.js';
import { scoreAnswers } from '../instruments/scoring.js';
import { ProgressBar } from './progress.js';
import { summaryText } from './summary.js';
import { recoveryText } from '../probes/fidelity-probe.js';
import { reachable } from '../util/network.js';
import { recoverySuite } from '../suite/recovery-suite.js';
import { cmdMakeModel, cmdTrace } from './engine-commands.js';
import { cmdVectors } from './vectors-commands.js';
import { cmdCheckpoints, cmdNeurons } from './neuron-commands.js';
import { cmdServe } from './serve-command.js';
import { cmdAxis } from './axis-commands.js';
import { cmdView } from './view-command.js';

const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEMO_SUITE = join(PACKAGE_ROOT, 'examples', 'demo.yaml');
/** The demo's real model: SmolLM2-360M-Instruct, quantized, resolved and cached by node-llama-cpp. */
export const DEMO_MODEL = 'llamacpp:hf:HuggingFaceTB/SmolLM2-360M-Instruct-GGUF/smollm2-360m-instruct-q8_0.gguf';
const DEFAULT_OUT = 'persona-probe-out';

/** The top help: every command with its one-line summary, generated from the command specs. */
function usage(): string {
  const names = Object.keys(COMMANDS) as CommandName[];
  const width = Math.max(...names.map((n) => n.length));
  return [
    `persona-probe ${packageVersion()}: is this persona realized by the model, or merely performed?`,
    '',
    'Usage: persona-probe COMMAND [options]     persona-probe COMMAND --help for its options and examples',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
    '',
    '--dir DIR is the project folder (run store and reports; default ./persona-probe-out) for every command',
    'that has one; --out names a file where a command writes one. The old folder spellings still work:',
    '--out DIR for demo, run, runs and report, --store DIR for vectors and axis.',
    '',
    'Models: sim:[key=value,...]  openai:MODEL  anthropic:MODEL  llamacpp:PATH.gguf|hf:URI  engine:MODEL_FOLDER',
    "Keys come from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, or a suite's apiKeyEnv).",
  ].join('\n');
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}


const stdio: Out = { log: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${redact(s)}\n`) };

function withModels(suite: Suite, model: string | undefined): Suite {
  if (!model) return suite;
  return suiteSchema.parse({ ...suite, models: model.split(',').map((m) => m.trim()).filter(Boolean) });
}

/** A quick look: only some personas, blocks, attack families or items. A subset is its own run; its calls are shared with the whole one through the store. */
function subset(suite: Suite, o: { personas?: string; blocks?: string; families?: string; items?: string }): Suite {
  const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));
  let out: Record<string, unknown> = { ...suite };
  const personas = list(o.personas);
  if (personas) {
    for (const p of personas) if (!suite.personas.some((x) => x.id === p)) throw new UserError(`run: --personas: no persona "${p}" (personas: ${suite.personas.map((x) => x.id).join(', ')})`);
    out.personas = suite.personas.filter((p) => personas.includes(p.id));
    if (suite.stickiness) out.stickiness = { ...suite.stickiness, conditions: suite.stickiness.conditions.filter((c) => personas.includes(c.persona)), compare: [] };
    if (suite.consistency?.personas) out.consistency = { ...suite.consistency, personas: suite.consistency.personas.filter((p) => personas.includes(p)) };
  }
  const blocks = list(o.blocks);
  if (blocks) {
    const known = ['fidelity', 'stickiness', 'consistency', 'twins'];
    for (const b of blocks) if (!known.includes(b)) throw new UserError(`run: --blocks: no block "${b}" (${known.join(', ')})`);
    out.fidelity = suite.fidelity && blocks.includes('fidelity');
    for (const b of ['stickiness', 'consistency', 'twins'] as const) if (!blocks.includes(b)) delete out[b];
  }
  const families = list(o.families);
  if (families && out.stickiness) out.stickiness = { ...(out.stickiness as object), attacks: families };
  if (o.items !== undefined) {
    const n = Number(o.items);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`run: --items must be a positive whole number, got "${o.items}"`);
    out = { ...out, instrument: { ...suite.instrument, items: n } };
  }
  if (out === suite) return suite;
  try {
    return suiteSchema.parse(out);
  } catch (err) {
    throw new UserError(`run: the subset is not a valid suite (${errorMessage(err).split('\n')[0]})`);
  }
}

function reportLines(files: ReportFiles): string {
  return `report: ${[files.html, files.json, ...files.csv].join('\n        ')}`;
}

async function runAndReport(suite: Suite, outDir: string, suitePath: string | undefined, quiet: boolean, io: Out, fresh = false): Promise<RunResult> {
  const bar = quiet ? undefined : new ProgressBar(process.stderr, suite.name);
  const result = await runSuite(suite, { outDir, suitePath, fresh, onProgress: (c, phase) => bar?.update(c, phase) });
  bar?.done();
  const files = await writeReport(result.analysis, join(resolve(outDir), 'reports', result.runId));
  io.log(summaryText(result.analysis));
  io.log(`\nrun ${result.runId}${result.resumed ? ' (resumed)' : ''} · calls this time ${result.counters.calls} · served from store ${result.counters.cacheHits} · store ${result.storePath}`);
  io.log(reportLines(files));
  io.log(`browse and compare runs: npx persona-probe view ${outDir}`);
  return result;
}

/** The demo suite at a size a laptop runs in minutes on a real model. */
export function demoOnRealModel(suite: Suite): Suite {
  return suiteSchema.parse({ ...suite, instrument: { ...suite.instrument, items: 20, variants: suite.instrument.variants?.slice(0, 1) }, repetitions: 1 });
}

/** The demo's glass-box model under DIR/models/glass-box, written once (from a folder with a config and tokenizer). */
async function glassBoxForDemo(outDir: string, like: string | undefined, io: Out): Promise<string> {
  const dir = join(resolve(outDir), 'models', 'glass-box');
  if (existsSync(join(dir, 'glass-box.json'))) return dir;
  const from = resolve(like ?? join('..', 'shared', 'models', 'smollm2-135m-instruct'));
  if (!existsSync(join(from, 'tokenizer.json')) || !existsSync(join(from, 'config.json'))) {
    throw new UserError(`demo --glass-box: ${from} has no config.json and tokenizer.json; pass --like DIR (a model folder, e.g. SmolLM2-135M-Instruct: only its config and tokenizer are used)`);
  }
  const { makeGlassBoxModel } = await import('./glass-box.js');
  const spec = await makeGlassBoxModel(dir, from, { arch: 'llama' });
  io.err(`persona-probe: wrote a glass-box model to ${dir} (${spec.markers.length} trait words planted; not a language model).`);
  return dir;
}

async function cmdDemo(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['demo'], args);
  const outDir = values.dir ?? values.out ?? DEFAULT_OUT;
  let model = values.model;
  if (values['glass-box']) {
    if (model) throw new UserError('demo: --glass-box and --model are two different models; pass one');
    model = `engine:${await glassBoxForDemo(outDir, values.like, io)}`;
  } else if (values.like) throw new UserError('demo: --like goes with --glass-box');
  if (!model) {
    const { resolveGgufPath } = await import('../backends/llamacpp.js');
    const ref = DEMO_MODEL.slice('llamacpp:'.length);
    const cached = await resolveGgufPath(ref, join(resolve(outDir), 'models'), false).then((p) => existsSync(p), () => false);
    if (cached || (await reachable('huggingface.co'))) model = DEMO_MODEL;
    else {
      io.err('persona-probe: no network to fetch SmolLM2-360M-Instruct (huggingface.co unreachable); running the demo on the simulated panel (sim:) instead: every number below is a simulation, not a model. (persona-probe demo --glass-box runs it through the real engine on a constructed model.)');
      model = 'sim:';
    }
  }
  const full = withModels(loadSuite(DEMO_SUITE), model);
  // On a real model the demo is cut to a laptop's size: 20 items, one prompt variant, one
  // repetition (6,515 calls become about 400; see the README for the time).
  const suite = model.startsWith('sim:') ? full : demoOnRealModel(full);
  if (suite !== full) {
    const { dryRun } = await import('../runner/dry-run.js');
    const calls = (await dryRun(suite, DEMO_SUITE)).reduce((n, r) => n + r.calls, 0);
    io.err(`persona-probe: the demo on ${model} is cut to a laptop's size: ${calls} calls (20 items, one prompt variant, one repetition); run examples/demo.yaml for all of it.`);
  }
  const result = await runAndReport(suite, outDir, DEMO_SUITE, Boolean(values.quiet), io);
  if (result.analysis.simulated) {
    // On the simulation the demo also shows that the metrics recover known truth.
    const rec = await runSuite(recoverySuite({ personas: 24 }), { outDir });
    await writeReport(rec.analysis, join(resolve(outDir), 'reports', rec.runId));
    io.log(`\n${recoveryText(rec.analysis.models ?? [])}\n(recovery run ${rec.runId})`);
  }
  return result.counters.errors > 0 ? 1 : 0;
}

async function cmdRun(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseCommand(COMMANDS['run'], args);
  const file = positionals[0];
  if (!file) throw new UserError('run: name a suite file, e.g. persona-probe run suite.yaml');
  const suite = subset(withModels(loadSuite(file), values.model), values);
  if (values['dry-run']) return printPlan(suite, resolve(file), values.prices, io);
  if (values.prices) throw new UserError('run: --prices goes with --dry-run');
  const result = await runAndReport(suite, values.dir ?? values.out ?? DEFAULT_OUT, resolve(file), Boolean(values.quiet), io, Boolean(values.fresh));
  if (result.counters.errors > 0) io.err(`persona-probe: ${result.counters.errors} item(s) got no answer after all retries; they are recorded as missing (see the report). Run the same command again to retry them.`);
  return result.counters.errors > 0 ? 1 : 0;
}

/** Read-only commands (runs, report) open the store read-only: nothing is migrated or written. */
function openStore(outDir: string): RunStore {
  if (!existsSync(join(outDir, STORE_FILE))) throw new UserError(`no run store in ${outDir} (expected ${STORE_FILE}; pass --out DIR)`);
  return new RunStore(outDir, { readOnly: true });
}

async function cmdReport(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseCommand(COMMANDS['report'], args);
  // `--out report.html` names the file to write; any other --out is the project directory, as in every command.
  const htmlFile = values.out?.toLowerCase().endsWith('.html') ? resolve(values.out) : undefined;
  if (htmlFile && existsSync(htmlFile) && statSync(htmlFile).isDirectory()) throw new UserError(`${htmlFile}: is a folder; --out names the HTML file to write`);
  const outDir = resolve(values.dir ?? (htmlFile ? undefined : values.out) ?? DEFAULT_OUT);
  const store = openStore(outDir);
  try {
    const ref = positionals[0] ?? store.listRuns()[0]?.id;
    if (!ref) throw new UserError(`no runs stored in ${outDir}`);
    const run = store.findRun(ref);
    if (!run) throw new UserError(`no run "${ref}" in ${outDir} (see: persona-probe runs --out ${values.dir ?? values.out ?? DEFAULT_OUT})`);
    const reportDir = values.to ?? join(outDir, 'reports', run.id);
    // A mechanism run's report is its page; a suite run's is its analysis, as one file or as the report folder.
    const page = await storedMechanismPage(store, run.id, (run.config as { kind?: string }).kind);
    // A large run takes seconds to analyse and render: say what is happening.
    const stored = store.taskStats(run.id).tasks;
    const big = stored >= 5000;
    const started = Date.now();
    if (big && !page) io.err(`persona-probe: analysing run ${run.id} (${stored} stored calls)...`);
    const analysis = page ? undefined : analyzeRun(store, run.id);
    if (big && analysis) io.err(`persona-probe: analysed in ${((Date.now() - started) / 1000).toFixed(1)} s; rendering the report...`);
    if (analysis) io.log(summaryText(analysis));
    if (analysis && !htmlFile) {
      io.log(reportLines(await writeReport(analysis, reportDir)));
      return 0;
    }
    const file = htmlFile ?? join(reportDir, 'report.html');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, page ? htmlDocument(page) : await renderHtml(analysis!));
    io.log(`report: ${file}`);
    return 0;
  } finally {
    store.close();
  }
}

async function cmdRuns(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['runs'], args);
  const store = openStore(resolve(values.dir ?? values.out ?? DEFAULT_OUT));
  try {
    for (const r of store.listRuns()) io.log(`${r.id}  ${r.status.padEnd(8)}  ${r.createdAt}  ${r.suiteName}  ${r.models.join(',')}${r.simulated ? '  [simulation]' : ''}`);
    return 0;
  } finally {
    store.close();
  }
}

async function cmdScore(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['score'], args);
  if (!values.answers) throw new UserError('score: pass --answers FILE (a JSON object: item id -> answer value)');
  const instrument = getInstrument(values.instrument!, values.language, values.file);
  const { min, max } = valueRange(instrument);
  let sheet: unknown;
  try {
    sheet = readJsonFile(values.answers);
  } catch (err) {
    throw new UserError(`score: cannot read ${values.answers}: ${errorMessage(err)}`);
  }
  if (!sheet || typeof sheet !== 'object' || Array.isArray(sheet)) throw new UserError(`score: ${values.answers} must hold a JSON object mapping item ids to answers`);
  const known = new Set(instrument.items.map((i) => i.id));
  const answers: Record<string, number | null> = {};
  for (const [id, v] of Object.entries(sheet as Record<string, unknown>)) {
    if (!known.has(id)) throw new UserError(`score: unknown item id "${id}" for ${instrument.id}`);
    if (v !== null && (typeof v !== 'number' || !(v >= min && v <= max))) throw new UserError(`score: answer for ${id} must be a number ${min}..${max} or null, got ${JSON.stringify(v)}`);
    answers[id] = v as number | null;
  }
  const scores = scoreAnswers(instrument, answers);
  if (values.json) io.log(JSON.stringify(scores, null, 2));
  else {
    for (const scale of instrument.scales) {
      const s = scores.scales[scale.id]!;
      io.log(`${scale.id}  ${s.score === null ? '—' : s.score.toFixed(3)}  (${s.answered} answered, ${s.missing} missing)${scale.name !== scale.id ? `  ${scale.name}` : ''}`);
    }
    io.log(`${scores.answered} items answered, ${scores.missing} missing`);
  }
  return 0;
}

async function printPlan(suite: Suite, suitePath: string, pricesFile: string | undefined, io: Out): Promise<number> {
  const { dryRun } = await import('../runner/dry-run.js');
  let prices: PriceTable = {};
  if (pricesFile) {
    try {
      prices = readJsonFile(pricesFile) as PriceTable;
    } catch (err) {
      throw new UserError(`run: cannot read --prices ${pricesFile} (${errorMessage(err)})`);
    }
    for (const [k, v] of Object.entries(prices)) {
      if (!v || !Number.isFinite(v.input) || !Number.isFinite(v.output)) throw new UserError(`${pricesFile}: ${k} needs {"input": USD per 1M tokens, "output": USD per 1M tokens}`);
    }
  }
  const rows = await dryRun(suite, suitePath, prices);
  const n = (x: number | null) => (x === null ? '—' : x.toLocaleString('en-US'));
  const table = [['block', 'model', 'calls', 'prompt tokens (est.)', 'output tokens (at most)', 'cost (USD)'], ...rows.map((r) => [r.block, r.model, n(r.calls), n(r.inputTokens), n(r.outputTokens), r.cost === null ? '—' : r.cost.toFixed(2)])];
  const widths = table[0]!.map((_, j) => Math.max(...table.map((r) => r[j]!.length)));
  io.log(`DRY RUN of ${suite.name}: nothing was called and nothing written.`);
  for (const r of table) io.log(r.map((c, j) => c.padEnd(widths[j]!)).join('  '));
  const total = rows.reduce((s, r) => s + r.calls, 0);
  const cost = rows.reduce((s, r) => s + (r.cost ?? 0), 0);
  io.log(`${total.toLocaleString('en-US')} calls in all${rows.some((r) => r.cost !== null) ? `; estimated cost ${cost.toFixed(2)} USD for the rows priced (multi-turn probes are not priced: their prompts grow with the replies)` : pricesFile ? '' : '; no cost without a price table (--prices FILE.json)'}. Calls already in the store would be served from it.`);
  return 0;
}

function cmdItems(args: string[], io: Out): number {
  const { values, positionals } = parseCommand(COMMANDS.items, args);
  const instrument = getInstrument(positionals[0] ?? 'ipip-neo-120', values.language, values.file);
  if (values.json) io.log(JSON.stringify(instrument, null, 2));
  else {
    io.log(`${instrument.name} (${instrument.id}, ${instrument.language}): ${instrument.items.length} items`);
    io.log(`scales: ${instrument.scales.map((s) => `${s.id}${s.domain && s.domain !== s.id ? ` (${s.domain})` : ''}`).join(', ')}`);
    const values = optionValues(instrument);
    io.log(`options: ${instrument.options.map((o, i) => `${o} = ${values[i]}`).join(', ')}`);
    if (instrument.source) io.log(`source: ${instrument.source}${instrument.licence ? `; licence: ${instrument.licence}` : ''}`);
    for (const it of instrument.items) io.log(`${it.id}  ${it.keys.map((k, i) => `${k.keyed === 'plus' ? '+' : '-'}${k.scale}${i === 0 && it.facet !== undefined ? `/${it.facet}` : ''}`).join(' ')}  ${it.text}`);
  }
  return 0;
}

export async function main(argv: string[], io: Out = stdio): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        return await cmdDemo(rest, io);
      case 'run':
        return await cmdRun(rest, io);
      case 'report':
        return await cmdReport(rest, io);
      case 'runs':
        return await cmdRuns(rest, io);
      case 'score':
        return await cmdScore(rest, io);
      case 'trace':
        return await cmdTrace(rest, io);
      case 'make-model':
        return await cmdMakeModel(rest, io);
      case 'vectors':
        return await cmdVectors(rest, io);
      case 'neurons':
        return await cmdNeurons(rest, io);
      case 'checkpoints':
        return await cmdCheckpoints(rest, io);
      case 'serve':
        return await cmdServe(rest, io);
      case 'axis':
        return await cmdAxis(rest, io);
      case 'view':
        return await cmdView(rest, io);
      case 'items':
        return cmdItems(rest, io);
      case 'init': {
        const { positionals } = parseCommand(COMMANDS.init, rest);
        const target = resolve(positionals[0] ?? 'suite.yaml');
        if (existsSync(target)) throw new UserError(`init: ${target} exists; name another file (persona-probe init FILE)`);
        writeFileSync(target, readFileSync(join(PACKAGE_ROOT, 'content', 'starter-suite.yaml'), 'utf8'));
        io.log(`wrote ${target}: edit it, then: persona-probe run ${positionals[0] ?? 'suite.yaml'} --dry-run`);
        return 0;
      }
      case 'schema':
        parseCommand(COMMANDS.schema, rest);
        io.log(JSON.stringify(suiteJsonSchema(), null, 2));
        return 0;
      case '--version':
      case '-v':
      case 'version':
        io.log(packageVersion());
        return 0;
      case 'help': {
        const topic = rest.join(' ');
        if (topic === 'vectors' || topic === 'axis' || topic === 'neurons' || topic === 'checkpoints') io.log(groupHelp(topic));
        else if (topic in COMMANDS) io.log(helpText(COMMANDS[topic as CommandName]));
        else if (topic) throw new UserError(`help: no command "${topic}" (try: persona-probe help)`);
        else io.log(usage());
        return 0;
      }
      case undefined:
      case '--help':
      case '-h':
        io.log(usage());
        return command === undefined ? 2 : 0;
      default:
        throw new UserError(`unknown command "${command}" (try: persona-probe help)`);
    }
  } catch (err) {
    if (err instanceof HelpShown) {
      io.log(err.text);
      return 0;
    }
    if (err instanceof UserError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`persona-probe: ${errorMessage(err)}`);
      return 2;
    }
    io.err(`persona-probe: internal error: ${errorMessage(err)}`);
    if (process.env.PERSONA_PROBE_DEBUG) io.err((err as Error).stack ?? '');
    return 1;
  }
}
