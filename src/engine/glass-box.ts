// Glass-box models: random-weight models of a real shape with known persona structure
// planted in their weights, so the whole real path (chat template -> tokenizer ->
// engine -> option probabilities -> scores -> metrics) can be checked against truth
// that lives in the weights and never in a request. They are constructed models, not
// language models: they answer inventories, nothing else.
//
// The mechanism (residual dimensions in GLASS_BOX_DIMS):
// - every token embedding has the same norm (sqrt(hidden)), so the first RMSNorm is a
//   fixed scaling; it carries a constant 1, a "trait word" flag and a Big Five direction
//   for the project's own trait words (suite/levels.ts and the Big Five trait files:
//   " outgoing" -> +E), an "item word" flag and a keyed domain for words unique to one
//   domain and keying in the instrument, and seeded random values in the dimensions
//   nothing reads;
// - block `personaLayer` (0 by default; earlier blocks are empty), head A: every position
//   attends to the trait words in its context with score `focus.persona` against 0 for all
//   other tokens, and reads the default profile plus the words' directions: the persona
//   level P = default + strength * (attention-weighted sum of the words' directions). A
//   large focus keeps P whatever the context's length (a sticky persona); a small one lets
//   it dilute as the conversation grows;
// - the same block, head B: likewise for the instrument's item words, with a score that
//   falls with distance (a rotated query on a faster rotary pair), so the item just asked
//   outweighs item words earlier in the conversation: the item loading I (+-1 on the
//   item's domain, by its keying; 0 for the few items with no word of their own);
// - the last block's MLP multiplies them with SwiGLU (silu(C + a) * b - silu(C) * b is
//   a * b for a large C): the score S = sum_d P_d I_d / r^2;
// - the unembedding puts beta * (k - 3) * S on answer option k and a large negative logit
//   on every other token.
// `glassBoxAnswer` computes the same numbers in float64 from the spec and the token ids
// alone; tests compare what the engine measures with it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from '../util/rng.js';
import { UserError } from '../util/errors.js';
import { DOMAINS, type Domain, type Profile } from '../instruments/types.js';
import { archSpecOf, type ArchSpec } from './arch.js';
import { expectedWeights } from './model-folder.js';
import type { LlamaLikeConfig, Weight } from './random-model.js';
import type { ModelTokenizer } from './tokenizer.js';

export const GLASS_BOX_FILE = 'glass-box.json';

/** Residual dimensions the planted mechanism uses (the rest carry random values nothing reads). */
export const GLASS_BOX_DIMS = {
  constant: 0,
  markerFlag: 1,
  itemFlag: 2,
  /** 5 dims: a trait word's direction (+-1 on its domain). */
  markerDirection: 3,
  /** 5 dims: an item word's keyed domain (+-1). */
  itemDirection: 8,
  /** 5 dims written by block 0 head A: the persona level P. */
  persona: 13,
  /** 5 dims written by block 0 head B: the item loading I. */
  item: 18,
  /** 1 dim written by the last block's MLP: the score S. */
  score: 23,
  /** First dimension not read by the mechanism. */
  free: 24,
} as const;

export interface GlassBoxSpec {
  kind: 'persona-probe glass-box model';
  version: 1;
  note: string;
  hidden: number;
  vocab: number;
  rmsEps: number;
  /** The block whose heads A and B write P and I: a persona vector exists from its resid_post on, not before. */
  personaLayer: number;
  /** Attention score of a trait word (head A) and of an item word (head B, at distance 0) against 0 for other tokens. */
  focus: { persona: number; item: number };
  /**
   * Head B's q.k sits on rotary pair `pair` (angle theta per position), with a query of
   * (1, slope) in that pair: an item word at distance k scores
   * focus.item * cos(k theta) - (perToken / theta) * sin(k theta), about focus.item - perToken * k,
   * so the item just asked outweighs item words earlier in the context (monotone while k theta < pi / 2).
   */
  recency: { pair: number; theta: number; perToken: number };
  /** The persona level with no trait words in context (the default profile, in P units). */
  defaultLevel: Profile;
  /** How far the mean trait word moves P along its domain. */
  strength: number;
  /** Slope of the option logits in S, their constant offsets, and the logit of every non-option token. */
  beta: number;
  optionBias: number[];
  offFormat: number;
  /** SwiGLU product constants: gate = gateConstant + alpha * P_d. */
  gateConstant: number;
  alpha: number;
  /**
   * Per domain, how much the last block's two neurons for that domain (2d and 2d + 1) write
   * (their down-projection columns are multiplied by it; 1 when absent). A "tuned checkpoint"
   * with a known edit: a gain of 2 on E doubles E's score S, through neurons 4 and 5 alone.
   */
  domainGain?: Partial<Profile>;
  optionTokens: number[];
  markers: { token: number; text: string; domain: Domain; sign: 1 | -1 }[];
  itemWords: { token: number; text: string; domain: Domain; sign: 1 | -1 }[];
}

export interface GlassBoxOptions {
  /** Attention score of trait words: 20 (default) keeps the persona at any context length; ~3 lets it dilute. */
  personaFocus?: number;
  /** The block whose attention writes the persona level and item loading (default 0); earlier blocks are empty. */
  personaLayer?: number;
  /** See GlassBoxSpec.domainGain. */
  domainGain?: Partial<Profile>;
  defaultLevel?: Profile;
  strength?: number;
  beta?: number;
  seed?: number;
}

/** The default profile a glass-box model falls back to: an agreeable, conscientious extravert, as chat assistants tend to be. */
export const GLASS_BOX_DEFAULT: Profile = { O: 0.3, C: 0.6, E: 0.8, A: 1.0, N: -0.6 };

// Function words, and common words that would turn up in ordinary text ("even if", "set up", "open the file").
/**
 * Byte-level BPE vocabularies number tokens in merge order, most frequent first: the first
 * 3,000 ("from", "they", "great", "plan") are too common to be trait words.
 */
const COMMON_TOKENS = 3000;
const STOPWORDS = new Set(['to', 'in', 'of', 'new', 'with', 'others', 'ways', 'ideas', 'plans', 'open', 'set', 'even']);

function singleToken(tok: ModelTokenizer, word: string): number | undefined {
  const ids = tok.encode(` ${word}`);
  return ids.length === 1 ? ids[0] : undefined;
}

/**
 * Plant the lexicons: trait words from the project's level descriptions (single tokens
 * that never occur in an item prompt or the template's default system prompt), and item
 * words (tokens of item prompts that occur in items of exactly one domain and keying,
 * and not in the prompt's fixed text).
 */
export interface GlassBoxLexicon {
  /** Trait words per domain and pole (phrases; their single-token words are planted). */
  traitWords: Record<Domain, { high: string[]; low: string[] }>;
  /** More trait text (contrastive instructions): only its rarer words that no neutral text uses are planted. */
  moreTraitText: Record<Domain, { high: string[]; low: string[] }>;
  /** Every item as the model will see it (the user message), with its domain and keying. */
  items: { prompt: string; domain: Domain; keyed: 'plus' | 'minus' }[];
  /** The item message with an empty item: its tokens are never item words. */
  boilerplate: string;
  /** Answer option count: options are the digits 1..n. */
  optionCount: number;
  /** Text the project writes around items (trait descriptions at every level, templates, attack scripts, openings): its tokens are never item words. */
  conditioningText: string[];
  /** Text that should say nothing about a personality (templates without their traits, attack scripts, openings): its tokens are never trait words. */
  neutralText: string[];
}

/** Head B's rotary pair: theta = base^(-2 pair / headDim) near 4e-4 at base 1e9 (16-dim heads: pair 3, cos falls monotonically over 7,400 tokens). */
const recencyPair = (headDim: number) => Math.round(headDim * 0.1875);

export function planGlassBox(tok: ModelTokenizer, config: LlamaLikeConfig, lexicon: GlassBoxLexicon, options: GlassBoxOptions = {}): GlassBoxSpec {
  const arch = archSpecOf(config as Record<string, unknown>);
  checkShape(arch);
  const finite = (name: string, v: number | undefined, ok: (x: number) => boolean) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new UserError(`glass-box: ${name} must be ${name === 'persona layer' ? 'a whole number' : 'a positive number'}, got ${v}`);
  };
  finite('persona focus', options.personaFocus, (x) => x > 0 && x <= 60);
  finite('persona layer', options.personaLayer, (x) => Number.isInteger(x) && x >= 0);
  finite('strength', options.strength, (x) => x > 0);
  finite('beta', options.beta, (x) => x > 0);
  const vocab = arch.vocab;
  const { items: itemPrompts, boilerplate } = lexicon;
  const chat = (content: string) => tok.chatIds([{ role: 'user', content }]);
  const fixed = new Set(chat(boilerplate));
  const conditioning = new Set([...lexicon.conditioningText, ...lexicon.neutralText].flatMap((t) => chat(t)));
  const neutral = new Set(lexicon.neutralText.flatMap((t) => chat(t)));
  const itemTokens = itemPrompts.map((p) => chat(p.prompt).filter((t) => !fixed.has(t)));
  const inItems = new Set(itemTokens.flat());
  // A trait word is a single token that belongs to exactly one domain and pole across all the
  // trait text (so "people", in both extraverted and agreeable instructions, is none).
  const poleOf = new Map<number, { word: string; poles: Set<string> }>();
  for (const [source, core] of [[lexicon.traitWords, true], [lexicon.moreTraitText, false]] as const) {
  for (const d of DOMAINS) {
    for (const pole of ['high', 'low'] as const) {
      for (const phrase of source[d][pole]) {
        for (const raw of phrase.split(/[^A-Za-z]+/)) {
          const word = raw.toLowerCase();
          if (word.length < 3 || STOPWORDS.has(word)) continue;
          const id = singleToken(tok, word);
          if (id === undefined || id >= vocab || inItems.has(id) || fixed.has(id)) continue;
          if (!core && (id < COMMON_TOKENS || neutral.has(id))) continue;
          const entry = poleOf.get(id) ?? { word, poles: new Set<string>() };
          entry.poles.add(`${d}:${pole}`);
          poleOf.set(id, entry);
        }
      }
    }
  }
  }
  const markers: GlassBoxSpec['markers'] = [];
  for (const [token, { word, poles }] of [...poleOf].sort((x, y) => x[0] - y[0])) {
    if (poles.size !== 1) continue;
    const [d, pole] = [...poles][0]!.split(':') as [Domain, 'high' | 'low'];
    markers.push({ token, text: ` ${word}`, domain: d, sign: pole === 'high' ? 1 : -1 });
  }
  for (const d of DOMAINS) {
    for (const sign of [1, -1]) {
      if (!markers.some((m) => m.domain === d && m.sign === sign)) throw new UserError(`glass-box: no single-token trait word for ${d} ${sign > 0 ? 'high' : 'low'} with this tokenizer`);
    }
  }
  const seen = new Set(markers.map((m) => m.token));
  const classes = new Map<number, Set<string>>();
  itemTokens.forEach((ids, i) => {
    for (const t of ids) {
      const set = classes.get(t) ?? new Set<string>();
      set.add(`${itemPrompts[i]!.domain}${itemPrompts[i]!.keyed}`);
      classes.set(t, set);
    }
  });
  const itemWords: GlassBoxSpec['itemWords'] = [];
  const eligible = (token: number) => !seen.has(token) && !conditioning.has(token) && token < vocab;
  const add = (token: number, domain: Domain, keyed: 'plus' | 'minus') => itemWords.push({ token, text: tok.decode([token], false), domain, sign: keyed === 'plus' ? 1 : -1 });
  for (const [token, set] of [...classes].sort((a, b) => a[0] - b[0])) {
    if (set.size !== 1 || !eligible(token)) continue;
    const cls = [...set][0]!;
    add(token, cls[0] as Domain, cls.endsWith('plus') ? 'plus' : 'minus');
  }
  itemWords.sort((a, b) => a.token - b.token);
  const optionTokens = Array.from({ length: lexicon.optionCount }, (_, i) => {
    const ids = tok.encode(String(i + 1));
    if (ids.length !== 1) throw new UserError(`glass-box: option "${i + 1}" is not one token`);
    return ids[0]!;
  });
  return {
    kind: 'persona-probe glass-box model',
    version: 1,
    note: 'A constructed model with persona structure planted in its weights (src/engine/glass-box.ts). Not a language model.',
    hidden: arch.dModel,
    vocab,
    rmsEps: arch.rmsEps,
    personaLayer: options.personaLayer ?? 0,
    focus: { persona: options.personaFocus ?? 20, item: 30 },
    recency: { pair: recencyPair(arch.headDim), theta: arch.ropeTheta ** ((-2 * recencyPair(arch.headDim)) / arch.headDim), perToken: 0.2 },
    defaultLevel: options.defaultLevel ?? GLASS_BOX_DEFAULT,
    strength: options.strength ?? 6,
    beta: options.beta ?? 1.2,
    optionBias: Array.from({ length: lexicon.optionCount }, () => 0),
    offFormat: 24,
    gateConstant: 40,
    alpha: 1,
    ...(options.domainGain ? { domainGain: options.domainGain } : {}),
    optionTokens,
    markers,
    itemWords,
  };
}

function checkShape(spec: ArchSpec): void {
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new UserError(`glass-box: ${what}`);
  };
  need(spec.qkNorm === 'none' && spec.norms === 'pre' && !spec.fused && spec.activation === 'silu' && !spec.embedScale, `${spec.family} normalises q and k, normalises after attention, stores fused projections or gates with GELU; use llama, mistral or qwen2`);
  need(spec.dModel >= GLASS_BOX_DIMS.free + 8, `hidden size ${spec.dModel} is too small (at least ${GLASS_BOX_DIMS.free + 8})`);
  need(spec.kvHeads >= 2 && spec.headDim >= 12, 'needs 2 or more key/value heads of 12 or more dimensions');
  need(spec.layers >= 2, 'needs 2 or more layers');
  need(spec.ffn >= 10, 'needs an MLP of 10 or more neurons');
  need(!spec.tiedEmbeddings, 'needs an untied lm_head (tie_word_embeddings: false)');
  // The q.k dimension is the slowest rotary pair: at rope base 1e9 its angle stays under 1e-4 rad over 8k positions.
  need(spec.ropeTheta >= 1e8 && spec.ropeScaling.kind === 'none', 'needs rope_theta >= 1e8 and no rope scaling');
}

/** The config a glass-box model is written with (a real shape, untied, with a slow rope). */
export function glassBoxConfig(config: LlamaLikeConfig): LlamaLikeConfig {
  const out: LlamaLikeConfig = { ...config, tie_word_embeddings: false, rope_theta: 1e9 };
  delete out.rope_scaling;
  delete out.rope_parameters;
  return out;
}

/** The weights that realise `spec` in a model of `config`'s shape. */
export function glassBoxWeights(config: LlamaLikeConfig, spec: GlassBoxSpec, seed = 1): Map<string, Weight> {
  const arch = archSpecOf(config as Record<string, unknown>);
  checkShape(arch);
  const D = arch.dModel;
  const hd = arch.headDim;
  const K = GLASS_BOX_DIMS;
  const rng = createRng(seed);
  const out = new Map<string, Weight>();
  for (const [name, shape] of expectedWeights(arch)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) data.fill(1);
    out.set(name, { shape, data });
  }
  const w = (name: string) => out.get(name)!;
  const set = (name: string, row: number, col: number, v: number) => {
    const t = w(name);
    t.data[row * t.shape[1]! + col] = v;
  };
  // Embeddings: equal norms, so the first RMSNorm is the identity up to eps.
  const markerOf = new Map(spec.markers.map((m) => [m.token, m]));
  const itemOf = new Map(spec.itemWords.map((m) => [m.token, m]));
  const emb = w('model.embed_tokens.weight');
  for (let t = 0; t < arch.vocab; t++) {
    const row = emb.data.subarray(t * D, (t + 1) * D);
    row[K.constant] = 1;
    const m = markerOf.get(t);
    if (m) {
      row[K.markerFlag] = 1;
      row[K.markerDirection + DOMAINS.indexOf(m.domain)] = m.sign;
    }
    const it = itemOf.get(t);
    if (it) {
      row[K.itemFlag] = 1;
      row[K.itemDirection + DOMAINS.indexOf(it.domain)] = it.sign;
    }
    let used = 0;
    for (let i = 0; i < K.free; i++) used += row[i]! * row[i]!;
    let norm = 0;
    for (let i = K.free; i < D; i++) {
      row[i] = rng.normal();
      norm += row[i]! * row[i]!;
    }
    const scale = Math.sqrt((D - used) / norm);
    for (let i = K.free; i < D; i++) row[i]! *= scale;
  }
  // Block personaLayer: head A (q head 0 -> kv head 0) and head B (the first q head of kv head 1).
  if (!(spec.personaLayer >= 0 && spec.personaLayer < arch.layers - 1)) throw new UserError(`glass-box: the persona layer must be below the last block (0..${arch.layers - 2}), got ${spec.personaLayer}`);
  const p0 = `model.layers.${spec.personaLayer}.self_attn`;
  const qk = hd / 2 - 1; // rotate-half's slowest pair is (qk, hd - 1)
  const headB = arch.heads / arch.kvHeads;
  // The queries are constant: read from the constant dimension, or (Qwen2) given as q_proj's bias.
  const query = (row: number, v = 1) => (arch.qkvBias ? (w(`${p0}.q_proj.bias`).data[row] = v) : set(`${p0}.q_proj.weight`, row, K.constant, v));
  query(0 * hd + qk);
  set(`${p0}.k_proj.weight`, 0 * hd + qk, K.markerFlag, spec.focus.persona * Math.sqrt(hd));
  // Head B uses a faster rotary pair and a rotated query: its score falls with distance, so
  // the item just asked outweighs item words earlier in the conversation.
  const slope = spec.recency.perToken / spec.recency.theta;
  query(headB * hd + spec.recency.pair, spec.focus.item / slope);
  query(headB * hd + spec.recency.pair + hd / 2, 1);
  set(`${p0}.k_proj.weight`, 1 * hd + spec.recency.pair, K.itemFlag, slope * Math.sqrt(hd));
  DOMAINS.forEach((d, j) => {
    set(`${p0}.v_proj.weight`, 0 * hd + j, K.constant, spec.defaultLevel[d]);
    set(`${p0}.v_proj.weight`, 0 * hd + j, K.markerDirection + j, spec.strength);
    set(`${p0}.o_proj.weight`, K.persona + j, 0 * hd + j, 1);
    set(`${p0}.v_proj.weight`, 1 * hd + j, K.itemDirection + j, 1);
    set(`${p0}.o_proj.weight`, K.item + j, headB * hd + j, 1);
  });
  // Last block's MLP: S = sum_d P_d I_d / r^2 through silu(C + alpha P_d) I_d - silu(C) I_d.
  const pm = `model.layers.${arch.layers - 1}.mlp`;
  DOMAINS.forEach((d, j) => {
    const gain = spec.domainGain?.[d] ?? 1;
    for (const [n, withP] of [[2 * j, true], [2 * j + 1, false]] as const) {
      set(`${pm}.gate_proj.weight`, n, K.constant, spec.gateConstant);
      if (withP) set(`${pm}.gate_proj.weight`, n, K.persona + j, spec.alpha);
      set(`${pm}.up_proj.weight`, n, K.item + j, 1);
      set(`${pm}.down_proj.weight`, K.score, n, ((withP ? 1 : -1) * gain) / spec.alpha);
    }
  });
  // Unembedding: options read S; everything else is pushed far down.
  const head = w('lm_head.weight');
  for (let t = 0; t < arch.vocab; t++) head.data[t * D + K.constant] = -spec.offFormat;
  spec.optionTokens.forEach((t, k) => {
    head.data[t * D + K.constant] = spec.optionBias[k]!;
    head.data[t * D + K.score] = spec.beta * (k + 1 - (spec.optionTokens.length + 1) / 2);
  });
  return out;
}

const silu = (x: number) => x / (1 + Math.exp(-x));

export interface GlassBoxAnswer {
  /** The persona level P and item loading I at the last position. */
  persona: Profile;
  item: Profile;
  score: number;
  /** Probability of each answer option, renormalised over the options, and the mass on them. */
  probs: number[];
  coverage: number;
}

/**
 * What a glass-box model answers after `ids` (the full prompt, chat template included),
 * computed in float64 from the spec alone: the truth the engine's numbers are checked
 * against.
 */
export function glassBoxAnswer(spec: GlassBoxSpec, ids: readonly number[]): GlassBoxAnswer {
  const markerOf = new Map(spec.markers.map((m) => [m.token, m]));
  const itemOf = new Map(spec.itemWords.map((m) => [m.token, m]));
  const P = DOMAINS.map((d) => spec.defaultLevel[d]);
  const I = DOMAINS.map(() => 0);
  let zA = 0;
  let zB = 0;
  const sumA = DOMAINS.map(() => 0);
  const sumB = DOMAINS.map(() => 0);
  // Head B's scores, shifted by their maximum for a stable softmax.
  const last = ids.length - 1;
  const { theta, perToken } = spec.recency;
  const scoreB = ids.map((t, i) => (itemOf.has(t) ? spec.focus.item * Math.cos((last - i) * theta) - (perToken / theta) * Math.sin((last - i) * theta) : 0));
  const maxB = Math.max(...scoreB);
  ids.forEach((t, i) => {
    const m = markerOf.get(t);
    const it = itemOf.get(t);
    const eA = m ? Math.exp(spec.focus.persona) : 1;
    const eB = Math.exp(scoreB[i]! - maxB);
    zA += eA;
    zB += eB;
    if (m) sumA[DOMAINS.indexOf(m.domain)]! += eA * m.sign * spec.strength;
    if (it) sumB[DOMAINS.indexOf(it.domain)]! += eB * it.sign;
  });
  DOMAINS.forEach((_, j) => {
    P[j]! += sumA[j]! / zA;
    I[j] = sumB[j]! / zB;
  });
  const D = spec.hidden;
  const sq = (v: number[]) => v.reduce((a, b) => a + b * b, 0);
  // The embedding has mean square 1; P and I are written to dimensions it leaves at 0.
  const r1 = Math.sqrt(1 + (sq(P) + sq(I)) / D + spec.rmsEps);
  let S = 0;
  DOMAINS.forEach((d, j) => {
    S += ((spec.domainGain?.[d] ?? 1) * (silu((spec.gateConstant + spec.alpha * P[j]!) / r1) - silu(spec.gateConstant / r1)) * (I[j]! / r1)) / spec.alpha;
  });
  const r2 = Math.sqrt(1 + (sq(P) + sq(I) + S * S) / D + spec.rmsEps);
  const n = spec.optionTokens.length;
  const logits = spec.optionTokens.map((_, k) => (spec.beta * (k + 1 - (n + 1) / 2) * S + spec.optionBias[k]!) / r2);
  const max = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - max));
  const optionMass = e.reduce((a, b) => a + b, 0);
  const rest = (spec.vocab - n) * Math.exp(-spec.offFormat / r2 - max);
  const toProfile = (v: number[]) => Object.fromEntries(DOMAINS.map((d, j) => [d, v[j]!])) as Profile;
  return { persona: toProfile(P), item: toProfile(I), score: S, probs: e.map((x) => x / optionMass), coverage: optionMass / (optionMass + rest) };
}

/** What every output says about a glass-box model. */
export function constructedNote(spec: GlassBoxSpec): string {
  return `a glass-box model: persona structure planted in random weights by persona-probe (trait focus ${spec.focus.persona}, persona layer ${spec.personaLayer}) to check measurements against known truth; not a language model`;
}

/** The planted spec of a glass-box model folder, or undefined for any other model. */
export function readGlassBox(dir: string): GlassBoxSpec | undefined {
  const file = join(dir, GLASS_BOX_FILE);
  if (!existsSync(file)) return undefined;
  const spec = JSON.parse(readFileSync(file, 'utf8')) as GlassBoxSpec;
  if (spec.kind !== 'persona-probe glass-box model') throw new UserError(`${file}: not a glass-box spec`);
  return spec;
}

export function writeGlassBoxSpec(dir: string, spec: GlassBoxSpec): void {
  writeFileSync(join(dir, GLASS_BOX_FILE), `${JSON.stringify(spec, null, 1)}\n`);
}
