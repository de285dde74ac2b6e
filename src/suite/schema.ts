import { z } from 'zod';
import { DOMAINS } from '../instruments/types.js';
import { QUALIFIER_LEVELS } from './levels.js';

const level = z.union([
  z.number().min(1).max(5),
  z.string().refine((s) => s.trim().toLowerCase() in QUALIFIER_LEVELS, { message: `expected a number 1..5 or one of: ${Object.keys(QUALIFIER_LEVELS).join(', ')}` }),
]);

const target = z.object(Object.fromEntries(DOMAINS.map((d) => [d, level])) as Record<(typeof DOMAINS)[number], typeof level>).strict();

export const personaSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'ids use letters, digits, _ . -'),
    name: z.string().min(1),
    role: z.string().optional().describe('a role for role + personality conditioning, e.g. "a ship\'s navigator"'),
    description: z.string().default(''),
    target,
    sim: z.object({ fidelity: z.number().min(0).max(1) }).strict().optional().describe('ground truth for the simulated panel only'),
  })
  .strict();

export const methodSchema = z.discriminatedUnion('kind', [
  z.object({ id: z.string(), kind: z.literal('system-prompt'), template: z.string().min(1).describe('placeholders: {name} {role} {description} {traits}') }).strict(),
  z.object({ id: z.string(), kind: z.literal('role-personality'), template: z.string().optional() }).strict(),
]);

export const variantSchema = z
  .object({
    id: z.string(),
    preamble: z.string().default(''),
    postamble: z.string().default(''),
  })
  .strict();

export const instrumentSchema = z
  .object({
    id: z.string(),
    scoring: z.enum(['expected', 'argmax']).default('expected').describe('how option probabilities become an answer'),
    samples: z.number().int().min(1).max(50).default(5).describe('samples per item when the backend has no probabilities'),
    options: z.array(z.string()).length(5).optional().describe('option wording (default: the instrument\'s own)'),
    variants: z.array(variantSchema).min(1).optional(),
    items: z.number().int().min(1).optional().describe('administer only the first N items (quick checks)'),
  })
  .strict();

export const modelSchema = z.union([
  z.string(),
  z
    .object({
      id: z.string().describe('backend:model, e.g. openai:gpt-4o-mini, anthropic:claude-3-5-haiku-latest, llamacpp:./m.gguf, engine:./model-folder, sim:'),
      baseURL: z.string().optional(),
      apiKeyEnv: z.string().optional().describe('name of the environment variable holding the key (the key itself never goes in a suite)'),
      logprobs: z.boolean().optional(),
      timeoutMs: z.number().int().positive().optional(),
      interventions: z.string().optional().describe('engine: only: interventions YAML (add/cap on hook points) applied to every call, relative to the suite file'),
    })
    .strict(),
]);

export const suiteSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    instrument: instrumentSchema,
    personas: z.array(personaSchema).min(1),
    methods: z.array(methodSchema).min(1).default([{ id: 'system-prompt', kind: 'system-prompt', template: 'You are {name}. {description} You are {traits}.' }]),
    baseline: z.boolean().default(true).describe('also administer the instrument with no persona (the default the personas are pulled toward)'),
    models: z.array(modelSchema).min(1).default(['sim:']),
    repetitions: z.number().int().min(1).max(100).default(1),
    seed: z.number().int().default(1),
    run: z
      .object({
        concurrency: z.number().int().min(1).max(256).default(4),
        ratePerMinute: z.number().positive().optional(),
        maxAttempts: z.number().int().min(1).max(20).default(4),
        backoffMs: z.number().int().min(0).default(500).describe('first retry delay; doubles each attempt (with jitter)'),
        timeoutMs: z.number().int().positive().default(60_000),
        temperature: z.number().min(0).max(2).default(1).describe('sampling temperature for sampled scoring'),
      })
      .strict()
      .default({ concurrency: 4, maxAttempts: 4, backoffMs: 500, timeoutMs: 60_000, temperature: 1 }),
  })
  .strict()
  .superRefine((suite, ctx) => {
    const seen = new Set<string>();
    suite.personas.forEach((p, i) => {
      if (seen.has(p.id)) ctx.addIssue({ code: 'custom', path: ['personas', i, 'id'], message: `duplicate persona id "${p.id}"` });
      seen.add(p.id);
    });
  });

export type SuiteInput = z.input<typeof suiteSchema>;
export type Suite = z.output<typeof suiteSchema>;
export type PersonaSpec = z.output<typeof personaSchema>;
export type MethodSpec = z.output<typeof methodSchema>;
export type ModelSpec = z.output<typeof modelSchema>;

/** JSON Schema for editors (yaml-language-server: $schema=...). */
export function suiteJsonSchema(): unknown {
  return z.toJSONSchema(suiteSchema, { io: 'input', unrepresentable: 'any' });
}
