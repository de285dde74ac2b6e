// CLI commands of the activation engine: `trace` (hooks to safetensors) and
// `make-model` (seeded random-weight model folders for tests and benchmarks).

import { hookWidth } from '../engine/hooks.js';
import { COMMANDS, parseCommand } from './specs.js';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { writeSafetensors, type TensorToWrite } from '../engine/formats/safetensors.js';
import { asFamily, SUPPORTED_ARCHITECTURES, type ArchFamily } from '../engine/arch.js';
import { readConfig, shrinkConfig, streamRandomModelFolder, writeGgufModel, writeRandomModelFolder, type WeightDtype } from '../engine/random-model.js';

import type { Out } from './out.js';
import { makeGlassBoxModel } from './glass-box.js';
import { constructedNote } from '../engine/glass-box.js';

export async function cmdTrace(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['trace'], args);
  if (!values.model) throw new UserError('trace: pass --model DIR (a Hugging Face model folder)');
  if (values.text === undefined) throw new UserError('trace: pass --text "..."');
  if (!values.out) throw new UserError('trace: pass --out FILE.safetensors');
  const { Engine } = await import('../engine/engine.js');
  const { loadInterventionFile } = await import('../engine/interventions.js');
  const engine = await Engine.load(values.model, { threads: values.threads ? Number(values.threads) : undefined });
  try {
    const { describeMemory } = await import('../engine/memory.js');
    io.log(`memory: ${describeMemory(engine.memory)}`);
    const hooks = engine.resolveHooks(values.hooks!);
    const interventions = values.interventions ? loadInterventionFile(values.interventions, engine.spec) : [];
    const ids = values.chat ? engine.tokenizer.chatIds([{ role: 'user', content: values.text }]) : engine.tokenizer.encode(values.text);
    if (ids.length === 0) throw new UserError('trace: the text tokenizes to zero tokens');
    const started = performance.now();
    const r = await engine.forward(ids, { hooks, interventions, logits: 'all' });
    const T = ids.length;
    const tensors = new Map<string, TensorToWrite>();
    for (const h of hooks) tensors.set(h, { shape: [T, hookWidth(h, engine.spec)], data: r.hooks.get(h)! });
    tensors.set('logits', { shape: [T, engine.spec.vocab], data: r.logits });
    tensors.set('input_ids', { shape: [T], data: BigInt64Array.from(ids, BigInt) });
    mkdirSync(dirname(resolve(values.out)), { recursive: true });
    writeSafetensors(values.out, tensors, {
      model: engine.folder.dir,
      chat: String(Boolean(values.chat)),
      hooks: hooks.join(','),
      interventions: values.interventions ? resolve(values.interventions) : '',
    });
    io.log(`traced ${T} tokens, ${hooks.length} hook(s) + logits in ${((performance.now() - started) / 1000).toFixed(2)} s -> ${values.out}`);
    return 0;
  } finally {
    await engine.dispose();
  }
}

export async function cmdMakeModel(args: string[], io: Out): Promise<number> {
  const { values } = parseCommand(COMMANDS['make-model'], args);
  if (!values.like || !values.out) throw new UserError('make-model: pass --like DIR (config.json + tokenizer) and --out DIR');
  if (!existsSync(resolve(values.like, 'config.json'))) throw new UserError(`make-model: ${values.like} has no config.json`);
  const dtype = values.dtype!.toUpperCase() as WeightDtype;
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new UserError(`make-model: --dtype must be F32, F16 or BF16, got ${values.dtype}`);
  const n = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  let config = readConfig(values.like);
  if (values.layers || values.hidden || values.heads || values['kv-heads'] || values.intermediate) {
    config = shrinkConfig(config, { layers: n(values.layers), hidden: n(values.hidden), heads: n(values.heads), kvHeads: n(values['kv-heads']), intermediate: n(values.intermediate) });
  }
  if (values.arch) {
    if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(values.arch)) throw new UserError(`make-model: --arch must be one of ${SUPPORTED_ARCHITECTURES.join(', ')}`);
    config = asFamily(config, values.arch as ArchFamily);
  }
  const started = performance.now();
  if (values['glass-box']) {
    for (const flag of ['gguf', 'shards'] as const) if (values[flag] && values[flag] !== '1') throw new UserError(`make-model: --${flag} does not go with --glass-box`);
    if (dtype !== 'F32') throw new UserError('make-model: a glass-box model is written in F32 (its planted numbers need the precision)');
    const spec = await makeGlassBoxModel(values.out, values.like, {
      arch: values.arch as ArchFamily | undefined,
      shape: { layers: n(values.layers), hidden: n(values.hidden), heads: n(values.heads), kvHeads: n(values['kv-heads']), intermediate: n(values.intermediate) },
      personaFocus: Number(values['persona-focus']),
      personaLayer: Number(values['persona-layer']),
      seed: Number(values.seed),
    });
    io.log(`glass-box ${config.model_type} model (${spec.markers.length} trait words, ${spec.itemWords.length} item words, persona layer ${spec.personaLayer}) -> ${values.out} in ${((performance.now() - started) / 1000).toFixed(1)} s: ${constructedNote(spec)}`);
    return 0;
  }
  const folderOptions = { seed: Number(values.seed), sharpness: Number(values.sharpness), dtype, shards: Number(values.shards) };
  // Streamed, a chunk at a time, unless the same weights are also wanted as GGUF (which needs them all).
  // BF16 folders: a BF16 GGUF, the very same values (llama.cpp's fast CPU path); otherwise F32 GGUF of the stored values.
  if (values.gguf) writeGgufModel(values.gguf, config, writeRandomModelFolder(values.out, config, values.like, folderOptions), values.like, undefined, dtype === 'BF16' ? 'bf16' : undefined);
  else streamRandomModelFolder(values.out, config, values.like, folderOptions);
  io.log(`random-weight ${config.model_type} model (${config.num_hidden_layers} layers, d=${config.hidden_size}, ${dtype}) -> ${values.out}${values.gguf ? ` and ${values.gguf}` : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s (not a trained model: for tests and benchmarks)`);
  return 0;
}
