import { COMMANDS, parseCommand } from './specs.js';
import { resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { Out } from './out.js';
import { UserError, errorMessage } from '../util/errors.js';
import { startViewer } from '../viewer/server.js';

const DEFAULT_PORT = 7878;

/** `persona-probe view [DIR]`: the local viewer over every run under DIR, until interrupted. */
export async function cmdView(args: string[], io: Out): Promise<number> {
  const { values, positionals } = parseCommand(COMMANDS['view'], args);
  const dir = resolve(positionals[0] ?? values.dir ?? 'persona-probe-out');
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`view: no folder ${dir} (name the project directory that holds persona-probe.sqlite, or a folder of them)`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`view: --port must be 0..65535, got ${values.port}`);
  const viewer = await startViewer({ dir, host: values.host, port, log: io.err }).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new UserError(`view: port ${port} is in use (pass --port N, or --port 0 for any free port)`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`view: cannot listen on ${values.host}: ${errorMessage(err)}`);
    throw err;
  });
  io.log(`persona-probe view: ${viewer.url} (runs under ${dir}; Ctrl-C to stop)${values.host !== '127.0.0.1' ? `; listening on ${values.host}, not only loopback` : ''}`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  await viewer.close();
  return 0;
}
