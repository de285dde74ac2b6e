// `neurons find` and `neurons ablate` (commands/neurons.ts).

import { writeFileSync } from 'node:fs';
import { COMMANDS, integerOption, parseCommand, runGroup } from './specs.js';
import { ProgressBar } from './progress.js';
import { UserError } from '../util/errors.js';
import { DOMAINS, type Domain } from '../instruments/types.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { resolveTrait } from '../probes/traits.js';
import { ablateNeurons, findNeurons } from '../commands/neurons.js';
import { compareCheckpoints } from '../commands/checkpoints.js';
import { constructedLines } from '../suite/roles.js';
import type { NeuronScore } from '../metrics/neurons.js';
import type { Out } from './out.js';


const ranking = (title: string, list: readonly NeuronScore[], digits = 3) => [title, ...list.map((x, i) => `  ${String(i + 1).padStart(3)}. neuron ${String(x.neuron).padStart(6)}  ${Number.isFinite(x.score) ? x.score.toFixed(digits) : '—'}`)];

async function find(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['neurons find'], args);
  if (!values.model) throw new UserError('neurons find: pass --model engine:DIR');
  if (!values.trait) throw new UserError('neurons find: pass --trait ID or FILE (see: persona-probe vectors traits)');
  const layer = integerOption('neurons find', 'layer', values.layer);
  let direction: Float32Array | undefined;
  if (values.vectors) {
    const set = readVectorFile(values.vectors);
    direction = set.layers.get(layer);
    if (!direction) throw new UserError(`neurons find: ${values.vectors} has no vector for layer ${layer} (has ${[...set.layers.keys()].join(', ')})`);
  }
  const trait = resolveTrait(values.trait);
  const bar = new ProgressBar(process.stderr, `neurons ${trait.id}`);
  const r = await findNeurons({ model: values.model, base: values.base, layer, trait, direction, top: integerOption('neurons find', 'top', values.top, 1), itemsPerDomain: integerOption('neurons find', 'items', values.items, 1), onProgress: (done, total) => bar.steps(done, total) });
  bar.done();
  for (const line of constructedLines(r.parts)) io.log(line);
  io.log(`${r.hook}: ${r.contexts} contexts (${trait.id}'s instructions, eliciting and suppressing, before each inventory item), read where the answer is given`);
  io.log(ranking('by response to the instruction (mean |eliciting − suppressing| over paired contexts):', r.sensitivity).join('\n'));
  io.log(ranking("by separation (Cohen's d, eliciting vs suppressing):", r.separation, 2).join('\n'));
  if (r.write) io.log(ranking("by write onto the trait vector (mean activation × down-projection column · unit vector):", r.write).join('\n'));
  if (r.change) io.log(ranking(`by change from the base (|what it writes, tuned − base|):`, r.change).join('\n'));
  if (values.out) writeFileSync(values.out, `${JSON.stringify(r, null, 2)}\n`);
  return 0;
}

async function ablate(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['neurons ablate'], args);
  if (!values.model) throw new UserError('neurons ablate: pass --model engine:DIR');
  const layer = integerOption('neurons ablate', 'layer', values.layer);
  if (!values.neurons) throw new UserError('neurons ablate: pass --neurons N[,N] (indices in blocks.L.mlp.hook_post)');
  const neurons = values.neurons.split(',').map((s) => s.trim()).filter(Boolean).map((s) => integerOption('neurons ablate', 'neurons', s));
  const domain = values.domain?.toUpperCase();
  if (!domain || !(DOMAINS as readonly string[]).includes(domain)) throw new UserError(`neurons ablate: --domain must be one of ${DOMAINS.join(', ')}, got ${values.domain === undefined ? 'nothing' : `"${values.domain}"`}`);
  const bar = new ProgressBar(process.stderr, 'neurons ablate');
  const r = await ablateNeurons({ model: values.model, base: values.base, layer, neurons, domain: domain as Domain, random: integerOption('neurons ablate', 'random', values.random, 1), seed: integerOption('neurons ablate', 'seed', values.seed), itemsPerDomain: integerOption('neurons ablate', 'items', values.items, 1), onProgress: (done, total) => bar.steps(done, total) });
  bar.done();
  const row = (label: string, c: typeof r.none) => `${label.padEnd(34)} score ${c.score.toFixed(3)}  effect ${c.effect >= 0 ? '+' : ''}${c.effect.toFixed(3)}${c.shift !== undefined ? `  shift from the base ${c.shift >= 0 ? '+' : ''}${c.shift.toFixed(3)}` : ''}`;
  for (const line of constructedLines(r.parts)) io.log(line);
  io.log(`${r.domain} score over ${r.items} items, blocks.${r.layer}.mlp.hook_post:`);
  io.log(row('nothing switched off', r.none));
  io.log(row(`neurons ${neurons.join(',')} off`, r.top));
  for (const c of r.random) io.log(row(`random ${c.neurons.join(',')} off`, c));
  if (values.out) writeFileSync(values.out, `${JSON.stringify(r, null, 2)}\n`);
  return 0;
}

async function compare(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['checkpoints compare'], args);
  if (!values.base || !values.tuned) throw new UserError('checkpoints compare: pass --base engine:DIR and --tuned engine:DIR');
  const bar = new ProgressBar(process.stderr, 'checkpoints compare');
  const r = await compareCheckpoints({
    base: values.base,
    tuned: values.tuned,
    vectors: values.vectors?.split(',').map((s) => s.trim()).filter(Boolean),
    itemsPerDomain: integerOption('checkpoints compare', 'items', values.items, 1),
    seed: integerOption('checkpoints compare', 'seed', values.seed),
    ...(values.trait ? { trait: resolveTrait(values.trait) } : {}),
    ...(values.judge ? { judge: values.judge } : {}),
    questions: integerOption('checkpoints compare', 'questions', values.questions, 1),
    maxTokens: integerOption('checkpoints compare', 'max-tokens', values['max-tokens'], 1),
    onProgress: (done, total) => bar.steps(done, total),
  });
  bar.done();
  const iv = (e: { value: number; lo: number; hi: number }) => `${e.value >= 0 ? '+' : ''}${e.value.toFixed(3)} ${Number.isFinite(e.lo) ? `[${e.lo.toFixed(3)}, ${e.hi.toFixed(3)}]` : '(no interval from one value)'}`;
  for (const line of constructedLines(r.parts)) io.log(line);
  for (const p of r.parts.filter((x) => x.simulated)) io.log(`SIMULATION: the ${p.role} (${p.backend}) is the simulated panel, not a language model; it cannot judge the models' text, and its judgments are not a measurement.`);
  io.log(`${r.tuned} against ${r.base}: shift (tuned − base) with 95% intervals over items`);
  for (const d of r.domains) io.log(`  ${d.domain}  ${d.base.toFixed(3)} -> ${d.tuned.toFixed(3)}  ${iv(d.shift)}  (${d.items} items)`);
  for (const p of r.projections) io.log(`  projection on ${p.vector} at blocks.${p.layer}.hook_resid_post: ${p.base.toFixed(3)} -> ${p.tuned.toFixed(3)}  ${iv(p.shift)}`);
  if (r.judged) io.log(`  judged ${r.judged.trait} (0..100, ${r.judged.judge}): ${r.judged.n ? `${r.judged.base.toFixed(1)} -> ${r.judged.tuned.toFixed(1)}  ${iv(r.judged.shift)}  (${r.judged.n} questions judged on both` : `no question judged on both models (${r.judged.n} questions`}${r.judged.failures ? `; ${r.judged.failures} judgments unreadable` : ''})`);
  if (values.out) writeFileSync(values.out, `${JSON.stringify(r, null, 2)}\n`);
  return 0;
}

export function cmdCheckpoints(args: string[], io: Out): Promise<number> {
  return runGroup('checkpoints', args, io, { compare: (rest) => compare(rest, io) });
}

export function cmdNeurons(args: string[], io: Out): Promise<number> {
  return runGroup('neurons', args, io, { find: (rest) => find(rest, io), ablate: (rest) => ablate(rest, io) });
}
