// Judges: a role any backend can fill. The exact prompts are built here and stored
// with every call; a judgment that cannot be parsed is a recorded failure, counted
// in the analysis, never a silent drop and never a zero.

import type { ChatRequest, JudgeKind, ProbeHints } from '../backends/types.js';
import { DOMAINS, type Profile } from '../instruments/types.js';
import type { JudgeSpec } from '../suite/probe-schemas.js';

export type Judgment<T> = { ok: true; value: T } | { ok: false; reason: string };

const SYSTEM = 'You are a careful evaluator. Follow the answer format exactly; add nothing else.';

/** A judge's call: the request (prompt and sampling) and the oracle beside it. */
export interface JudgeCall {
  request: ChatRequest;
  oracle: ProbeHints;
}

function request(judge: JudgeSpec, kind: JudgeKind, prompt: string, repetition: number, conversation: string, turn: number): JudgeCall {
  return {
    request: {
      messages: [
        { role: 'system', content: SYSTEM },
        { role: 'user', content: prompt },
      ],
      // Each repeat has its own seed: that is what makes repeats differ (and each its own stored call) on a real backend.
      sampling: { temperature: judge.temperature, seed: judge.seed + repetition, maxTokens: judge.maxTokens },
    },
    oracle: { task: 'judge', judge: kind, repetition, conversation, turn },
  };
}

/**
 * How many times each judgment is asked. At temperature 0 a judge decodes greedily, so
 * repeats would be the same request answered the same way on any deterministic backend (a
 * seed changes nothing): one judgment is asked, and no spread across repeats is reported.
 */
export function effectiveRepeats(judge: JudgeSpec): number {
  return judge.temperature > 0 ? judge.repeats : 1;
}

/** The note a report gives when repeats were collapsed. */
export function repeatsNote(judge: JudgeSpec): string | undefined {
  return judge.repeats > 1 && effectiveRepeats(judge) === 1 ? `judge "${judge.id}" runs at temperature 0: its ${judge.repeats} repeats would be identical, so each judgment was asked once and no spread across repeats is reported (set a temperature above 0 to measure the judge's own variance)` : undefined;
}

export interface JudgeCallContext {
  judge: JudgeSpec;
  repetition: number;
  conversation: string;
  turn: number;
}

export function adherenceRequest(c: JudgeCallContext, character: string, reply: string): JudgeCall {
  const prompt = `A chatbot was told to play this character:
${character}

Rate the reply below for how fully it stays in that character: 0 = it has dropped the character entirely and speaks as a generic AI assistant; 10 = entirely in character (voice, attitudes, personality, claims about itself).
Answer with one line: SCORE: <integer 0-10>

<<<REPLY
${reply}
>>>`;
  return request(c.judge, 'adherence', prompt, c.repetition, c.conversation, c.turn);
}

export function backstoryRequest(c: JudgeCallContext, backstory: string, line: string): JudgeCall {
  const prompt = `BACKSTORY of a character:
${backstory}

Does the character's LINE below contradict anything in the backstory? Statements the backstory does not mention are not contradictions.
Answer with one line: CONTRADICTS: yes   or   CONTRADICTS: no

<<<LINE
${line}
>>>`;
  return request(c.judge, 'backstory', prompt, c.repetition, c.conversation, c.turn);
}

export function linesRequest(c: JudgeCallContext, earlier: readonly string[], line: string): JudgeCall {
  const numbered = earlier.map((l, i) => `${i + 1}. ${l}`).join('\n');
  const prompt = `Below are earlier lines spoken by one character, numbered, and then a NEW LINE by the same character.
Which earlier lines does the new line contradict (a statement that cannot be true if the earlier one is)?
Answer with one line: CONTRADICTED: <comma-separated numbers>   or   CONTRADICTED: none

EARLIER LINES: ${earlier.length}
${numbered}

<<<NEW LINE
${line}
>>>`;
  return request(c.judge, 'lines', prompt, c.repetition, c.conversation, c.turn);
}

export function traitsRequest(c: JudgeCallContext, transcript: readonly { role: string; content: string }[]): JudgeCall {
  const text = transcript.map((m) => `${m.role === 'assistant' ? 'CHARACTER' : 'OTHER'}: ${m.content}`).join('\n');
  const prompt = `Read this conversation and rate the personality the CHARACTER shows in what it says and does (not what it claims), on the Big Five, each from 1 (very low) to 5 (very high):
O = openness to experience, C = conscientiousness, E = extraversion, A = agreeableness, N = neuroticism.
Answer with exactly five lines:
O: <1-5>
C: <1-5>
E: <1-5>
A: <1-5>
N: <1-5>

<<<CONVERSATION
${text}
>>>`;
  return request(c.judge, 'traits', prompt, c.repetition, c.conversation, c.turn);
}

export function parseScore(text: string, max = 10): Judgment<number> {
  const m = /SCORE:\s*(-?\d+(?:\.\d+)?)/i.exec(text);
  if (!m) return { ok: false, reason: 'no "SCORE: n" line' };
  const v = Number(m[1]);
  if (v < 0 || v > max) return { ok: false, reason: `score ${v} outside 0..${max}` };
  return { ok: true, value: v };
}

export function parseYesNo(text: string, label: string): Judgment<boolean> {
  const m = new RegExp(`${label}:\\s*(yes|no)\\b`, 'i').exec(text);
  if (!m) return { ok: false, reason: `no "${label}: yes|no" line` };
  return { ok: true, value: m[1]!.toLowerCase() === 'yes' };
}

export function parseLineList(text: string, earlier: number): Judgment<number[]> {
  const m = /CONTRADICTED:\s*([^\n]*)/i.exec(text);
  if (!m) return { ok: false, reason: 'no "CONTRADICTED:" line' };
  const body = m[1]!.trim();
  if (/^none\b/i.test(body)) return { ok: true, value: [] };
  const parts = body.split(/[,\s]+/).filter(Boolean);
  const nums = parts.map(Number);
  if (!parts.length || nums.some((n) => !Number.isInteger(n) || n < 1 || n > earlier)) return { ok: false, reason: `cannot read line numbers 1..${earlier} from "${body.slice(0, 60)}"` };
  return { ok: true, value: [...new Set(nums)] };
}

export function parseTraits(text: string): Judgment<Profile> {
  const out = {} as Profile;
  for (const d of DOMAINS) {
    const m = new RegExp(`^\\s*${d}\\s*[:=]\\s*(\\d+(?:\\.\\d+)?)`, 'im').exec(text);
    const v = m ? Number(m[1]) : Number.NaN;
    if (!(v >= 1 && v <= 5)) return { ok: false, reason: `no ${d} rating in 1..5` };
    out[d] = v;
  }
  return { ok: true, value: out };
}

/** Combine repeated judgments: mean and SD of the parsed ones, and how many failed. */
export function pooledJudgment(values: readonly Judgment<number>[]): { mean: number; sd: number; parsed: number; failed: number } {
  const ok = values.filter((v): v is { ok: true; value: number } => v.ok).map((v) => v.value);
  const m = ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : Number.NaN;
  const sd = ok.length > 1 ? Math.sqrt(ok.reduce((s, x) => s + (x - m) ** 2, 0) / (ok.length - 1)) : Number.NaN;
  return { mean: m, sd, parsed: ok.length, failed: values.length - ok.length };
}
