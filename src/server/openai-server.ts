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
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

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
    const content = typeof msg.content === 'string' ? msg.content : (msg.content as { type?: string; text?: string }[]).map((p) => (p?.type === 'text' && typeof p.text === 'string' ? p.text : '')).join('');
    return { role: (msg.role === 'developer' ? 'system' : msg.role) as ChatMessage['role'], content };
  });
  const num = (name: string, dflt: number, lo: number, hi: number) => {
    const v = body[name];
    if (v === undefined || v === null) return dflt;
    field(name, typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi, `a number in [${lo}, ${hi}]`);
    return v as number;
  };
  const maxTokens = num('max_completion_tokens', num('max_tokens', 256, 1, 32768), 1, 32768);
  const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
  field('stop', Array.isArray(stop) && stop.every((s) => typeof s === 'string'), 'a string or an array of strings');
  return {
    model: body.model as string,
    messages,
    temperature: num('temperature', 1, 0, 2),
    topP: num('top_p', 1, 0, 1),
    maxTokens: Math.floor(maxTokens),
    seed: Math.floor(num('seed', 0, -(2 ** 31), 2 ** 32)),
    stop: stop as string[],
    stream: body.stream === true,
    logprobs: body.logprobs === true,
    // OpenAI allows 20; more (up to the whole vocabulary) is an extension for exact option scoring.
    topLogprobs: Math.floor(num('top_logprobs', 0, 0, 1_000_000)),
  };
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
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
    const m = new RegExp(`^${o.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\+([A-Za-z0-9_.-]+)@(-?[0-9.]+)(?::(\\d+))?$`).exec(model);
    if (m && o.vectorsDir) {
      const file = join(o.vectorsDir, `${m[1]}.safetensors`);
      if (existsSync(file)) {
        const set = readVectorFile(file);
        const layer = m[3] !== undefined ? Number(m[3]) : Number(set.metadata.recommended_layer);
        const vector = set.layers.get(layer);
        if (!vector) throw new HttpError(404, `model "${model}": ${m[1]} has no vector for layer ${m[3] ?? set.metadata.recommended_layer}`, 'model_not_found');
        const list = [addIntervention(`blocks.${layer}.hook_resid_post`, vector, Number(m[2]))];
        engine.checkInterventions(list);
        dynamic.set(model, list);
        return list;
      }
    }
    throw new HttpError(404, `unknown model "${model}" (serving: ${[o.name, ...aliases.keys()].join(', ')}${o.vectorsDir ? `, and ${o.name}+TRAIT@COEF[:LAYER] for vectors in ${o.vectorsDir}` : ''})`, 'model_not_found');
  };

  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const r = queue.then(fn);
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
    const result = await serial(async () => {
      const ids = engine.tokenizer.chatIds(body.messages);
      return engine.generate(ids, {
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
            content.push(entry);
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
      if (res.headersSent) {
        res.end();
        return;
      }
      json(res, e.status, { error: { message: e.message, type: e.type, code: e.code } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new UserError(`serve: cannot listen on ${o.host ?? '127.0.0.1'}:${o.port ?? 0} (${errorMessage(err)})`)));
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve);
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
