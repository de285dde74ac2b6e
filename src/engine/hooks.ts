// Hook points, named as in TransformerLens: one per point of the residual stream
// and per writer into it. In stream order:
//
//   hook_embed
//   blocks.{L}.hook_resid_pre -> attention -> blocks.{L}.hook_attn_out
//   blocks.{L}.hook_resid_mid  (= resid_pre + attn_out)
//                              -> MLP: blocks.{L}.mlp.hook_post (its hidden activations, act(gate) * up,
//                                 [tokens, intermediate_size]: the input of the down projection)
//                              -> blocks.{L}.hook_mlp_out
//   blocks.{L}.hook_resid_post (= resid_mid + mlp_out; = resid_pre of L+1)
//   ln_final.hook_normalized   (final RMSNorm with its weight: what the unembedding reads)

import { UserError } from '../util/errors.js';

export const BLOCK_HOOKS = ['hook_resid_pre', 'hook_attn_out', 'hook_resid_mid', 'mlp.hook_post', 'hook_mlp_out', 'hook_resid_post'] as const;

/** The MLP's hidden activations (one value per neuron); the one hook where neuron interventions act. */
export const MLP_POST = 'mlp.hook_post';

/** A hook's width: the MLP's hidden size for mlp.hook_post, d_model for every point of the residual stream. */
export function hookWidth(name: string, spec: { dModel: number; ffn: number }): number {
  return name.endsWith(`.${MLP_POST}`) ? spec.ffn : spec.dModel;
}
export type BlockHook = (typeof BLOCK_HOOKS)[number];

export const HOOK_EMBED = 'hook_embed';
export const HOOK_FINAL = 'ln_final.hook_normalized';

export function blockHook(layer: number, hook: BlockHook): string {
  return `blocks.${layer}.${hook}`;
}

/** Every hook name of a model with `layers` blocks, in stream order. */
export function allHookNames(layers: number): string[] {
  const names = [HOOK_EMBED];
  for (let l = 0; l < layers; l++) for (const h of BLOCK_HOOKS) names.push(blockHook(l, h));
  names.push(HOOK_FINAL);
  return names;
}

/**
 * Expand a comma-separated list of hook names and patterns (`*` matches a layer
 * number or any run of characters within one dotted part) into names, in stream
 * order. An entry that matches nothing is an error naming it.
 */
export function resolveHooks(spec: string | string[], layers: number): string[] {
  const entries = (Array.isArray(spec) ? spec : spec.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const all = allHookNames(layers);
  const chosen = new Set<string>();
  for (const entry of entries) {
    const re = new RegExp(`^${entry.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^.]*')}$`);
    const hits = all.filter((n) => re.test(n));
    if (hits.length === 0) {
      const layerMatch = /^blocks\.(\d+)\./.exec(entry);
      const why = layerMatch && Number(layerMatch[1]) >= layers ? ` (the model has layers 0-${layers - 1})` : ` (hooks: ${HOOK_EMBED}, blocks.{L}.{${BLOCK_HOOKS.join(',')}}, ${HOOK_FINAL})`;
      throw new UserError(`unknown hook name "${entry}"${why}`);
    }
    for (const h of hits) chosen.add(h);
  }
  return all.filter((n) => chosen.has(n));
}
