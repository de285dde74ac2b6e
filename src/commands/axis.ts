// The Assistant-axis command's orchestration: generation and activation reads through the
// run store; the axis itself is computed by the probe (probes/axis.ts).

import { createBackend } from '../backends/registry.js';
import { unit } from '../metrics/vectors.js';
import type { Backend, CallCounters, ChatMessage } from '../backends/types.js';
import { runRoles } from '../suite/roles.js';
import { commandSettings, StoreCalls } from '../runner/context.js';
import { batchEngineGeneration } from './engine-parts.js';
import { RunStore } from '../store/store.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { UserError } from '../util/errors.js';
import { hashOf } from '../util/hash.js';
import { textOf, turnSeed } from '../probes/dialogue.js';
import { computeAxis, DEFAULT_ROLE, loadRoles, NEUTRAL_PROMPTS, parseRolePlay, ROLE_PLAY_PROMPT, roleInstruction, type AxisResult, type RoleSet } from '../probes/axis.js';

/**
 * The Assistant-axis paper's pipeline as far as this project follows it: the default assistant
 * answers with no system prompt and under several neutral ones, and a judge keeps only the role
 * answers that fully play their role. Any setting can be given explicitly.
 */
export const ASSISTANT_AXIS_PRESET: Required<Pick<AxisOptions, 'neutralPrompts'>> & { requiresJudge: true } = { neutralPrompts: true, requiresJudge: true };

export interface AxisOptions {
  outDir: string;
  model: string;
  roles?: RoleSet;
  /** Use only the first N roles / instructions / questions (quick runs). */
  roleLimit?: number;
  instructionLimit?: number;
  questionLimit?: number;
  generateWith?: string;
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  components?: number;
  /** The default also answers under the neutral system prompts (NEUTRAL_PROMPTS), pooled with no prompt. */
  neutralPrompts?: boolean;
  /** A judge of role-play: only answers it says fully play their role are kept (the default is not judged). */
  judge?: string;
  concurrency?: number;
  /** Answers the engine decodes together when it writes them (default GENERATION_BATCH; 1: one at a time). */
  batch?: number;
  onProgress?: (c: Readonly<CallCounters>) => void;
}

export async function buildAxis(o: AxisOptions): Promise<AxisResult> {
  const set = o.roles ?? loadRoles();
  const roles = set.roles.slice(0, o.roleLimit ?? set.roles.length);
  const instructions = set.instructions.slice(0, o.instructionLimit ?? set.instructions.length);
  const questions = set.questions.slice(0, o.questionLimit ?? set.questions.length);
  const options = { maxTokens: o.maxTokens ?? 64, temperature: o.temperature ?? 0.7, seed: o.seed ?? 1, components: o.components ?? 5, neutralPrompts: o.neutralPrompts ?? false };
  const engine = await createBackend(o.model.startsWith('engine:') ? o.model : `engine:${o.model}`);
  if (!engine.capabilities.activations) throw new UserError(`${o.model}: the axis needs the engine: backend`);
  const generator: Backend = o.generateWith ? await createBackend(o.generateWith) : engine;
  const judge: Backend | undefined = o.judge ? await createBackend(o.judge) : undefined;
  const config = { kind: 'assistant-axis', model: engine.id, generator: generator.id, roles, instructions, questions, ...options, ...(judge ? { judge: judge.id } : {}) };
  const runId = hashOf(config).slice(0, 12);
  const store = new RunStore(o.outDir);
  try {
    const roleList = runRoles({ model: engine, generator, judge });
    const { resumed } = store.startRun({ id: runId, suiteName: 'assistant-axis', suitePath: null, config, models: [engine.id], simulated: roleList.some((r) => r.simulated) });
    store.putResult(runId, 'roles', roleList);
    const jobs: { role: string; system: string | null; q: number; key: string }[] = [];
    for (const r of roles) instructions.forEach((t, i) => questions.forEach((_, q) => jobs.push({ role: r.id, system: roleInstruction(t, r), q, key: `ax|${r.id}|i${i}|q${q}` })));
    questions.forEach((_, q) => jobs.push({ role: DEFAULT_ROLE, system: null, q, key: `ax|${DEFAULT_ROLE}|q${q}` }));
    if (options.neutralPrompts) NEUTRAL_PROMPTS.forEach((n, k) => questions.forEach((_, q) => jobs.push({ role: DEFAULT_ROLE, system: n, q, key: `ax|${DEFAULT_ROLE}|n${k}|q${q}` })));
    const roleJobs = jobs.filter((j) => j.role !== DEFAULT_ROLE).length;
    const counters: CallCounters = { done: 0, total: jobs.length * 2 + (judge ? roleJobs : 0), calls: 0, cacheHits: 0, errors: 0, retries: 0 };
    const byId = new Map(roles.map((r) => [r.id, r]));
    const settings = commandSettings(o.concurrency ?? batchEngineGeneration(engine, generator, ['blocks.*.hook_resid_post'], o.batch));
    const ctx = new StoreCalls(settings, runId, store, counters, () => o.onProgress?.(counters));
    await forEachConcurrent(jobs, Math.max(1, settings.concurrency * 2), async (j) => {
      const messages: ChatMessage[] = [...(j.system ? [{ role: 'system' as const, content: j.system }] : []), { role: 'user', content: questions[j.q]! }];
      const answer = textOf(await ctx.call(generator, { key: `${j.key}|answer`, kind: 'chat', request: { messages, sampling: { temperature: options.temperature, maxTokens: options.maxTokens, seed: turnSeed(options.seed, j.key, 0) } } }, 'axis'));
      if (!answer) return;
      const reads: Promise<unknown>[] = [ctx.call(engine, { key: `${j.key}|acts`, kind: 'activations', request: { messages: [...messages, { role: 'assistant', content: answer }], hooks: ['blocks.*.hook_resid_post'] } }, 'axis')];
      if (judge && j.role !== DEFAULT_ROLE) reads.push(ctx.call(judge, { key: `${j.key}|roleplay`, kind: 'chat', request: { messages: [{ role: 'user', content: ROLE_PLAY_PROMPT(byId.get(j.role)!, questions[j.q]!, answer) }], sampling: { temperature: 0, seed: options.seed, maxTokens: 16 } }, oracle: { task: 'judge', judge: 'roleplay' } }, 'axis'));
      await Promise.all(reads);
    });
    const responses = store.taskResponses(runId);
    // The role-play filter: a role's answer is kept only when the judge says it fully plays the role.
    const verdicts = { full: 0, partial: 0, none: 0, unparsed: 0 };
    const kept = judge
      ? jobs.filter((j) => {
          if (j.role === DEFAULT_ROLE) return true;
          if (!responses.has(`${j.key}|acts`)) return false;
          const v = parseRolePlay(textOf(responses.get(`${j.key}|roleplay`)) ?? '');
          verdicts[v ?? 'unparsed']++;
          return v === 'full';
        })
      : jobs;
    const computed = computeAxis(responses, roles.map((r) => r.id), kept, options.components);
    // The default's per-token projections on the unit axis (what capping acts on), answer by answer in
    // the order of defaultProjections; the engine reads them directly, outside the store.
    let defaultTokenProjections: AxisResult['defaultTokenProjections'];
    // Loaded on use: the engine backend pulls in onnxruntime.
    const { EngineBackend } = await import('../backends/engine.js');
    if (engine instanceof EngineBackend) {
      const units = new Map([...computed.axis].map(([l, a]) => [`blocks.${l}.hook_resid_post`, Float32Array.from(unit([...a]))] as const));
      defaultTokenProjections = Object.fromEntries([...computed.axis.keys()].map((l) => [l, [] as number[][]]));
      for (const j of kept) {
        if (j.role !== DEFAULT_ROLE || !responses.has(`${j.key}|acts`)) continue;
        const answer = textOf(responses.get(`${j.key}|answer`));
        if (!answer) continue;
        const messages: ChatMessage[] = [...(j.system ? [{ role: 'system' as const, content: j.system }] : []), { role: 'user', content: questions[j.q]! }, { role: 'assistant', content: answer }];
        const per = await engine.tokenProjections({ messages, hooks: [...units.keys()] }, units);
        for (const l of computed.axis.keys()) defaultTokenProjections[l]!.push(per.get(`blocks.${l}.hook_resid_post`)!);
      }
    }
    const result: AxisResult = { runId, resumed, model: engine.id, roles: roles.map((r) => r.id), ...computed, ...(defaultTokenProjections ? { defaultTokenProjections } : {}), counters, parts: roleList, ...(judge ? { rolePlay: verdicts } : {}), neutralPrompts: options.neutralPrompts ? NEUTRAL_PROMPTS.length : 0 };
    store.putResult(runId, 'axis', { ...result, axis: undefined, defaultTokenProjections: undefined });
    store.finishRun(runId, counters.errors > 0 ? 'failed' : 'complete');
    return result;
  } finally {
    store.close();
  }
}

