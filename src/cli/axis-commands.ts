// `persona-probe axis build | cap-config`: the Assistant axis and capping thresholds.

import { COMMANDS, parseCommand, runGroup } from './specs.js';
import { ProgressBar } from './progress.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { bandLayers, capConfig, loadRoles, saveAxis } from '../probes/axis.js';
import { ASSISTANT_AXIS_PRESET, buildAxis } from '../commands/axis.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import { constructedLines } from '../suite/roles.js';
import { f2 } from '../present/html.js';
import { axisPage, standalone } from '../report/mechanism-html.js';

import type { Out } from './out.js';

const int = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`axis: --${name} must be a positive integer, got "${v}"`);
  return n;
};

async function build(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['axis build'], args);
  if (!values.model) throw new UserError('axis build: pass --model engine:DIR');
  if (!values.out) throw new UserError('axis build: pass --out axis.safetensors');
  if (values.preset !== undefined && values.preset !== 'assistant-axis') throw new UserError(`axis build: --preset must be assistant-axis, got "${values.preset}"`);
  if (values.preset && !values.judge) throw new UserError('axis build: the assistant-axis preset keeps only answers that fully play their role, which a judge decides: pass --judge MODEL');
  const bar = new ProgressBar(process.stderr, 'axis build');
  const r = await buildAxis({
    neutralPrompts: values['neutral-prompts'] || (values.preset ? ASSISTANT_AXIS_PRESET.neutralPrompts : false),
    judge: values.judge,
    outDir: resolve(values.dir ?? values.store ?? 'persona-probe-out'),
    model: values.model,
    roles: values.roles ? loadRoles(values.roles) : undefined,
    roleLimit: int('limit-roles', values['limit-roles']),
    instructionLimit: int('instructions', values.instructions),
    questionLimit: int('questions', values.questions),
    maxTokens: int('max-tokens', values['max-tokens']),
    generateWith: values['generate-with'],
    batch: int('batch', values.batch),
    onProgress: (c) => bar.update(c),
  });
  bar.done();
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  saveAxis(values.out, r);
  if (values.map) writeFileSync(values.map, `${JSON.stringify({ model: r.model, layers: r.layers, map: r.map }, null, 2)}\n`);
  for (const line of constructedLines(r.parts)) io.log(line);
  io.log(`Assistant axis over ${r.roles.length} roles on ${r.model}${r.neutralPrompts ? `; the default pooled over no system prompt and ${r.neutralPrompts} neutral ones` : ''}`);
  if (r.rolePlay) io.log(`role-play judge: ${r.rolePlay.full} answers fully in role (kept), ${r.rolePlay.partial} partly, ${r.rolePlay.none} not at all, ${r.rolePlay.unparsed} unparsable (dropped)`);
  io.log('layer  |axis|     cos(axis, PC1)  variance explained by PC1..PC5');
  for (const l of r.layers) io.log(`${String(l.layer).padStart(5)}  ${l.norm.toFixed(3).padStart(8)}  ${f2(l.cosinePc1).padStart(14)}  ${l.explained.map((x) => f2(x)).join(' ')}`);
  if (values.html) writeFileSync(values.html, await standalone(axisPage(r)));
  io.log(`run ${r.runId}${r.resumed ? ' (resumed)' : ''} · axis: ${values.out}${values.html ? ` · page: ${values.html}` : ''}`);
  return r.counters.errors > 0 ? 1 : 0;
}

function capCmd(args: string[], io: Out): number {
  const { values } = parseCommand(COMMANDS['axis cap-config'], args);
  if (!values.axis) throw new UserError('axis cap-config: pass --axis FILE');
  let layers: number[];
  if (values.layers) {
    layers = values.layers.split(',').map((x) => Number(x.trim()));
    if (layers.some((l) => !Number.isInteger(l) || l < 0)) throw new UserError(`axis cap-config: --layers takes layer numbers, got "${values.layers}"`);
  } else {
    // The default: a contiguous band of the middle-to-late layers, as a fraction of depth.
    const m = /^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*$/.exec(values.band ?? '');
    if (!m) throw new UserError(`axis cap-config: --band takes FROM-TO fractions of depth (e.g. 0.72-0.83), got "${values.band}"`);
    const depth = readVectorFile(values.axis).layers.size;
    layers = bandLayers(depth, [Number(m[1]), Number(m[2])]);
    io.log(`capping layers ${layers.join(', ')}: ${values.band} of the model's ${depth} layers (blocks.L numbering; hidden_states[L + 1] in the papers')`);
  }
  const p = Number(values.percentile);
  if (!(p >= 0 && p <= 100)) throw new UserError(`axis cap-config: --percentile must be 0..100`);
  const calibrate = values.calibrate ?? 'token';
  if (calibrate !== 'token' && calibrate !== 'answer') throw new UserError(`axis cap-config: --calibrate must be token or answer, got "${calibrate}"`);
  const yaml = capConfig(values.axis, layers, p, calibrate);
  if (values.out) {
    writeFileSync(values.out, yaml);
    io.log(`wrote ${values.out}: a floor at the ${p}th percentile of the default assistant's projection (${calibrate === 'token' ? 'per token' : 'per answer'}), layers ${layers.join(', ')}`);
  } else io.log(yaml);
  return 0;
}

export function cmdAxis(args: string[], io: Out): Promise<number> {
  return runGroup('axis', args, io, { build: (rest) => build(rest, io), 'cap-config': (rest) => capCmd(rest, io) });
}
