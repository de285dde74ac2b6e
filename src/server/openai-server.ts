// `persona-probe serve`: an OpenAI-compatible chat-completions server over the
// activation engine, so any OpenAI client can talk to a steered or capped persona.
// Model names pick the interventions: BASE (the --interventions file, if any),
// BASE+ALIAS (a named interventions YAML), BASE+TRAIT@COEF[:LAYER] (add a persona
// vector from --vectors DIR at its recommended layer, or LAYER). One engine, one call
// at a time; requests queue. Binds 127.0.0.1 unless told otherwise; an optional bearer
// token is compared in constant time and never echoed.

import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Engine, logSoftmax } from '../engine/engine.js';
import { addIntervention, loadInterventionFile, type Intervention } from '../engine/interventions.js';
import { readVectorFile } from '../engine/formats/vector-files.js';
import type { ChatMessage } from '../backends/types.js';
import { UserError, errorMessage } from '../util/errors.js';

export interface ServeOptions {
  model: string;
  /** The base model's name in requests (default: the folder's name). */
  name: string;
  /** Interventions applied to the base name. */
  interventions?: string;
  /** ALIAS -> interventions YAML, served as NAME+ALIAS. */
  aliases?: Record<string, string>;
  /** Folder of persona-vector files (TRAIT.safetensors) for NAME+TRAIT@COEF[:LAYER]. */
  vectorsDir?: string;
  host?: string;
  port?: number;
  token?: string;
  threads?: number;
  hubCacheDir?: string;
  /** Largest request body accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Requests waiting for the engine beyond the one it runs; more are answered 429 (default 256). */
  maxQueue?: number;
}

/**
 * What one request may ask for. top_logprobs past OpenAI's 20 is allowed (exact option
 * scoring over a whole vocabulary needs it), but the alternatives a response carries,
 * top_logprobs × max_tokens, are bounded: each is an object in memory until it is sent.
 */
export const SERVE_LIMITS = { maxTokens: 32768, topLogprobs: 262144, logprobEntries: 262144, maxCoefficient: 1e4 } as const;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const isLoopbackHost = (host: string) => LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
/** A Host or Origin header's host name, without port or IPv6 brackets. */
const hostName = (value: string): string => value.replace(/:\d+$/, '').replace(/^\[|\]$/g, '').toLowerCase();

export interface RunningServer {
  url: string;
  models: string[];
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

const sha = (s: string) => createHash('sha256').update(s).digest();

/** A steering coefficient as written in a model name: a plain decimal number. */
const COEFFICIENT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** Vector aliases resolved on request and kept for reuse, at most this many. */
const DYNAMIC_ALIASES = 64;

interface ChatBody {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
  stop: string[];
  stream: boolean;
  logprobs: boolean;
  topLogprobs: number;
}

function parseBody(raw: string): ChatBody {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', 'invalid_json');
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'the request body must be a JSON object', 'invalid_body');
  const field = (name: string, ok: boolean, what: string) => {
    if (!ok) throw new HttpError(400, `"${name}" must be ${what}`, 'invalid_value');
  };
  field('model', typeof body.model === 'string' && body.model.length > 0, 'a model name');
  field('messages', Array.isArray(body.messages) && body.messages.length > 0, 'a non-empty array of messages');
  const messages = (body.messages as unknown[]).map((m, i) => {
    const msg = m as { role?: unknown; content?: unknown };
    field(`messages[${i}]`, !!msg && ['system', 'user', 'assistant', 'developer'].includes(msg.role as string) && (typeof msg.content === 'string' || Array.isArray(msg.content)), '{role: system|user|assistant, content}');
    if (Array.isArray(msg.content)) {
      (msg.content as { type?: unknown; text?: unknown }[]).forEach((part, j) => {
        // Images, audio and files would be dropped silently: refuse them instead.
        field(`messages[${i}].content[${j}]`, !!part && part.type === 'text' && typeof part.text === 'string', 'a text part ({type: "text", text}); this server reads text only');
      });
    }
    const content = typeof msg.content === 'string' ? msg.content : (msg.content as { text: string }[]).map((p) => p.text).join('');
    return { role: (msg.role === 'developer' ? 'system' : msg.role) as ChatMessage['role'], content };
  });
  const num = (name: string, dflt: number, lo: number, hi: number) => {
    const v = body[name];
    if (v === undefined || v === null) return dflt;
    field(name, typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi, `a number in [${lo}, ${hi}]`);
    return v as number;
  };
  const maxTokens = num('max_completion_tokens', num('max_tokens', 256, 1, SERVE_LIMITS.maxTokens), 1, SERVE_LIMITS.maxTokens);
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  field('stop', Array.isArray(stop) && stop.length <= 16 && stop.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 1000), 'a non-empty string or an array of up to 16 non-empty strings');
  // One choice per request: n > 1 would otherwise be answered with one choice and no word.
  num('n', 1, 1, 1);
  const logprobs = body.logprobs === true;
  const topLogprobs = Math.floor(num('top_logprobs', 0, 0, SERVE_LIMITS.topLogprobs));
  if (logprobs && Math.max(1, topLogprobs) * Math.floor(maxTokens) > SERVE_LIMITS.logprobEntries) {
    throw new HttpError(400, `top_logprobs × max_tokens = ${Math.max(1, topLogprobs) * Math.floor(maxTokens)} is over this server's limit of ${SERVE_LIMITS.logprobEntries} log-probabilities per response`, 'invalid_value');
  }
  return {
    model: body.model as string,
    messages,
    temperature: num('temperature', 1, 0, 2),
    topP: num('top_p', 1, 0, 1),
    maxTokens: Math.floor(maxTokens),
    seed: Math.floor(num('seed', 0, -(2 ** 31), 2 ** 32)),
    stop: stop as string[],
    stream: body.stream === true,
    logprobs,
    // OpenAI allows 20; more (up to the whole vocabulary) is an extension for exact option scoring.
    topLogprobs,
  };
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const listenHost = o.host ?? '127.0.0.1';
  const loopbackOnly = isLoopbackHost(hostName(listenHost));
  if (!loopbackOnly && !o.token) {
    throw new UserError(`serve: refusing to listen on ${listenHost} without a bearer token: anyone who can reach it could drive the model (set ${'PERSONA_PROBE_SERVE_TOKEN'} or --token-env, or listen on 127.0.0.1)`);
  }
  const engine = await Engine.load(o.model, { threads: o.threads, hubCacheDir: o.hubCacheDir });
  const base = o.interventions ? loadInterventionFile(o.interventions, engine.spec) : [];
  const aliases = new Map<string, Intervention[]>();
  for (const [alias, file] of Object.entries(o.aliases ?? {})) aliases.set(`${o.name}+${alias}`, loadInterventionFile(file, engine.spec));
  engine.checkInterventions([...base, ...[...aliases.values()].flat()]);
  const dynamic = new Map<string, Intervention[]>();

  const interventionsFor = (model: string): Intervention[] => {
    if (model === o.name) return base;
    const known = aliases.get(model) ?? dynamic.get(model);
    if (known) return known;
    const m = new RegExp(`^${o.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\+([A-Za-z0-9_-][A-Za-z0-9_.-]*)@([^:]*)(?::(\\d+))?$`).exec(model);
    if (m && o.vectorsDir) {
      const file = join(o.vectorsDir, `${m[1]}.safetensors`);
      if (existsSync(file)) {
        const coef = COEFFICIENT.test(m[2]!) ? Number(m[2]) : NaN;
        if (!Number.isFinite(coef) || Math.abs(coef) > SERVE_LIMITS.maxCoefficient) {
          throw new HttpError(400, `model "${model}": the coefficient "${m[2]}" is not a number within ±${SERVE_LIMITS.maxCoefficient}`, 'invalid_value');
        }
        let set;
        try {
          set = readVectorFile(file);
        } catch (err) {
          throw new HttpError(400, `model "${model}": ${errorMessage(err)}`, 'invalid_vector');
        }
        if (m[3] === undefined && set.metadata.recommended_layer === undefined) throw new HttpError(400, `model "${model}": ${m[1]} has no recommended layer (no layer's separation cleared the null); name one: ${o.name}+${m[1]}@${m[2]}:LAYER`, 'invalid_value');
        const layer = m[3] !== undefined ? Number(m[3]) : Number(set.metadata.recommended_layer);
        const vector = set.layers.get(layer);
        if (!vector) throw new HttpError(404, `model "${model}": ${m[1]} has no vector for layer ${m[3] ?? set.metadata.recommended_layer}`, 'model_not_found');
        const list = [addIntervention(`blocks.${layer}.hook_resid_post`, vector, coef)];
        engine.checkInterventions(list);
        if (dynamic.size >= DYNAMIC_ALIASES) dynamic.delete(dynamic.keys().next().value!);
        dynamic.set(model, list);
        return list;
      }
    }
    throw new HttpError(404, `unknown model "${model}" (serving: ${[o.name, ...aliases.keys()].join(', ')}${o.vectorsDir ? `, and ${o.name}+TRAIT@COEF[:LAYER] for vectors in ${o.vectorsDir}` : ''})`, 'model_not_found');
  };

  // One generation at a time; at most maxQueue more wait, and a request whose client has
  // gone is dropped from the queue (and stopped within one token if it is running).
  let queue: Promise<unknown> = Promise.resolve();
  let waiting = 0;
  const maxQueue = o.maxQueue ?? 256;
  const serial = <T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> => {
    if (waiting >= maxQueue) throw new HttpError(429, `the server is busy (${waiting} requests waiting); try again shortly`, 'rate_limit_exceeded', 'rate_limit_error');
    waiting++;
    const r = queue.then(() => {
      waiting--;
      if (signal.aborted) throw new HttpError(499, 'the client went away', 'client_closed');
      return fn();
    });
    queue = r.catch(() => undefined);
    return r;
  };
  const expected = o.token ? sha(`Bearer ${o.token}`) : undefined;

  const tokenEntry = (id: number, logprob: number) => {
    const token = engine.tokenizer.decode([id], false);
    return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // On loopback, only requests addressed to loopback (a web page elsewhere cannot reach the
    // server by DNS rebinding), and never a browser page from another origin: browsers send
    // simple cross-origin POSTs without a preflight, so the Origin header is the check.
    if (loopbackOnly && !isLoopbackHost(hostName(String(req.headers.host ?? '')))) throw new HttpError(403, 'this server answers only requests addressed to this machine (127.0.0.1 or localhost)', 'forbidden_host', 'permission_error');
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let originHost = '';
      try {
        originHost = hostName(new URL(origin).host);
      } catch {
        // 'null' and malformed origins are refused below.
      }
      if (!isLoopbackHost(originHost)) throw new HttpError(403, 'requests from web pages are refused (Origin is not this machine)', 'forbidden_origin', 'permission_error');
    }
    if (expected) {
      const given = sha(String(req.headers.authorization ?? ''));
      if (!timingSafeEqual(given, expected)) throw new HttpError(401, 'missing or wrong bearer token', 'invalid_api_key', 'authentication_error');
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      const data = [o.name, ...aliases.keys()].map((id) => ({ id, object: 'model', created: 0, owned_by: 'persona-probe' }));
      return json(res, 200, { object: 'list', data });
    }
    if (url.pathname !== '/v1/chat/completions') throw new HttpError(404, `no route ${req.method} ${url.pathname} (try POST /v1/chat/completions)`, 'not_found');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', 'method_not_allowed');
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new HttpError(415, `the request body must be sent as application/json (got ${type ? `"${type}"` : 'no content type'})`, 'unsupported_media_type');
    const body = parseBody(await readBody(req, o.maxBodyBytes ?? 1 << 20));
    const interventions = interventionsFor(body.model);
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const content: { token: string; logprob: number; bytes: number[]; top_logprobs: { token: string; logprob: number; bytes: number[] }[] }[] = [];
    let sent = '';
    const tokens: number[] = [];
    const chunk = (delta: Record<string, unknown>, finish: string | null, logprobs?: unknown) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: logprobs ?? null }] })}\n\n`);
    if (body.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      chunk({ role: 'assistant', content: '' }, null);
    }
    // The client going away (before or during generation) stops the work.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(new HttpError(499, 'the client went away', 'client_closed'));
    });
    const result = await serial(gone.signal, async () => {
      const ids = engine.tokenizer.chatIds(body.messages);
      return engine.generate(ids, {
        signal: gone.signal,
        maxTokens: body.maxTokens,
        temperature: body.temperature,
        topP: body.topP,
        seed: body.seed,
        stop: body.stop,
        interventions,
        onToken: (token, logits) => {
          tokens.push(token);
          let entry;
          if (body.logprobs) {
            const lp = logSoftmax(logits);
            const top = body.topLogprobs > 0 ? topK(lp, body.topLogprobs).map((t) => tokenEntry(t, lp[t]!)) : [];
            entry = { ...tokenEntry(token, lp[token]!), top_logprobs: top };
            // A stream sends each token's alternatives with its chunk and keeps none.
            if (!body.stream) content.push(entry);
          }
          if (body.stream) {
            // Emit only text that is complete (no half of a multi-byte character), and never past a stop string.
            const text = engine.tokenizer.decode(tokens);
            if (!text.endsWith('\uFFFD') && !body.stop.some((s) => text.includes(s))) {
              const delta = text.slice(sent.length);
              sent = text;
              if (delta || entry) chunk({ content: delta }, null, entry ? { content: [entry] } : undefined);
            }
          }
        },
      });
    });
    const finish = result.finishReason === 'stop' ? 'stop' : 'length';
    const usage = { prompt_tokens: result.promptTokens, completion_tokens: result.tokens.length, total_tokens: result.promptTokens + result.tokens.length };
    if (body.stream) {
      const rest = result.text.slice(sent.length);
      chunk(rest ? { content: rest } : {}, finish);
      res.write('data: [DONE]\n\n');
      res.end();
      return;
    }
    json(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: body.model,
      choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: finish, logprobs: body.logprobs ? { content } : null }],
      usage,
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${errorMessage(err)}`, 'internal_error', 'server_error');
      if (res.headersSent || res.destroyed) {
        res.end();
        return;
      }
      json(res, e.status, { error: { message: e.message, type: e.type, code: e.code } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UserError(`serve: cannot listen on ${listenHost}:${o.port ?? 0} (${errorMessage(err)})`)));
    server.listen(o.port ?? 0, listenHost, resolve);
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/v1`,
    models: [o.name, ...aliases.keys()],
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      await engine.dispose();
    },
  };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > limit) {
        reject(new HttpError(413, `request body over ${limit} bytes`, 'body_too_large'));
        req.destroy();
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function topK(values: Float32Array, k: number): number[] {
  if (k > 64) return Array.from(values.keys()).sort((a, b) => values[b]! - values[a]!).slice(0, k);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (best.length < k || values[i]! > values[best[best.length - 1]!]!) {
      let j = best.length < k ? best.length : best.length - 1;
      if (best.length < k) best.push(i);
      while (j > 0 && values[best[j - 1]!]! < values[i]!) {
        best[j] = best[j - 1]!;
        j--;
      }
      best[j] = i;
    }
  }
  return best;
}
