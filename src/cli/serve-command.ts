// `persona-probe serve`: the OpenAI-compatible server over the engine (src/server).

import { COMMANDS, parseCommand } from './specs.js';
import { basename, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { registerSecret } from '../util/redact.js';

import type { Out } from './out.js';

export const TOKEN_ENV = 'PERSONA_PROBE_SERVE_TOKEN';

export async function cmdServe(args: string[], io: Out, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseCommand(COMMANDS['serve'], args);
  if (!values.model) throw new UserError('serve: pass --model engine:DIR (a Hugging Face model folder)');
  const model = values.model.startsWith('engine:') ? values.model.slice('engine:'.length) : values.model;
  const aliases: Record<string, string> = {};
  for (const a of values.alias ?? []) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UserError(`serve: --alias takes NAME=interventions.yaml, got "${a}"`);
    aliases[a.slice(0, eq)] = resolve(a.slice(eq + 1));
  }
  const tokenEnv = values['token-env'] ?? TOKEN_ENV;
  const token = env[tokenEnv] || undefined;
  if (values['token-env'] && !token) throw new UserError(`serve: the environment variable ${tokenEnv} is empty`);
  if (token) registerSecret(token);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`serve: --port must be 0..65535, got "${values.port}"`);
  const { startServer } = await import('../server/openai-server.js');
  const server = await startServer({
    model,
    name: values.name ?? basename(resolve(model.startsWith('hf:') ? model.split('/').pop()! : model)),
    interventions: values.interventions,
    aliases,
    vectorsDir: values.vectors,
    host: values.host,
    port,
    token,
    threads: values.threads ? Number(values.threads) : undefined,
  });
  io.log(`persona-probe serve: ${server.url} (models: ${server.models.join(', ')}${values.vectors ? `, NAME+TRAIT@COEF[:LAYER] from ${values.vectors}` : ''})${token ? `; bearer token required (from ${tokenEnv})` : ''}${values.host !== '127.0.0.1' ? `; listening on ${values.host}, not only loopback` : ''}`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  await server.close();
  return 0;
}
