// The human-twin probe: condition a model on a real respondent (demographics; plus some
// of their real answers; or a written description), have it answer that person's
// held-out items, and compare with what they really answered, at the level of the
// individual and of the population, against baselines fitted on the other people and
// the human test-retest ceiling. Planning is a pure function of the suite and the data
// file, so a killed run resumes through the store like a fidelity run.

import { resolve } from 'node:path';
import type { ChatMessage, ChatRequest, OptionProbsRequest, ProbeHints } from '../backends/types.js';
import { loadBig5, loadEpiRetest, loadGeneric, loadSapa, domainScore, type HumanDataset, type Respondent } from '../datasets/human.js';
import { DOMAINS } from '../instruments/types.js';
import { storedAnswer } from './dialogue.js';
import { describeLevel } from '../suite/levels.js';
import type { Suite } from '../suite/schema.js';
import type { TwinsSpec } from '../suite/probe-schemas.js';
import { bootstrap, type Estimate } from '../metrics/bootstrap.js';
import { baselinePredictors, varianceCompression, effectReplication, groupDifferences, retestCeiling, scorePredictor, splitItems, splitPeople, structureRecovery, correlationMatrix, type EffectReplication, type IndividualScores, type Predictor } from '../metrics/human.js';
import { mean } from '../metrics/stats.js';
import { UserError, errorMessage } from '../util/errors.js';

const LAYOUT_DEFAULTS: Record<'big5-osp' | 'sapa-spi', { covariates: string[]; group: string; labels: string[] }> = {
  'big5-osp': { covariates: ['age', 'gender', 'country'], group: 'gender', labels: ['Disagree', 'Slightly disagree', 'Neutral', 'Slightly agree', 'Agree'] },
  'sapa-spi': { covariates: ['age', 'sex', 'education'], group: 'sex', labels: ['Very inaccurate', 'Moderately inaccurate', 'Slightly inaccurate', 'Slightly accurate', 'Moderately accurate', 'Very accurate'] },
};

export interface TwinPlan {
  ds: HumanDataset;
  /** Option wording, min..max. */
  labels: string[];
  train: Respondent[];
  test: Respondent[];
  given: number[];
  heldOut: number[];
  covariates: string[];
  group: string;
  effects: { covariate: string; a: string | number; b: string | number }[];
  /** The human retest ceiling, read with the data (a bad retest file fails before any call). */
  ceiling?: { value: number; source: string };
}

/** The ceiling the suite asks for: configured, computed from a retest file, or the documented EPI default. */
function ceilingOf(suite: Suite, baseDir: string): { value: number; source: string } {
  const t = suite.twins!;
  if (t.ceiling && 'value' in t.ceiling) return { value: t.ceiling.value, source: 'configured' };
  if (t.ceiling) {
    const file = resolve(baseDir, t.ceiling.retest);
    let c;
    try {
      c = retestCeiling(loadEpiRetest(file));
    } catch (err) {
      throw new UserError(`twins.ceiling.retest ${file}: ${errorMessage(err)}`);
    }
    return { value: c.itemAgreement, source: `retest agreement computed from ${t.ceiling.retest} (${c.people} people)` };
  }
  return { value: 0.813, source: 'EPI retest agreement from the psychTools epiR documentation (default; configure twins.ceiling)' };
}

/** Load and split: everything the tasks depend on, from the suite and the files alone. */
export function planTwins(suite: Suite, baseDir: string): TwinPlan {
  const t = suite.twins!;
  const spec = t.dataset;
  const file = resolve(baseDir, spec.file);
  const ds = spec.layout === 'generic' ? loadGeneric({ file, id: spec.id, scale: spec.scale, missing: spec.missing, items: spec.items, covariates: spec.covariates }) : spec.layout === 'big5-osp' ? loadBig5(file) : loadSapa(file);
  const d =
    spec.layout === 'generic'
      ? {
          covariates: spec.covariates.map((c) => c.name ?? c.column),
          group: spec.group ?? spec.covariates.filter((c) => c.kind === 'category').map((c) => c.name ?? c.column)[0] ?? '',
          labels: spec.scale.labels ?? Array.from({ length: spec.scale.max - spec.scale.min + 1 }, (_, i) => (i === 0 ? 'Disagree strongly' : i === spec.scale.max - spec.scale.min ? 'Agree strongly' : `${spec.scale.min + i}`)),
        }
      : LAYOUT_DEFAULTS[spec.layout];
  const covariates = t.covariates ?? d.covariates;
  for (const c of covariates) if (!(c in (ds.respondents[0]?.covariates ?? {}))) throw new UserError(`twins.covariates: "${c}" is not a covariate of ${ds.name} (has ${Object.keys(ds.respondents[0]?.covariates ?? {}).join(', ')})`);
  const ceiling = ceilingOf(suite, baseDir);
  return { ...splitPlan(ds, { respondents: t.respondents, givenPerDomain: t.given_per_domain, seed: t.seed, heldOutLimit: t.held_out_items, labels: d.labels, covariates, group: d.group, effects: t.effects }), ceiling };
}

/** A seeded split of a loaded dataset: test people and training people, given items and held-out items. */
export function splitPlan(
  ds: HumanDataset,
  o: { respondents: number; givenPerDomain: number; seed: number; heldOutLimit?: number; labels: string[]; covariates: string[]; group: string; effects?: TwinPlan['effects'] },
): TwinPlan {
  const { train, test } = splitPeople(ds.respondents, Math.min(o.respondents, ds.respondents.length - 1), o.seed);
  const { given, heldOut } = splitItems(ds, o.givenPerDomain, o.seed);
  return { ds, labels: o.labels, train, test, given, heldOut: o.heldOutLimit ? heldOut.slice(0, o.heldOutLimit) : heldOut, covariates: o.covariates, group: o.group, effects: o.effects ?? (o.group ? [{ covariate: o.group, a: 'female', b: 'male' }] : []) };
}

function describePerson(plan: TwinPlan, p: Respondent): string {
  return plan.covariates.map((c) => `${c}: ${p.covariates[c] ?? 'unknown'}`).join(', ');
}

export function twinSystem(plan: TwinPlan, style: TwinsSpec['styles'][number], p: Respondent, labels: string[]): string {
  const who = `You are a real person taking a personality questionnaire. About you: ${describePerson(plan, p)}.`;
  if (style === 'demographics') return `${who} Answer every statement as this person would.`;
  const givenAnswers = plan.given.filter((j) => p.answers[j] !== null);
  if (style === 'demographics+answers') {
    const lines = givenAnswers.map((j) => `- "${plan.ds.items[j]!.text}": ${p.answers[j]} (${labels[p.answers[j]! - plan.ds.scale.min]})`);
    return `${who} Here is how you answered some other statements:\n${lines.join('\n')}\nAnswer every new statement consistently with these answers.`;
  }
  // A written persona: covariates and, from the given answers, a sentence per domain.
  const mid = (plan.ds.scale.min + plan.ds.scale.max) / 2;
  const traits = DOMAINS.map((dm) => {
    const s = domainScore({ items: plan.ds.items.map((it, j) => (plan.given.includes(j) ? it : { ...it, domain: null })), scale: plan.ds.scale }, p.answers, dm);
    // Map the dataset's scale onto 1..5 for the level words.
    return s === null ? null : describeLevel(dm, 3 + ((s - mid) / (plan.ds.scale.max - mid)) * 2);
  }).filter(Boolean);
  return `You are a real person: ${describePerson(plan, p)}. In your own words, you are ${traits.join('; ')}. Answer every statement as yourself.`;
}

function itemPromptFor(plan: TwinPlan, j: number, labels: string[]): string {
  return `Statement: "${plan.ds.items[j]!.text}"\nHow much does this describe you?\n${labels.map((l, i) => `${plan.ds.scale.min + i} = ${l}`).join('\n')}\nReply with the number only.`;
}

/** A twin's task key, for the call and for the analysis that reads its answer back. */
export const twinKey = (modelIndex: number, style: string, person: string, item: string): string => `tw|m${modelIndex}|${style}|${person}|${item}`;

export type TwinTask = { key: string; modelIndex: number; style: string; person: string; item: number; oracle: ProbeHints } & ({ kind: 'optionProbs'; request: OptionProbsRequest } | { kind: 'chat'; sample: number; request: ChatRequest });

export function twinTasks(suite: Suite, plan: TwinPlan, optionProbs: boolean[]): TwinTask[] {
  const t = suite.twins!;
  const labels = plan.labels;
  const options = labels.map((_, i) => String(plan.ds.scale.min + i));
  const itemMeans = plan.ds.items.map((_, j) => mean(plan.test.map((p) => p.answers[j]).filter((x): x is number => x !== null)));
  // The group offsets a simulated twin may amplify: the sampled people's own group means.
  const groupMeans = new Map<string, number[]>();
  for (const p of plan.test) {
    const g = String(p.covariates[plan.group] ?? '');
    if (!groupMeans.has(g)) groupMeans.set(g, plan.ds.items.map((_, j) => mean(plan.test.filter((q) => String(q.covariates[plan.group] ?? '') === g).map((q) => q.answers[j]).filter((x): x is number => x !== null))));
  }
  const tasks: TwinTask[] = [];
  suite.models.forEach((_, modelIndex) => {
    for (const style of t.styles)
      for (const p of plan.test) {
        const system: ChatMessage[] = [{ role: 'system', content: twinSystem(plan, style, p, labels) }];
        for (const j of plan.heldOut) {
          const real = p.answers[j];
          if (real === null || real === undefined) continue;
          const item = plan.ds.items[j]!;
          const oracle: ProbeHints = {
            personaId: `twin:${p.id}`,
            item: { id: item.id, keyed: item.keyed, domain: item.domain ?? 'O' },
            twin: { real, itemMean: itemMeans[j]!, groupOffset: (groupMeans.get(String(p.covariates[plan.group] ?? ''))?.[j] ?? itemMeans[j]!) - itemMeans[j]!, min: plan.ds.scale.min, max: plan.ds.scale.max, person: p.id },
          };
          const messages: ChatMessage[] = [...system, { role: 'user', content: itemPromptFor(plan, j, labels) }];
          const key = twinKey(modelIndex, style, p.id, item.id);
          if (optionProbs[modelIndex]) tasks.push({ key, modelIndex, style, person: p.id, item: j, kind: 'optionProbs', request: { messages, options }, oracle });
          else
            for (let s = 0; s < suite.instrument.samples; s++)
              tasks.push({ key: `${key}|s${s}`, modelIndex, style, person: p.id, item: j, kind: 'chat', sample: s, request: { messages, sampling: { temperature: suite.run.temperature, maxTokens: 16, seed: suite.seed * 7919 + s } }, oracle: { ...oracle, sample: s } });
        }
      }
  });
  return tasks;
}

export interface TwinsStyleResult {
  model: string;
  style: string;
  individual: IndividualScores & { normalizedAccuracy: number };
  /** Mean over held-out items of SD(predicted) / SD(real) across the sampled people, overall and per group. */
  compression: { overall: number; byGroup: Record<string, number> };
  /** Per group: mean over held-out items of (mean predicted - mean real answer), on the answer scale. */
  meanShift: Record<string, number>;
  structure: number;
  effects: EffectReplication[];
}

export interface TwinsAnalysis {
  dataset: string;
  people: number;
  heldOutItems: number;
  givenItems: number;
  ceiling: { value: number; source: string };
  load: HumanDataset['report'];
  results: TwinsStyleResult[];
  baselines: (Omit<TwinsStyleResult, 'model' | 'style'> & { baseline: string })[];
  /** Replication rate across effects, per model and style, against each effect's real strength. */
  replication: { model: string; style: string; rate: Estimate }[];
}

/** Individual and population figures of any predictor (a model's answers or a baseline) on a split. */
export function evaluatePredictor(plan: TwinPlan, predict: Predictor, ceiling: number): Omit<TwinsStyleResult, 'model' | 'style'> {
  const individual = scorePredictor(predict, plan.test, plan.heldOut, plan.ds.scale);
  const preds = new Map(plan.test.map((p) => [p.id, predict(p, plan.heldOut)]));
  const compressionOf = (people: Respondent[]) =>
    mean(plan.heldOut.map((j, i) => {
      const rows = people.filter((p) => p.answers[j] !== null);
      return varianceCompression(rows.map((p) => preds.get(p.id)![i]!), rows.map((p) => p.answers[j]!));
    }).filter(Number.isFinite));
  const groups = [...new Set(plan.test.map((p) => String(p.covariates[plan.group] ?? '')))].filter(Boolean);
  const simulatedPeople = plan.test.map((p) => ({ ...p, answers: p.answers.map((_, j) => { const i = plan.heldOut.indexOf(j); return i < 0 ? null : preds.get(p.id)![i]!; }) }));
  const realHeldOut = plan.test.map((p) => ({ ...p, answers: p.answers.map((a, j) => (plan.heldOut.includes(j) ? a : null)) }));
  const effects: EffectReplication[] = [];
  for (const e of plan.effects) {
    const real = groupDifferences(plan.ds, realHeldOut, e.covariate, e.a, e.b);
    const twin = groupDifferences(plan.ds, simulatedPeople, e.covariate, e.a, e.b);
    real.forEach((r, i) => effects.push(effectReplication(`${r.domain}: ${e.covariate} ${e.a} - ${e.b}`, r.d, twin[i]!.d)));
  }
  const heldRows = (people: { answers: (number | null)[] }[]) => people.map((p) => plan.heldOut.map((j) => p.answers[j] ?? null));
  return {
    individual: { ...individual, normalizedAccuracy: individual.accuracy / ceiling },
    compression: { overall: compressionOf(plan.test), byGroup: Object.fromEntries(groups.map((g) => [g, compressionOf(plan.test.filter((p) => String(p.covariates[plan.group]) === g))])) },
    meanShift: Object.fromEntries(groups.map((g) => {
      const people = plan.test.filter((p) => String(p.covariates[plan.group]) === g);
      return [g, mean(plan.heldOut.map((j, i) => {
        const rows = people.filter((p) => p.answers[j] !== null);
        return mean(rows.map((p) => preds.get(p.id)![i]!)) - mean(rows.map((p) => p.answers[j]!));
      }).filter(Number.isFinite))];
    })),
    structure: structureRecovery(correlationMatrix(heldRows(simulatedPeople)), correlationMatrix(heldRows(realHeldOut))),
    effects,
  };
}

export function analyzeTwins(suite: Suite, plan: TwinPlan, modelIds: string[], responses: ReadonlyMap<string, unknown>, baseDir: string): TwinsAnalysis {
  const t = suite.twins!;
  const options = plan.labels.map((_, i) => String(plan.ds.scale.min + i));
  const ceiling = plan.ceiling ?? ceilingOf(suite, baseDir);
  const results: TwinsStyleResult[] = [];
  modelIds.forEach((model, modelIndex) => {
    for (const style of t.styles) {
      const predict: Predictor = (p, heldOut) =>
        heldOut.map((j) => storedAnswer(responses, twinKey(modelIndex, style, p.id, plan.ds.items[j]!.id), options, plan.ds.scale.min) ?? Number.NaN);
      results.push({ model, style, ...evaluatePredictor(plan, predict, ceiling.value) });
    }
  });
  const baselines = baselinePredictors(plan.train, plan.ds.items.length, plan.given, plan.group).map(([baseline, p]) => ({ baseline, ...evaluatePredictor(plan, p, ceiling.value) }));
  const replication = results.map((r) => ({ model: r.model, style: r.style, rate: bootstrap(r.effects.filter((e) => Math.abs(e.realD) > 0.05).map((e) => (e.replicated ? 1 : 0)), mean, { seed: `rep/${r.model}/${r.style}` }) }));
  return { dataset: plan.ds.name, people: plan.test.length, heldOutItems: plan.heldOut.length, givenItems: plan.given.length, ceiling, load: plan.ds.report, results, baselines, replication };
}

