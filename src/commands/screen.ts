// Screening fine-tuning data with persona vectors (after the persona-vector paper's projection
// difference): for each chat sample, the training response's activations against the base
// model's own response to the same prompt, both projected on each trait vector (the mean of
// blocks.L.hook_resid_post over the response's tokens). A positive difference means the sample
// pulls the model toward the trait; the dataset's mean is the shift it predicts; the samples
// that push most can be dropped.

import { readTextFile } from '../util/files.js';
import { createBackend } from '../backends/registry.js';
import { decodeMessages } from '../backends/responses.js';
import { storedMean, type ChatMessage } from '../backends/types.js';
import type { MonitoredVector } from '../probes/vectors.js';
import { dot, norm, unit } from '../metrics/vectors.js';
import { UserError } from '../util/errors.js';
import type { RunRole } from '../suite/roles.js';
import { engineParts } from './engine-parts.js';

export interface Sample {
  /** 1-based line in the dataset file. */
  line: number;
  messages: ChatMessage[];
}

/** A JSONL file of chat samples: one {"messages": [...]} per line, the last an assistant reply; blank lines skipped. */
export function readDataset(file: string): Sample[] {
  const text = readTextFile(file);
  const out: Sample[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      throw new UserError(`${file}:${i + 1}: not JSON (a line is one chat sample: {"messages": [...]})`);
    }
    const messages = decodeMessages(value);
    if (!messages || messages.length < 2) throw new UserError(`${file}:${i + 1}: not a chat sample ({"messages": [{"role": "user", ...}, {"role": "assistant", ...}]})`);
    if (messages.at(-1)!.role !== 'assistant') throw new UserError(`${file}:${i + 1}: the last message is not an assistant reply (the response to train on)`);
    if (!messages.at(-1)!.content.trim()) throw new UserError(`${file}:${i + 1}: the assistant reply is empty`);
    out.push({ line: i + 1, messages });
  });
  if (!out.length) throw new UserError(`${file}: no chat samples`);
  return out;
}

export interface ScreenedSample {
  line: number;
  /** Per vector: projection of the training response, of the base model's own response, and their difference. */
  projections: { vector: string; train: number; base: number; difference: number }[];
}

export interface ScreenResult {
  model: string;
  samples: ScreenedSample[];
  /** Per vector: the dataset's mean projection difference (the shift it predicts, in projection units), and n. */
  predicted: { vector: string; layer: number; shift: number; n: number }[];
  /** What the model was (a constructed model is said so in every output). */
  parts: RunRole[];
}

export interface ScreenOptions {
  model: string;
  dataset: string;
  vectors: MonitoredVector[];
  /** Length of the base model's own responses (default 64 tokens, greedy). */
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function screenDataset(o: ScreenOptions): Promise<ScreenResult> {
  const samples = readDataset(o.dataset);
  const engine = await createBackend(o.model.startsWith('engine:') ? o.model : `engine:${o.model}`);
  if (!engine.activations) throw new UserError(`${o.model}: screening needs the engine: backend`);
  const hooks = [...new Set(o.vectors.map((v) => `blocks.${v.layer}.hook_resid_post`))];
  const units = o.vectors.map((v) => {
    if (!(norm([...v.vector]) > 0)) throw new UserError(`${v.name} at layer ${v.layer}: the vector has zero length`);
    return unit([...v.vector]);
  });
  const project = async (prompt: ChatMessage[], response: string) => {
    const r = await engine.activations!({ messages: [...prompt, { role: 'assistant', content: response }], hooks });
    return o.vectors.map((v, i) => {
      const mean = storedMean(r, `blocks.${v.layer}.hook_resid_post`);
      return mean ? dot(mean, units[i]!) : Number.NaN;
    });
  };
  const screened: ScreenedSample[] = [];
  for (const [k, s] of samples.entries()) {
    const prompt = s.messages.slice(0, -1);
    const own = (await engine.chat({ messages: prompt, sampling: { temperature: 0, maxTokens: o.maxTokens ?? 64 } })).text;
    const train = await project(prompt, s.messages.at(-1)!.content);
    const base = own ? await project(prompt, own) : o.vectors.map(() => Number.NaN);
    screened.push({ line: s.line, projections: o.vectors.map((v, i) => ({ vector: v.name, train: train[i]!, base: base[i]!, difference: train[i]! - base[i]! })) });
    o.onProgress?.(k + 1, samples.length);
  }
  const predicted = o.vectors.map((v, i) => {
    const diffs = screened.map((s) => s.projections[i]!.difference).filter(Number.isFinite);
    return { vector: v.name, layer: v.layer, shift: diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : Number.NaN, n: diffs.length };
  });
  return { model: engine.id, samples: screened, predicted, parts: engineParts({ model: o.model }) };
}

/** The samples ranked by how much they push toward vector `index` (largest difference first; missing last). */
export function rankSamples(result: ScreenResult, index = 0): ScreenedSample[] {
  const d = (s: ScreenedSample) => s.projections[index]?.difference ?? Number.NaN;
  return [...result.samples].sort((a, b) => (Number.isFinite(d(b)) ? d(b) : -Infinity) - (Number.isFinite(d(a)) ? d(a) : -Infinity) || a.line - b.line);
}
