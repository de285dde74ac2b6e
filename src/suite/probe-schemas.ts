// Suite blocks for the multi-turn probes: judges, stickiness under adversarial
// pressure, and consistency. Cross-references (a condition's persona, a judge id,
// an attack family) are checked in load.ts, where the file's line numbers are known.

import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'ids use letters, digits, _ . -');

/** A judge: any backend, pinned (temperature, seed) and repeated so its own variance is measured. */
export const judgeSchema = z
  .object({
    id,
    model: z.string().describe('a model entry\'s name or id from `models`, or any backend id (e.g. openai:gpt-4o, sim:judgeNoise=0.5)'),
    temperature: z.number().min(0).max(2).default(0),
    seed: z.number().int().default(1),
    repeats: z.number().int().min(1).max(20).default(3).describe('each judgment is asked this many times, each with its own seed (seed + repeat), and the spread is reported beside the score; at temperature 0 repeats would be identical, so a judgment is asked once'),
    maxTokens: z.number().int().min(8).max(4096).default(200),
  })
  .strict();

export const conditionSchema = z
  .object({
    id,
    persona: z.string().describe('persona id'),
    model: z.string().optional().describe('a model entry\'s name or id (default: the only model)'),
    method: z.string().default('system-prompt').describe('a method id, or "none" for a persona installed in the model itself (no system prompt)'),
    default_model: z.string().optional().describe('the model whose unconditioned answers define "the default" (default: this condition\'s model)'),
    sim: z
      .object({
        fidelity: z.number().min(0).max(1).optional(),
        decay: z.union([z.number().min(0).max(1), z.record(z.string(), z.number().min(0).max(1))]).optional(),
      })
      .strict()
      .optional()
      .describe('ground truth for the simulated panel only (overrides the persona\'s)'),
  })
  .strict();

export const stickinessSchema = z
  .object({
    conditions: z.array(conditionSchema).min(1),
    attacks: z.array(z.string()).min(1).optional().describe('attack families to run (default: every family in the library and attack_files)'),
    attack_files: z.array(z.string()).default([]).describe('YAML files adding attack families, relative to the suite'),
    adaptive: z
      .object({
        model: z.string().describe('the attacker: a model entry\'s name or id, or any backend id'),
        brief: z.string().optional().describe('the attacker\'s written brief (default: the project\'s)'),
        temperature: z.number().min(0).max(2).default(0.8),
      })
      .strict()
      .optional()
      .describe('adds the "adaptive" family: a backend plays the attacker, turn by turn'),
    turns: z.number().int().min(1).max(30).default(5).describe('attack turns per conversation (after the opening, turn 0)'),
    conversations: z.number().int().min(1).max(200).default(2).describe('conversations per condition and attack family'),
    opening: z.string().default('Hi! Before we start, tell me a little about yourself and how you like to work.'),
    temperature: z.number().min(0).max(2).default(0.7).describe('persona replies (seeded per conversation)'),
    max_tokens: z.number().int().min(1).max(4096).default(200),
    retention: z
      .object({
        inventory: z
          .union([z.literal(false), z.object({ items_per_domain: z.number().int().min(1).max(24).default(4) }).strict()])
          .default({ items_per_domain: 4 })
          .describe('short inventory re-administered in a fork after each turn'),
        judge: z.string().optional().describe('judge id rating adherence to the persona after each turn'),
        activations: z
          .object({
            hook: z.string().describe('e.g. blocks.3.hook_resid_post'),
            vector: z.string().optional().describe('a persona-vector file (vectors extract) to project on, instead of the persona-minus-default direction; relative to the suite'),
          })
          .strict()
          .optional()
          .describe('engine: only: projection of each reply onto the persona-minus-default direction'),
      })
      .strict()
      .default({ inventory: { items_per_domain: 4 } }),
    break_threshold: z.number().min(0).max(1).default(0.5).describe('a conversation breaks at the first turn its retention falls below this'),
    compare: z.array(z.tuple([z.string(), z.string()])).optional().describe('pairs of condition ids to compare (default: every pair)'),
  })
  .strict();

const dialogueSchema = z
  .object({
    turns: z.number().int().min(2).max(40).default(8),
    conversations: z.number().int().min(1).max(200).default(2),
    qa: z
      .object({
        every: z.number().int().min(1).default(2).describe('ask the backstory questions after every k turns'),
        questions: z.number().int().min(1).max(20).default(4),
        generator: z.string().optional().describe('judge id that writes the questions from the backstory when a persona has no `qa`'),
      })
      .strict()
      .optional(),
  })
  .strict();

export const consistencySchema = z
  .object({
    personas: z.array(z.string()).optional().describe('default: every persona'),
    models: z.array(z.string()).optional().describe('model names or ids (default: every model)'),
    method: z.string().default('system-prompt'),
    judge: z.string().optional().describe('judge id for contradictions and behavior ratings'),
    interlocutor: z.string().optional().describe('who plays the user: a model name or id (default: the persona\'s own model, briefed as a curious stranger)'),
    temperature: z.number().min(0).max(2).default(0.7),
    max_tokens: z.number().int().min(1).max(4096).default(200),
    dialogue: dialogueSchema.optional().describe('prompt-to-line, line-to-line and Q&A consistency'),
    regeneration: z.object({ seeds: z.number().int().min(2).max(100).default(5), items_per_domain: z.number().int().min(1).max(24).default(4) }).strict().optional(),
    tenancy: z
      .object({
        turns: z.number().int().min(1).max(40).default(4),
        one_context: z.boolean().default(true).describe('also several personas in one context: a group scene voicing each in turn, and handovers from one persona to the next'),
        items_per_domain: z.number().int().min(1).max(24).default(2).describe('short inventory after a handover and for each persona alone (traits that carry over)'),
      })
      .strict()
      .optional()
      .describe('interleaved personas on one instance vs each alone; several personas in one context'),
    self_report: z.object({ turns: z.number().int().min(1).max(40).default(4), items_per_domain: z.number().int().min(1).max(24).default(4) }).strict().optional(),
    twenty_questions: z.object({ games: z.number().int().min(1).max(100).default(2) }).strict().optional(),
  })
  .strict();

export type JudgeSpec = z.output<typeof judgeSchema>;
export type ConditionSpec = z.output<typeof conditionSchema>;
export type StickinessSpec = z.output<typeof stickinessSchema>;
export type ConsistencySpec = z.output<typeof consistencySchema>;

export const TWIN_STYLES = ['demographics', 'demographics+answers', 'description'] as const;

export const twinsSchema = z
  .object({
    dataset: z.union([
      z
        .object({
          layout: z.enum(['big5-osp', 'sapa-spi']).describe('a known public layout'),
          file: z.string().describe('data file, relative to the suite'),
        })
        .strict(),
      z
        .object({
          layout: z.literal('generic').describe('any respondents-by-items CSV/TSV, described by a column map'),
          file: z.string(),
          id: z.string().optional().describe('respondent id column'),
          scale: z.object({ min: z.number().int(), max: z.number().int(), labels: z.array(z.string()).optional() }).strict(),
          missing: z.array(z.union([z.string(), z.number()])).optional().describe('codes meaning no answer (besides empty and NA)'),
          items: z.array(z.object({ column: z.string(), text: z.string(), domain: z.enum(['O', 'C', 'E', 'A', 'N']), keyed: z.enum(['plus', 'minus']).default('plus') }).strict()).min(2),
          covariates: z.array(z.object({ column: z.string(), name: z.string().optional(), kind: z.enum(['number', 'category']), min: z.number().optional(), max: z.number().optional(), labels: z.record(z.string(), z.string()).optional() }).strict()).default([]),
          group: z.string().optional().describe('the covariate whose groups compression and amplification are reported by (default: the first category)'),
        })
        .strict(),
    ]),
    covariates: z.array(z.string()).optional().describe('covariates the model is told (default: the layout\'s age, sex/gender and one more)'),
    given_per_domain: z.number().int().min(0).max(20).default(4).describe('items per domain given as the person\'s known answers'),
    respondents: z.number().int().min(2).max(100000).default(20).describe('people sampled (seeded) whose held-out items are predicted'),
    held_out_items: z.number().int().min(1).optional().describe('predict only the first N held-out items (cost control)'),
    styles: z.array(z.enum(TWIN_STYLES)).min(1).default([...TWIN_STYLES]),
    effects: z.array(z.object({ covariate: z.string(), a: z.union([z.string(), z.number()]), b: z.union([z.string(), z.number()]) }).strict()).optional().describe('group differences to replicate (default: female vs male)'),
    ceiling: z.union([z.object({ retest: z.string().describe('an EPI-layout retest file (psychTools epiR.csv), relative to the suite') }).strict(), z.object({ value: z.number().min(0).max(1) }).strict()]).optional().describe('human test-retest agreement that normalizes accuracy'),
    seed: z.number().int().default(1),
  })
  .strict();

export type TwinsSpec = z.output<typeof twinsSchema>;
