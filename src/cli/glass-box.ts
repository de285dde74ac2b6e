// Writing a glass-box model folder (src/engine/glass-box.ts): the engine's construction,
// given the project's trait words and an instrument's item prompts as the model will see
// them. Used by `make-model --glass-box`, `demo --glass-box` and the recovery tests.

import { asFamily, type ArchFamily } from '../engine/arch.js';
import { glassBoxConfig, glassBoxWeights, planGlassBox, writeGlassBoxSpec, type GlassBoxOptions, type GlassBoxSpec } from '../engine/glass-box.js';
import { readConfig, shrinkConfig, writeModelFolder, type LlamaLikeConfig } from '../engine/random-model.js';
import { ModelTokenizer } from '../engine/tokenizer.js';
import { getInstrument } from '../instruments/index.js';
import { DEFAULT_VARIANTS, itemPrompt } from '../probes/fidelity.js';
import { MARKERS } from '../suite/levels.js';
import { methodSchema, personaSchema } from '../suite/schema.js';
import { stickinessSchema } from '../suite/probe-schemas.js';
import { conditioningMessages } from '../probes/conditioning.js';
import { attackLibrary, scriptedAttack } from '../probes/attacks.js';
import { bigFiveItem, DOMAINS, requireBigFive, type Domain } from '../instruments/types.js';
import { builtinTraits } from '../probes/traits.js';

export interface MakeGlassBoxOptions extends GlassBoxOptions {
  /** Architecture family (default: the config's). */
  arch?: ArchFamily;
  /** Shape (default: 2 layers, hidden 64, 4 heads, 2 key/value heads, MLP 128). */
  shape?: { layers?: number; hidden?: number; heads?: number; kvHeads?: number; intermediate?: number };
  instrument?: string;
}

/** The glass-box config for a real config: shrunk to `shape`, relabelled to `arch`. */
export function glassBoxConfigLike(likeDir: string, options: Pick<MakeGlassBoxOptions, 'arch' | 'shape'> = {}): LlamaLikeConfig {
  let config = shrinkConfig(readConfig(likeDir), { layers: 2, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, ...options.shape });
  if (options.arch) config = asFamily(config, options.arch);
  return glassBoxConfig(config);
}

/** The Big Five trait files' contrastive instructions, per domain and pole. */
function traitFileText(): Record<Domain, { high: string[]; low: string[] }> {
  const out = Object.fromEntries(DOMAINS.map((d) => [d, { high: [] as string[], low: [] as string[] }])) as Record<Domain, { high: string[]; low: string[] }>;
  for (const trait of builtinTraits().values()) {
    if (!trait.domain || trait.pole !== 'high') continue;
    out[trait.domain].high.push(...trait.pairs.map((p) => p.positive));
    out[trait.domain].low.push(...trait.pairs.map((p) => p.negative));
  }
  return out;
}

/** Text that should carry no personality: the conditioning templates without their traits, the attack scripts and the default opening. */
function neutralText(): string[] {
  const out: string[] = [];
  for (const family of attackLibrary().values()) for (let turn = 1; turn <= family.script.length + 1; turn++) out.push(scriptedAttack(family, turn, 'Name'));
  out.push(stickinessSchema.parse({ conditions: [{ id: 'c', persona: 'p' }] }).opening);
  const persona = personaSchema.parse({ id: 'p', name: 'Name', description: '', target: Object.fromEntries(DOMAINS.map((d) => [d, 3])) });
  out.push(...conditioningMessages(persona, methodSchema.parse({ id: 'r', kind: 'role-personality' })).map((m) => m.content.replace(/neither \w+ nor \w+/g, '')));
  return out;
}

/** Every trait description the conditioning methods write (all levels, both templates). */
function conditioningText(): string[] {
  const out: string[] = [];
  for (const level of [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]) {
    const persona = personaSchema.parse({ id: 'p', name: 'Name', description: '', target: Object.fromEntries(DOMAINS.map((d) => [d, level])) });
    for (const method of [{ id: 'r', kind: 'role-personality' as const }, { id: 's', kind: 'system-prompt' as const, template: 'You are {name}. You are {traits}.' }]) {
      out.push(...conditioningMessages(persona, methodSchema.parse(method)).map((m) => m.content));
    }
  }
  return out;
}

/** Write a glass-box model folder (weights, config, tokenizer, glass-box.json) and return its spec. */
export async function makeGlassBoxModel(dir: string, likeDir: string, options: MakeGlassBoxOptions = {}): Promise<GlassBoxSpec> {
  const config = glassBoxConfigLike(likeDir, options);
  const instrument = getInstrument(options.instrument ?? 'ipip-neo-120');
  const tok = await ModelTokenizer.load(likeDir, []);
  const variant = DEFAULT_VARIANTS[0]!;
  const spec = planGlassBox(
    tok,
    config,
    {
      traitWords: MARKERS,
      moreTraitText: traitFileText(),
      items: requireBigFive(instrument, 'the glass-box model').map((item) => ({ prompt: itemPrompt(item, instrument.options, variant), domain: item.domain, keyed: item.keyed })),
      boilerplate: itemPrompt(bigFiveItem('', '', 'O', 'plus'), instrument.options, variant),
      optionCount: instrument.options.length,
      conditioningText: conditioningText(),
      neutralText: neutralText(),
    },
    options,
  );
  writeModelFolder(dir, config, likeDir, glassBoxWeights(config, spec, options.seed ?? 1));
  writeGlassBoxSpec(dir, spec);
  return spec;
}
