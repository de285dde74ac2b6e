// What a backend's answer must look like before it is stored, and the one decoder of
// stored answers. One bad value from a backend (a log-probability of +1000, a NaN, a
// missing field) is a retryable backend error at the call, never a stored score; and a
// stored answer that does not decode is missing, never a thrown error in analysis.

import { BackendError, type ChatMessage, type ChatResult, type OptionProbsResult } from './types.js';
import { decodeF32 } from '../util/f32.js';

/** Slack for probabilities that sum to one in float arithmetic. */
const EPS = 1e-6;

const finiteOrAbsent = (v: unknown) => v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v) && v >= 0);

function usageOk(u: unknown): boolean {
  if (u === undefined || u === null) return true;
  if (typeof u !== 'object') return false;
  const { inputTokens, outputTokens } = u as Record<string, unknown>;
  return finiteOrAbsent(inputTokens) && finiteOrAbsent(outputTokens);
}

/** Option probabilities that are probabilities: finite, in [0, 1], summing to 1, one per option, coverage in (0, 1]. */
export function decodeOptionProbs(value: unknown, optionCount?: number): OptionProbsResult | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { probs, coverage, usage } = value as Record<string, unknown>;
  if (!Array.isArray(probs) || probs.length === 0 || (optionCount !== undefined && probs.length !== optionCount)) return undefined;
  let sum = 0;
  for (const p of probs) {
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1 + EPS) return undefined;
    sum += p;
  }
  if (Math.abs(sum - 1) > 1e-4) return undefined;
  if (typeof coverage !== 'number' || !Number.isFinite(coverage) || coverage <= 0 || coverage > 1 + 1e-4) return undefined;
  if (!usageOk(usage)) return undefined;
  return value as OptionProbsResult;
}

/** A chat reply: a string of text (and usage counts that are counts). */
export function decodeChat(value: unknown): ChatResult | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.text !== 'string' || !usageOk(r.usage)) return undefined;
  return value as ChatResult;
}

/** Pooled activations: every hook's mean decodes to finite float32 values. */
export function decodeActivations(value: unknown): { means: Record<string, string>; tokens: number } | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { means, tokens } = value as Record<string, unknown>;
  if (!means || typeof means !== 'object' || typeof tokens !== 'number' || !Number.isFinite(tokens)) return undefined;
  for (const text of Object.values(means as Record<string, unknown>)) {
    if (typeof text !== 'string') return undefined;
    for (const x of decodeF32(text)) if (!Number.isFinite(x)) return undefined;
  }
  return value as { means: Record<string, string>; tokens: number };
}

/** A stored request's messages (for transcripts): each a role and a string of content. */
export function decodeMessages(request: unknown): ChatMessage[] | undefined {
  if (!request || typeof request !== 'object' || !('messages' in request) || !Array.isArray(request.messages)) return undefined;
  const out: ChatMessage[] = [];
  for (const m of request.messages as unknown[]) {
    if (!m || typeof m !== 'object' || !('role' in m) || !('content' in m)) return undefined;
    const { role, content } = m;
    if ((role !== 'system' && role !== 'user' && role !== 'assistant') || typeof content !== 'string') return undefined;
    out.push({ role, content });
  }
  return out;
}

/**
 * Check a backend's answer before it is stored. A bad answer is a retryable error: the
 * backend may answer well next time, and a bad one must never be served from the store.
 */
export function checkResponse(kind: 'chat' | 'optionProbs' | 'activations', value: unknown, backendId: string, optionCount?: number): void {
  const ok = kind === 'chat' ? decodeChat(value) : kind === 'optionProbs' ? decodeOptionProbs(value, optionCount) : decodeActivations(value);
  if (ok) return;
  const shown = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))?.slice(0, 160) ?? String(value);
  throw new BackendError(`${backendId}: malformed ${kind} answer (${shown}); not stored`, true);
}
