// `persona-probe axis build | cap-config`: the Assistant axis and capping thresholds.

import { COMMANDS, parseCommand, runGroup } from './specs.js';
import { ProgressBar } from './progress.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { capConfig, loadRoles, saveAxis } from '../probes/axis.js';
import { buildAxis } from '../commands/axis.js';
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
  const bar = new ProgressBar(process.stderr, 'axis build');
  const r = await buildAxis({
    outDir: resolve(values.dir ?? values.store ?? 'persona-probe-out'),
    model: values.model,
    roles: values.roles ? loadRoles(values.roles) : undefined,
    roleLimit: int('limit-roles', values['limit-roles']),
    instructionLimit: int('instructions', values.instructions),
    questionLimit: int('questions', values.questions),
    maxTokens: int('max-tokens', values['max-tokens']),
    generateWith: values['generate-with'],
    onProgress: (c) => bar.update(c),
  });
  bar.done();
  mkdirSync(dirname(resolve(values.out)), { recursive: true });
  saveAxis(values.out, r);
  if (values.map) writeFileSync(values.map, `${JSON.stringify({ model: r.model, layers: r.layers, map: r.map }, null, 2)}\n`);
  for (const line of constructedLines(r.parts)) io.log(line);
  io.log(`Assistant axis over ${r.roles.length} roles on ${r.model}`);
  io.log('layer  |axis|     cos(axis, PC1)  variance explained by PC1..PC5');
  for (const l of r.layers) io.log(`${String(l.layer).padStart(5)}  ${l.norm.toFixed(3).padStart(8)}  ${f2(l.cosinePc1).padStart(14)}  ${l.explained.map((x) => f2(x)).join(' ')}`);
  if (values.html) writeFileSync(values.html, await standalone(axisPage(r)));
  io.log(`run ${r.runId}${r.resumed ? ' (resumed)' : ''} · axis: ${values.out}${values.html ? ` · page: ${values.html}` : ''}`);
  return r.counters.errors > 0 ? 1 : 0;
}

function capCmd(args: string[], io: Out): number {
  const { values } = parseCommand(COMMANDS['axis cap-config'], args);
  if (!values.axis || !values.layers) throw new UserError('axis cap-config: pass --axis FILE --layers L[,L...]');
  const layers = values.layers.split(',').map((x) => Number(x.trim()));
  if (layers.some((l) => !Number.isInteger(l) || l < 0)) throw new UserError(`axis cap-config: --layers takes layer numbers, got "${values.layers}"`);
  const p = Number(values.percentile);
  if (!(p >= 0 && p <= 100)) throw new UserError(`axis cap-config: --percentile must be 0..100`);
  const yaml = capConfig(values.axis, layers, p);
  if (values.out) {
    writeFileSync(values.out, yaml);
    io.log(`wrote ${values.out}: a floor at the ${p}th percentile of the default assistant's projection, layers ${layers.join(', ')}`);
  } else io.log(yaml);
  return 0;
}

export function cmdAxis(args: string[], io: Out): Promise<number> {
  return runGroup('axis', args, io, { build: (rest) => build(rest, io), 'cap-config': (rest) => capCmd(rest, io) });
}
