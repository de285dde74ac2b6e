import { readHead } from '../util/files.js';
import { resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { registerSecret } from '../util/redact.js';
import { scrubBaseUrl } from '../util/url-secrets.js';
import type { Backend, TruthSource } from './types.js';
import { SimulatedPanel, parseSimSpec } from './sim.js';

export const BACKEND_KINDS = ['openai', 'anthropic', 'llamacpp', 'engine', 'sim'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

export interface ModelConfig {
  id: string;
  baseURL?: string;
  apiKeyEnv?: string;
  logprobs?: boolean;
  topLogprobs?: number;
  timeoutMs?: number;
  /** llamacpp: and engine: CPU threads (default: the machine's available parallelism). */
  threads?: number;
  /** engine: only: an interventions YAML applied to every call (relative to the suite file). */
  interventions?: string;
}

export function parseModelId(id: string): { kind: BackendKind; rest: string } {
  const colon = id.indexOf(':');
  const kind = colon < 0 ? id : id.slice(0, colon);
  if (!(BACKEND_KINDS as readonly string[]).includes(kind)) {
    throw new UserError(`unknown backend "${kind}" in model "${id}" (known: ${BACKEND_KINDS.map((k) => `${k}:`).join(', ')})`);
  }
  return { kind: kind as BackendKind, rest: colon < 0 ? '' : id.slice(colon + 1) };
}

function isLoopback(url: string | undefined): boolean {
  if (!url) return false;
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || host.startsWith('127.');
  } catch {
    return false;
  }
}

function readKey(envName: string, env: NodeJS.ProcessEnv, required: boolean, modelId: string): string {
  const key = env[envName];
  if (!key) {
    if (required) throw new UserError(`missing API key for ${modelId}: set the environment variable ${envName}`);
    return 'not-needed';
  }
  registerSecret(key);
  return key;
}

export interface BackendContext {
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
  /** Folder that relative paths in the model entry (interventions) are resolved against. */
  baseDir?: string;
}

/** Build a backend from a model entry. Checks keys and paths up front, before any call. */
export async function createBackend(model: string | ModelConfig, ctx: BackendContext = {}): Promise<Backend> {
  const cfg: ModelConfig = typeof model === 'string' ? { id: model } : model;
  const env = ctx.env ?? process.env;
  const { kind, rest } = parseModelId(cfg.id);
  if (cfg.interventions && kind !== 'engine') throw new UserError(`${cfg.id}: interventions need the engine: backend (activations are only reachable there)`);
  switch (kind) {
    case 'sim':
      return new SimulatedPanel(parseSimSpec(rest), cfg.logprobs !== false);
    case 'openai': {
      if (!rest) throw new UserError('openai: name a model, e.g. openai:gpt-4o-mini');
      const rawURL = cfg.baseURL ?? env.OPENAI_BASE_URL;
      const scrubbed = rawURL ? scrubBaseUrl(rawURL, cfg.baseURL ? `${cfg.id}: baseURL` : 'OPENAI_BASE_URL') : undefined;
      const baseURL = scrubbed?.url;
      // A local server (vLLM, llama.cpp, Ollama) usually needs no key; a hosted one does.
      const apiKey = readKey(cfg.apiKeyEnv ?? 'OPENAI_API_KEY', env, cfg.apiKeyEnv !== undefined || !isLoopback(baseURL), cfg.id);
      const { OpenAIBackend } = await import('./openai.js');
      return new OpenAIBackend({ model: rest, baseURL, secretQuery: scrubbed?.secretQuery, apiKey, logprobs: cfg.logprobs, topLogprobs: cfg.topLogprobs, timeoutMs: cfg.timeoutMs });
    }
    case 'anthropic': {
      if (!rest) throw new UserError('anthropic: name a model, e.g. anthropic:claude-3-5-haiku-latest');
      const rawURL = cfg.baseURL ?? env.ANTHROPIC_BASE_URL;
      const scrubbed = rawURL ? scrubBaseUrl(rawURL, cfg.baseURL ? `${cfg.id}: baseURL` : 'ANTHROPIC_BASE_URL') : undefined;
      const baseURL = scrubbed?.url;
      const apiKey = readKey(cfg.apiKeyEnv ?? 'ANTHROPIC_API_KEY', env, true, cfg.id);
      const { AnthropicBackend } = await import('./anthropic.js');
      return new AnthropicBackend({ model: rest, apiKey, baseURL, secretQuery: scrubbed?.secretQuery, timeoutMs: cfg.timeoutMs });
    }
    case 'llamacpp': {
      if (!rest) throw new UserError('llamacpp: name a model file or hf: URI, e.g. llamacpp:./model.gguf');
      const { LlamaCppBackend, isRemoteModelRef } = await import('./llamacpp.js');
      if (!isRemoteModelRef(rest)) checkGgufFile(rest);
      return new LlamaCppBackend({ model: rest, cacheDir: ctx.cacheDir, threads: cfg.threads });
    }
    case 'engine': {
      if (!rest) throw new UserError('engine: name a Hugging Face model folder, e.g. engine:./SmolLM2-135M-Instruct');
      const { EngineBackend } = await import('./engine.js');
      const interventionsFile = cfg.interventions ? resolve(ctx.baseDir ?? '.', cfg.interventions) : undefined;
      return EngineBackend.create({ model: rest, interventionsFile, hubCacheDir: ctx.cacheDir, threads: cfg.threads });
    }
  }
}

/** Fail before any run starts if a local model file is missing, unreadable or not GGUF. */
function checkGgufFile(path: string): void {
  let magic: string;
  try {
    magic = readHead(path, 4).toString('latin1');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `llamacpp: model file not found: ${path}` : `llamacpp: cannot read model file ${path} (${code})`);
  }
  if (magic !== 'GGUF') throw new UserError(`llamacpp: ${path} is not a GGUF file`);
}

/**
 * The ground truth behind a backend id, where its kind has one it can give without a call
 * (only the simulated panel); undefined for every other kind.
 */
export function truthSourceOf(id: string): TruthSource | undefined {
  const { kind, rest } = parseModelId(id);
  return kind === 'sim' ? new SimulatedPanel(parseSimSpec(rest)) : undefined;
}
