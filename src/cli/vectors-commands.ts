// `persona-probe vectors ...`: extract persona vectors, monitor a transcript along them,
// export to / import from llama.cpp control vectors, list the built-in traits.

import { COMMANDS, integerOption, parseCommand, runGroup } from './specs.js';
import { ProgressBar } from './progress.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { UserError, errorMessage } from '../util/errors.js';
import type { ChatMessage } from '../backends/types.js';
import { readVectorFile, writeControlVector, writeVectorFile, residPost } from '../engine/formats/vector-files.js';
import { writeSafetensors } from '../engine/formats/safetensors.js';
import { builtinTraits, resolveTrait } from '../probes/traits.js';
import { monitorTranscript, saveVectors, type MonitoredVector } from '../probes/vectors.js';
import { extractVectors, PERSONA_VECTORS_PRESET, sweepSteering } from '../commands/vectors.js';
import { createBackend } from '../backends/registry.js';
import { constructedLines } from '../suite/roles.js';
import { f2, num } from '../present/html.js';
import { f3 } from '../present/text.js';
import { driftPage, monitorPage, standalone, sweepPage, vectorsPage } from '../report/mechanism-html.js';
import { monitorRun } from '../commands/drift.js';
import { rankSamples, screenDataset } from '../commands/screen.js';
import { compareCheckpoints } from '../commands/checkpoints.js';
import { pearson } from '../metrics/stats.js';

import type { Out } from './out.js';


function chooseBy(v: string | undefined): 'separation' | 'steering' {
  if (v === undefined || v === 'separation' || v === 'steering') return v ?? 'separation';
  throw new UserError(`vectors extract: --choose-by must be separation or steering, got "${v}"`);
}

async function extract(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['vectors extract'], args);
  if (!values.model) throw new UserError('vectors extract: pass --model engine:DIR');
  if (!values.trait) throw new UserError('vectors extract: pass --trait ID or FILE (see: persona-probe vectors traits)');
  if (!values.out) throw new UserError('vectors extract: pass --out FILE.safetensors');
  const num = (name: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new UserError(`vectors extract: --${name} must be a number, got "${v}"`);
    return n;
  };
  const trait = resolveTrait(values.trait);
  if (values.preset !== undefined && values.preset !== 'persona-vectors') throw new UserError(`vectors extract: --preset must be persona-vectors, got "${values.preset}"`);
  if (values.preset && !values.judge) throw new UserError('vectors extract: the persona-vectors preset filters answers by a judge (trait and coherence): pass --judge MODEL');
  // The preset's settings, then anything given explicitly over them.
  const preset = values.preset ? PERSONA_VECTORS_PRESET : undefined;
  const flag = (v: boolean | undefined, fallback: boolean | undefined) => (v ? true : fallback);
  const bar = new ProgressBar(process.stderr, `vectors ${trait.id}`);
  const r = await extractVectors({
    outDir: resolve(values.dir ?? values.store ?? 'persona-probe-out'),
    model: values.model,
    trait,
    generateWith: values['generate-with'],
    judge: values.judge,
    threshold: num('threshold', values.threshold) ?? preset?.threshold,
    pca: values.pca,
    heldOut: num('held-out', values['held-out']),
    maxTokens: num('max-tokens', values['max-tokens']) ?? preset?.maxTokens,
    temperature: num('temperature', values.temperature) ?? preset?.temperature,
    rollouts: num('rollouts', values.rollouts) ?? preset?.rollouts,
    coherence: flag(values.coherence, preset?.coherence),
    pairwise: flag(values.pairwise, preset?.pairwise),
    prefix: flag(values.prefix, preset?.prefix),
    seed: num('seed', values.seed),
    concurrency: num('concurrency', values.concurrency),
    batch: num('batch', values.batch),
    chooseBy: values['choose-by'] === undefined && preset ? preset.chooseBy : chooseBy(values['choose-by']),
    steeringCoef: num('steering-coef', values['steering-coef']),
    onProgress: (c) => bar.update(c),
  });
  bar.done();
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  saveVectors(values.out, r);
  for (const line of constructedLines(r.parts)) io.log(line);
  for (const p of r.parts.filter((x) => x.simulated)) io.log(`SIMULATION: the ${p.role} (${p.backend}) is the simulated panel, not a language model; these vectors come from its placeholder text.`);
  if (r.settings) io.log(`settings${values.preset ? ` (preset ${values.preset}, overrides applied)` : ''}: ${r.settings.rollouts} rollout(s) at temperature ${r.settings.temperature}, up to ${r.settings.maxTokens} tokens; judge threshold ${r.settings.threshold}${r.settings.coherence ? ', coherence at least 50' : ''}${r.settings.pairwise ? ', pairs masked jointly' : ''}${r.settings.prefix ? ', "You are a ... assistant." opening' : ''}`);
  io.log(`trait ${r.trait} on ${r.model}: ${r.counts.answers} answers, kept ${r.counts.kept.positive} positive / ${r.counts.kept.negative} negative (held out ${r.counts.heldOut.positive} / ${r.counts.heldOut.negative})${r.counts.judgeFailures ? `, ${r.counts.judgeFailures} unparsable judgments` : ''}${r.counts.incoherent !== undefined ? `, ${r.counts.incoherent} incoherent` : ''}${r.counts.unpaired !== undefined ? `, ${r.counts.unpaired} pairs dropped for one side` : ''}`);
  const steered = r.chosenBy === 'steering';
  io.log(`layer (hidden_states[L+1])  |v|      separation (Cohen's d, held out)  null 95% (answers shuffled)  p (pairs swapped)${r.pca ? '  PCA d' : ''}${steered ? '  steering effect' : ''}`);
  for (const l of r.layers) io.log(`${`${l.layer} (${l.layer + 1})`.padStart(26)}  ${l.norm.toFixed(3).padStart(7)}  ${f2(l.separation).padStart(8)}  ${f2(l.nullD95).padStart(27)}  ${f3(l.instructionP).padStart(17)}${l.clearsNull ? '' : ' (within the null)'}${r.pca ? `  ${f2(l.separationPca)}` : ''}${steered ? `  ${f2(l.steeringEffect).padStart(15)}` : ''}${l.layer === r.recommendedLayer ? `   <- recommended${steered ? ' (by steering effect)' : ''}` : ''}`);
  if (r.recommendedLayer === null) io.log(`no layer is recommended: no separation cleared both nulls (answers shuffled, and the sides swapped instruction pair by instruction pair: p must be at most 1/16, the true assignment beating all 15 others); the direction reads the instructions' wording no better than it reads a trait`);
  if (values.html) writeFileSync(values.html, await standalone(vectorsPage(r)));
  io.log(`run ${r.runId}${r.resumed ? ' (resumed)' : ''} · vectors: ${values.out}${values.html ? ` · page: ${values.html}` : ''}`);
  return r.counters.errors > 0 ? 1 : 0;
}

async function sweep(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['vectors sweep'], args);
  if (!values.model || !values.vectors || !values.coefs) throw new UserError('vectors sweep: pass --model engine:DIR --vectors FILE --coefs LIST');
  const list = (name: string, v: string) => v.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isFinite(n) || x.trim() === '') throw new UserError(`vectors sweep: --${name} takes numbers separated by commas, got "${v}"`);
    return n;
  });
  const sweepBar = new ProgressBar(process.stderr, 'vectors sweep');
  const r = await sweepSteering({
    outDir: resolve(values.dir ?? values.store ?? 'persona-probe-out'),
    model: values.model,
    vectorsFile: values.vectors,
    coefs: list('coefs', values.coefs),
    layers: values.layers ? list('layers', values.layers) : undefined,
    itemsPerDomain: values['items-per-domain'] ? Number(values['items-per-domain']) : undefined,
    judge: values.judge,
    trait: values.trait ? resolveTrait(values.trait) : undefined,
    questions: values.questions ? Number(values.questions) : undefined,
    onProgress: (c) => sweepBar.update(c),
  });
  sweepBar.done();
  io.log('layer   coef     O     C     E     A     N  judged  perplexity');
  for (const row of r.rows) io.log(`${String(row.layer).padStart(5)} ${f2(row.coef).padStart(6)} ${(['O', 'C', 'E', 'A', 'N'] as const).map((d) => f2(row.inventory[d]).padStart(5)).join(' ')} ${f2(row.judge?.mean).padStart(7)} ${num(row.perplexity).padStart(11)}`);
  if (values.out) writeFileSync(values.out, `${JSON.stringify(r.rows, null, 2)}\n`);
  if (values.html) writeFileSync(values.html, await standalone(sweepPage(r.rows, `Steering sweep: ${basename(values.vectors)}`)));
  io.log(`run ${r.runId}`);
  return r.counters.errors > 0 ? 1 : 0;
}

function readTranscript(path: string): ChatMessage[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UserError(`${path}: cannot read transcript (${errorMessage(err)})`);
  }
  const list = Array.isArray(raw) ? raw : (raw as { messages?: unknown })?.messages;
  if (!Array.isArray(list)) throw new UserError(`${path}: expected a JSON array of {role, content} messages (or {"messages": [...]})`);
  list.forEach((m, i) => {
    const ok = m && typeof m === 'object' && ['system', 'user', 'assistant'].includes((m as ChatMessage).role) && typeof (m as ChatMessage).content === 'string';
    if (!ok) throw new UserError(`${path}: message ${i} is not {role: system|user|assistant, content: string}`);
  });
  return list as ChatMessage[];
}

async function monitor(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['vectors monitor'], args);
  if (!values.model || !values.vectors || (!values.transcript && !values.run)) throw new UserError('vectors monitor: pass --model engine:DIR --vectors FILE[,FILE] and --transcript conv.json or --run RUN_ID');
  if (values.transcript && values.run) throw new UserError('vectors monitor: --transcript and --run are two sources; pass one');
  const vectors = vectorsFrom(values.vectors, values.layer);
  if (values.run) {
    const bar = new ProgressBar(process.stderr, `drift ${values.run}`);
    const r = await monitorRun({ outDir: resolve(values.dir ?? 'persona-probe-out'), run: values.run, model: values.model, vectors, onProgress: (done, total) => bar.steps(done, total) });
    bar.done();
    for (const line of constructedLines(r.parts)) io.log(line);
    io.log(`drift (last turn − opening) per condition, attack family and vector, most negative first (* = a family the Assistant-axis paper found to drift most):`);
    for (const f of r.families) io.log(`  ${f.condition.padEnd(20)} ${f.family.padEnd(22)} ${f.vector.padEnd(20)} ${f2(f.drift).padStart(8)}${f.paperDriftFamily ? ' *' : ''}`);
    if (values.out) writeFileSync(values.out, `${JSON.stringify(r, null, 2)}\n`);
    if (values.html) writeFileSync(values.html, await standalone(driftPage(r)));
    io.log(`drift run ${r.runId} (from run ${r.source})${values.html ? ` · page: ${values.html}` : ''}`);
    return 0;
  }
  const messages = readTranscript(values.transcript!);
  const engine = await createBackend(values.model.startsWith('engine:') ? values.model : `engine:${values.model}`);
  const rows = await monitorTranscript(engine, messages, vectors);
  io.log(`turn  ${vectors.map((v) => `${v.name}@${v.layer}`.padStart(18)).join('')}`);
  for (const turn of [...new Set(rows.map((r) => r.turn))]) io.log(`${String(turn).padStart(4)}  ${vectors.map((v) => f2(rows.find((r) => r.turn === turn && r.vector === v.name)!.projection).padStart(18)).join('')}`);
  if (values.out) writeFileSync(values.out, `${JSON.stringify(rows, null, 2)}\n`);
  if (values.html) writeFileSync(values.html, await standalone(monitorPage(rows, `Projection of each assistant turn (${basename(values.transcript!)})`)));
  return 0;
}

function vectorsFrom(files: string, layerArg: string | undefined): MonitoredVector[] {
  return files.split(',').map((file) => {
    const set = readVectorFile(file);
    const layer = layerArg !== undefined ? Number(layerArg) : Number(set.metadata.recommended_layer);
    const vector = set.layers.get(layer);
    if (!Number.isInteger(layer) || !vector) throw new UserError(`${file}: no vector for layer ${layerArg ?? set.metadata.recommended_layer ?? '(none recommended; pass --layer)'} (has ${[...set.layers.keys()].join(', ')})`);
    return { name: set.metadata.trait ?? basename(file), layer, vector };
  });
}

async function screen(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['vectors screen'], args);
  if (!values.model || !values.vectors || !values.data) throw new UserError('vectors screen: pass --model engine:DIR --vectors FILE[,FILE] --data train.jsonl');
  const whole = (name: string, v: string | undefined) => integerOption('vectors screen', name, v);
  if ((values['drop-top'] === undefined) !== (values.filtered === undefined)) throw new UserError('vectors screen: --drop-top N and --filtered FILE go together');
  const vectors = vectorsFrom(values.vectors, values.layer);
  const bar = new ProgressBar(process.stderr, 'screen');
  const r = await screenDataset({ model: values.model, dataset: values.data, vectors, maxTokens: whole('max-tokens', values['max-tokens']), onProgress: (done, total) => bar.steps(done, total) });
  bar.done();
  for (const line of constructedLines(r.parts)) io.log(line);
  for (const p of r.predicted) io.log(`${p.vector}@${p.layer}: predicted shift ${f2(p.shift)} (mean projection difference, training response − the base model's own, over ${p.n} samples)`);
  let measured: Awaited<ReturnType<typeof compareCheckpoints>>['projections'] | undefined;
  if (values.tuned) {
    // Where the tuned checkpoint exists: its projection shift on the same vectors (the short inventory's prompts,
    // answer position), beside the prediction. Different prompts and positions, so compare signs and ranks, not sizes.
    const files = values.vectors.split(',').map((f) => f.trim());
    measured = (await compareCheckpoints({ base: values.model, tuned: values.tuned, vectors: files, ...(values.layer !== undefined ? { layer: whole('layer', values.layer) } : {}) })).projections;
    measured.forEach((m, i) => {
      const p = r.predicted[i];
      if (!p) return;
      const agree = Math.sign(m.shift.value) === Math.sign(p.shift) && m.shift.lo * m.shift.hi > 0;
      io.log(`${p.vector}@${p.layer}: measured shift in ${values.tuned} ${f2(m.shift.value)} [${f2(m.shift.lo)}, ${f2(m.shift.hi)}] over ${m.prompts} prompts; ${agree ? 'the sign the screening predicted' : Math.sign(m.shift.value) === Math.sign(p.shift) ? 'the predicted sign, but the interval includes 0' : 'NOT the sign the screening predicted'}`);
    });
    if (measured.length >= 3) {
      const xs = r.predicted.map((p) => p.shift);
      const ys = measured.map((m) => m.shift.value);
      io.log(`across the ${measured.length} vectors, predicted and measured shifts correlate r = ${f2(pearson(xs, ys))}`);
    }
  }
  const ranked = rankSamples(r);
  io.log(`samples pushing most toward ${vectors[0]!.name}:`);
  for (const s of ranked.slice(0, whole('top', values.top))) io.log(`  line ${String(s.line).padStart(6)}  ${f2(s.projections[0]!.difference).padStart(8)}`);
  if (values.filtered) {
    const drop = new Set(ranked.slice(0, whole('drop-top', values['drop-top'])).map((s) => s.line));
    const lines = readFileSync(values.data, 'utf8').split(/\r?\n/);
    const kept = lines.filter((l, i) => l.trim() && !drop.has(i + 1));
    writeFileSync(values.filtered, `${kept.join('\n')}\n`);
    io.log(`wrote ${values.filtered}: ${kept.length} samples (dropped ${drop.size})`);
  }
  if (values.out) writeFileSync(values.out, `${JSON.stringify(measured ? { ...r, measured } : r, null, 2)}\n`);
  return 0;
}

/**
 * Vectors for steering during fine-tuning in PyTorch: tensor `model.layers.L` is added to the
 * output hidden states of that decoder layer (our blocks.L.hook_resid_post, Hugging Face's
 * hidden_states[L + 1]), scaled by the recorded coefficient.
 */
function exportPytorch(values: Record<string, string | boolean | undefined>, io: Out): number {
  const file = values.vectors as string;
  const set = readVectorFile(file);
  const coef = Number(values.coef);
  if (values.coef === undefined || !Number.isFinite(coef)) throw new UserError('vectors export --format pytorch: pass --coef X (the steering coefficient, with its sign)');
  const wanted = typeof values.layers === 'string' ? values.layers.split(',').map((s) => Number(s.trim())) : set.metadata.recommended_layer !== undefined ? [Number(set.metadata.recommended_layer)] : [];
  if (!wanted.length) throw new UserError(`vectors export: ${file} has no recommended layer; pass --layers L[,L]`);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const l of wanted) {
    const v = set.layers.get(l);
    if (!Number.isInteger(l) || !v) throw new UserError(`vectors export: ${file} has no vector for layer ${l} (has ${[...set.layers.keys()].join(', ')})`);
    tensors[`model.layers.${l}`] = { shape: [v.length], data: v };
  }
  writeSafetensors(values.out as string, tensors, {
    format: 'persona-probe steering for training',
    trait: set.metadata.trait ?? '',
    coef: String(coef),
    convention: 'add coef * tensor to the output hidden states of the decoder layer named by the tensor (Hugging Face hidden_states[L + 1]; persona-probe blocks.L.hook_resid_post), at every position',
    source: resolve(file),
  });
  io.log(`wrote ${values.out as string}: ${Object.keys(tensors).join(', ')} (coef ${coef}; add coef * v to each named layer's output while training, as the README's recipe shows)`);
  return 0;
}

function exportCmd(args: string[], io: Out): number {
  const { values } = parseCommand(COMMANDS['vectors export'], args);
  if (values.format === 'pytorch') {
    if (!values.vectors || !values.out) throw new UserError('vectors export: pass --vectors FILE.safetensors --out FILE.safetensors');
    return exportPytorch(values, io);
  }
  if (values.coef !== undefined || values.layers !== undefined) throw new UserError('vectors export: --coef and --layers go with --format pytorch');
  if (values.format !== 'llama.cpp') throw new UserError(`vectors export: unknown format "${values.format}" (known: llama.cpp, pytorch)`);
  if (!values.vectors || !values.out) throw new UserError('vectors export: pass --vectors FILE.safetensors --out FILE.gguf');
  const set = readVectorFile(values.vectors);
  const hint = values['model-hint'] ?? set.metadata.model_hint;
  if (!hint) throw new UserError('vectors export: pass --model-hint ARCH (the llama.cpp architecture name, e.g. llama, qwen2)');
  const layers = values.method === 'pca' ? set.pca : set.layers;
  if (!layers) throw new UserError(`${values.vectors}: has no PCA vectors (extract with --pca)`);
  const scale = Number(values.scale);
  if (!Number.isFinite(scale)) throw new UserError(`vectors export: --scale must be a number`);
  const { written, skipped } = writeControlVector(values.out, layers, hint, scale);
  io.log(`wrote ${values.out}: direction.${written[0]}..direction.${written[written.length - 1]} (${written.length} layers; direction.N is added to the output of block N = blocks.N.hook_resid_post)${skipped.length ? `; layer ${skipped.join(', ')} left out (llama.cpp cannot target block 0)` : ''}`);
  return 0;
}

function importCmd(args: string[], io: Out): number {
  const { values } = parseCommand(COMMANDS['vectors import'], args);
  if (!values.from || !values.out) throw new UserError('vectors import: pass --from FILE.gguf --out FILE.safetensors');
  const set = readVectorFile(values.from);
  writeVectorFile(values.out, { layers: set.layers, metadata: { ...set.metadata, imported_from: resolve(values.from) } });
  io.log(`imported ${set.layers.size} layer(s) (${[...set.layers.keys()].map(residPost).join(', ')}) -> ${values.out}`);
  return 0;
}

function listCmd(rest: string[], io: Out): number {
  const { values, positionals } = parseCommand(COMMANDS['vectors list'], rest);
  if (!positionals[0]) throw new UserError('vectors list: name a vector file (see: persona-probe vectors list --help)');
  const set = readVectorFile(positionals[0]);
  const layers = [...set.layers].sort((a, b) => a[0] - b[0]).map(([layer, v]) => ({ layer, hook: residPost(layer), width: v.length, norm: Math.hypot(...v) }));
  if (values.json) io.log(JSON.stringify({ format: set.format, metadata: set.metadata, layers, pca: set.pca ? [...set.pca.keys()] : [] }, null, 2));
  else {
    io.log(`${positionals[0]}: ${set.format} vectors, ${layers.length} layer(s), width ${layers[0]?.width ?? 0}${set.pca ? `, PCA option at ${set.pca.size} layer(s)` : ''}`);
    for (const [k, v] of Object.entries(set.metadata)) if (k !== 'separation') io.log(`  ${k}: ${v}`);
    for (const l of layers) io.log(`  ${l.hook}  |v| ${l.norm.toFixed(4)}${String(l.layer) === set.metadata.recommended_layer ? '  <- recommended' : ''}`);
  }
  return 0;
}

function traitsCmd(rest: string[], io: Out): number {
  parseCommand(COMMANDS['vectors traits'], rest);
  for (const t of builtinTraits().values()) io.log(`${t.id.padEnd(24)} ${t.pairs.length} pairs, ${t.questions.length} questions  ${t.description}`);
  return 0;
}

export function cmdVectors(args: string[], io: Out): Promise<number> {
  return runGroup('vectors', args, io, {
    extract: (rest) => extract(rest, io),
    monitor: (rest) => monitor(rest, io),
    screen: (rest) => screen(rest, io),
    export: (rest) => exportCmd(rest, io),
    import: (rest) => importCmd(rest, io),
    sweep: (rest) => sweep(rest, io),
    list: (rest) => listCmd(rest, io),
    traits: (rest) => traitsCmd(rest, io),
  });
}
