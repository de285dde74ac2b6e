// The Assistant axis (after Lu et al., "The Assistant Axis"): many role archetypes
// and the unconditioned default answer a shared question set; each role's vector is
// the mean of its answers' activations (hook_resid_post over answer tokens, per layer);
// PCA across roles shows the main dimensions of persona space; the axis is
// mean(default) - mean(roles), per layer, with its cosine to PC1. Capping thresholds
// come from percentiles of the default assistant's own projections on the axis.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { stringify } from 'yaml';
import { storedMean, type CallCounters } from '../backends/types.js';
import { decodeActivations } from '../backends/responses.js';
import { type RunRole } from '../suite/roles.js';
import { readVectorFile, residPost, writeVectorFile } from '../engine/formats/vector-files.js';
import { cosine, differenceOfMeans, meanOf, percentile, principalComponents, projections, type Vec } from '../metrics/vectors.js';
import { UserError } from '../util/errors.js';
import { parseValidatedYaml } from '../util/yaml.js';

export const ROLES_FILE = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'content', 'roles.yaml');

const rolesSchema = z
  .object({
    version: z.number().int(),
    instructions: z.array(z.string().min(1)).min(1),
    questions: z.array(z.string().min(1)).min(1),
    roles: z.array(z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/), name: z.string().min(1), description: z.string().min(1) }).strict()).min(2),
  })
  .strict();

export type RoleSet = z.output<typeof rolesSchema>;

export function loadRoles(file = ROLES_FILE): RoleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${file}: cannot read roles (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const { data, errorAt } = parseValidatedYaml(text, file, rolesSchema);
  const seen = new Set<string>();
  data.roles.forEach((r, i) => {
    if (seen.has(r.id)) throw errorAt(['roles', i, 'id'], `duplicate role "${r.id}"`);
    seen.add(r.id);
  });
  return data;
}

export const roleInstruction = (template: string, role: { name: string; description: string }) => template.replaceAll('{name}', role.name).replaceAll('{description}', role.description);

export interface AxisLayer {
  layer: number;
  /** Share of variance across role vectors explained by each top component. */
  explained: number[];
  /** Cosine of the axis with PC1 (sign: PC1 is oriented toward the default). */
  cosinePc1: number;
  norm: number;
}

export interface AxisResult {
  runId: string;
  resumed: boolean;
  model: string;
  roles: string[];
  layers: AxisLayer[];
  axis: Map<number, Float32Array>;
  /** Per layer: each role's and the default's coordinates on PC1 and PC2 (the role map). */
  map: Record<number, { id: string; pc1: number; pc2: number }[]>;
  /** Per layer: the default assistant's answers projected on the unit axis. */
  defaultProjections: Record<number, number[]>;
  /** Per layer, per default answer (in the order of defaultProjections): each token's projection on the unit axis (engine: only). */
  defaultTokenProjections?: Record<number, number[][]>;
  counters: CallCounters;
  /** Which backend generated and was read; a simulated one makes the result a simulation. */
  parts: RunRole[];
  /** With a role-play judge: how its verdicts fell (only "full" answers were kept). */
  rolePlay?: { full: number; partial: number; none: number; unparsed: number };
  /** How many neutral system prompts the default also answered under (0: no system prompt only). */
  neutralPrompts?: number;
}

export const DEFAULT_ROLE = '__default__';

/**
 * Neutral system prompts the default assistant also answers under (the Assistant-axis reference
 * code pools several such prompts with no system prompt at all). This project's own wording.
 */
export const NEUTRAL_PROMPTS = [
  'You are a helpful assistant.',
  'You are an AI assistant.',
  'You are a large language model.',
  'Respond as yourself.',
];

/** The judge's prompt for whether an answer plays its role (the axis' role-play filter). */
export const ROLE_PLAY_PROMPT = (role: { name: string; description: string }, question: string, answer: string) => `Role: ${role.name} (${role.description}).
Does the answer below speak fully as this role, partly, or not at all (as a generic assistant, or refusing)?
Answer with one line: ROLE: full | partial | none

QUESTION: ${question}
<<<ANSWER
${answer}
>>>`;

/** A role-play verdict, or undefined when the judge's reply says none of the three. */
export function parseRolePlay(text: string): 'full' | 'partial' | 'none' | undefined {
  const m = /ROLE:\s*(full|partial|none)\b/i.exec(text);
  return m ? (m[1]!.toLowerCase() as 'full' | 'partial' | 'none') : undefined;
}

/**
 * The default band of layers to cap: a contiguous stretch of the middle-to-late layers, as a
 * fraction of depth (the Assistant-axis paper caps layers 46 to 53 of Qwen3-32B's 64, about 0.72 to
 * 0.83 of the way through). Overridable by --band or --layers.
 */
export const DEFAULT_CAP_BAND: [number, number] = [0.72, 0.83];

/** The layers [round(from·L), round(to·L)] of a model with L layers (at least one). */
export function bandLayers(layerCount: number, band: readonly [number, number] = DEFAULT_CAP_BAND): number[] {
  const [from, to] = band;
  if (!(from >= 0 && to <= 1 && from <= to)) throw new UserError(`the layer band must be two fractions 0 <= from <= to <= 1, got ${from}-${to}`);
  const a = Math.min(layerCount - 1, Math.round(from * layerCount));
  const b = Math.max(a, Math.min(layerCount - 1, Math.round(to * layerCount)));
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** Pure: from stored activations, the per-role vectors, PCA, the axis and the default's projections. */
export function computeAxis(responses: ReadonlyMap<string, unknown>, roleIds: string[], jobs: readonly { role: string; key: string }[], k: number): Pick<AxisResult, 'layers' | 'axis' | 'map' | 'defaultProjections'> {
  const byRole = new Map<string, Map<number, Vec[]>>();
  for (const j of jobs) {
    const acts = decodeActivations(responses.get(`${j.key}|acts`));
    if (!acts) continue;
    const perLayer = byRole.get(j.role) ?? new Map<number, Vec[]>();
    byRole.set(j.role, perLayer);
    for (const hook of Object.keys(acts.means)) {
      const m = /^blocks\.(\d+)\.hook_resid_post$/.exec(hook);
      if (!m) continue;
      const l = Number(m[1]);
      perLayer.set(l, [...(perLayer.get(l) ?? []), [...storedMean(acts, hook)!]]);
    }
  }
  const present = roleIds.filter((r) => byRole.has(r));
  const defaults = byRole.get(DEFAULT_ROLE);
  if (!defaults || present.length < 2) throw new UserError(`the axis needs the default and at least two roles with answers (have ${present.length} role(s)${defaults ? '' : ', no default'})`);
  const layerIds = [...defaults.keys()].sort((a, b) => a - b);
  const layers: AxisLayer[] = [];
  const axis = new Map<number, Float32Array>();
  const map: AxisResult['map'] = {};
  const defaultProjections: AxisResult['defaultProjections'] = {};
  for (const l of layerIds) {
    const roleVectors = present.map((r) => meanOf(byRole.get(r)!.get(l)!));
    const defaultMean = meanOf(defaults.get(l)!);
    // mean(default activations) - mean(role vectors): each role weighs the same however many answers it has.
    const a = differenceOfMeans([defaultMean], roleVectors);
    axis.set(l, Float32Array.from(a));
    const pca = principalComponents(roleVectors, k);
    let pc1 = pca.components[0]!;
    if (projections([defaultMean], pc1)[0]! < projections([pca.mean], pc1)[0]!) pc1 = pc1.map((x) => -x);
    const pc2 = pca.components[1] ?? pc1.map(() => 0);
    const coord = (v: Vec) => ({ pc1: projections([v.map((x, i) => x - pca.mean[i]!)], pc1)[0]!, pc2: pca.components[1] ? projections([v.map((x, i) => x - pca.mean[i]!)], pc2)[0]! : 0 });
    map[l] = [...present.map((r, i) => ({ id: r, ...coord(roleVectors[i]!) })), { id: DEFAULT_ROLE, ...coord(defaultMean) }];
    defaultProjections[l] = projections(defaults.get(l)!, a);
    layers.push({ layer: l, explained: pca.explained, cosinePc1: cosine(a, pc1), norm: Math.hypot(...a) });
  }
  return { layers, axis, map, defaultProjections };
}

export function saveAxis(path: string, r: AxisResult): void {
  writeVectorFile(path, {
    layers: r.axis,
    metadata: {
      kind: 'assistant-axis',
      model: r.model,
      roles: String(r.roles.length),
      definition: 'mean(default assistant answer activations) - mean(role vectors), hook_resid_post over answer tokens',
      cosine_pc1: JSON.stringify(Object.fromEntries(r.layers.map((l) => [l.layer, l.cosinePc1]))),
      explained: JSON.stringify(Object.fromEntries(r.layers.map((l) => [l.layer, l.explained]))),
      default_projections: JSON.stringify(r.defaultProjections),
      ...(r.defaultTokenProjections ? { default_token_projections: JSON.stringify(r.defaultTokenProjections) } : {}),
      run: r.runId,
    },
  });
}

/**
 * Capping thresholds from the default assistant's own projections: for each chosen
 * layer, a floor at the p-th percentile on the axis (a ceiling at minus that value
 * along the opposite vector is the same operation). Returns interventions YAML text.
 */
export function capConfig(axisFile: string, layers: number[], percentileValue = 25, calibrate: 'token' | 'answer' = 'token'): string {
  const set = readVectorFile(axisFile);
  const byAnswer = JSON.parse(set.metadata.default_projections ?? 'null') as Record<string, number[]> | null;
  if (!byAnswer) throw new UserError(`${axisFile}: no default_projections in its metadata (build it with persona-probe axis build)`);
  const byToken = JSON.parse(set.metadata.default_token_projections ?? 'null') as Record<string, number[][]> | null;
  if (calibrate === 'token' && !byToken) throw new UserError(`${axisFile}: no per-token projections of the default (an axis built before they were kept, or not on engine:); rebuild it, or pass --calibrate answer`);
  const entries = layers.map((l) => {
    const ps = calibrate === 'token' ? byToken![String(l)]?.flat() : byAnswer[String(l)];
    if (!ps?.length || !set.layers.has(l)) throw new UserError(`${axisFile}: no axis for layer ${l} (has ${[...set.layers.keys()].join(', ')})`);
    return { hook: residPost(l), op: 'cap', vector: { file: resolve(axisFile), tensor: residPost(l) }, min: Number(percentile(ps, percentileValue).toPrecision(7)), positions: 'all' };
  });
  const over = calibrate === 'token' ? "every token of the default assistant's own answers (the distribution capping acts on)" : "the default assistant's answers, each averaged over its tokens (narrower than the per-token distribution capping acts on)";
  const header = `# Activation capping on the Assistant axis (${axisFile}).\n# A FLOOR: each listed layer's projection on the unit axis is kept at or above the\n# ${percentileValue}th percentile of ${over}. (The same operation seen from the\n# opposite vector -axis is a ceiling at minus that value.)\n`;
  return header + stringify(entries);
}
