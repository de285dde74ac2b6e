// Model folders from the Hugging Face Hub: `hf:owner/repo` or `hf:owner/repo@revision`.
// Files are downloaded once into a cache folder and checked against the SHA-256 the
// Hub publishes for LFS files (X-Linked-Etag); a mismatch deletes the download and
// fails. HF_ENDPOINT points elsewhere (a mirror, or a local server in tests);
// HF_TOKEN is sent for gated repos and never logged.

import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../util/errors.js';
import { registerSecret } from '../util/redact.js';

export function isHubRef(ref: string): boolean {
  return ref.startsWith('hf:');
}

const REQUIRED = ['config.json', 'tokenizer.json'];
const OPTIONAL = ['tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json'];

/** A local folder as is; an `hf:` reference downloaded (once) and returned as a local folder. */
export async function resolveModelFolder(ref: string, cacheDir?: string, log: (s: string) => void = (s) => process.stderr.write(`${s}\n`)): Promise<string> {
  if (!isHubRef(ref)) return ref;
  const m = /^hf:([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(ref);
  if (!m) throw new UserError(`${ref}: expected hf:owner/repo or hf:owner/repo@revision`);
  const [, repo, revision = 'main'] = m as unknown as [string, string, string | undefined];
  const endpoint = (process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/$/, '');
  const dir = join(cacheDir ?? join(homedir(), '.cache', 'persona-probe', 'hub'), repo.replace('/', '--'), revision);
  mkdirSync(dir, { recursive: true });
  const complete = join(dir, '.complete');
  if (existsSync(complete)) return dir;
  const token = process.env.HF_TOKEN;
  if (token) registerSecret(token);
  const get = (file: string) => download(`${endpoint}/${repo}/resolve/${revision}/${file}`, join(dir, file), token, log);

  for (const f of REQUIRED) if (!(await get(f))) throw new UserError(`${ref}: ${f} not found on ${endpoint}`);
  for (const f of OPTIONAL) await get(f);
  if (await get('model.safetensors.index.json')) {
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')) as { weight_map?: Record<string, string> };
    for (const shard of new Set(Object.values(index.weight_map ?? {}))) if (!(await get(shard))) throw new UserError(`${ref}: shard ${shard} not found`);
  } else if (!(await get('model.safetensors'))) {
    throw new UserError(`${ref}: no model.safetensors or model.safetensors.index.json on ${endpoint}`);
  }
  writeFileSync(complete, `${new Date().toISOString()}\n`);
  return dir;
}

/** Download to `target` unless already there; false on 404. Verifies SHA-256 when the server states one. */
async function download(url: string, target: string, token: string | undefined, log: (s: string) => void): Promise<boolean> {
  if (existsSync(target)) return true;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'manual' });
  } catch (err) {
    throw new UserError(`cannot reach ${new URL(url).host} to download ${url.split('/').pop()} (${(err as Error).message})`);
  }
  // LFS files answer with a redirect whose headers carry the content's SHA-256.
  let expected = (res.headers.get('x-linked-etag') ?? res.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '');
  if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
    res = await fetch(new URL(res.headers.get('location')!, url), { headers });
  }
  if (res.status === 404) return false;
  if (!res.ok || !res.body) throw new UserError(`download of ${url} failed: HTTP ${res.status}`);
  if (!/^[0-9a-f]{64}$/.test(expected)) expected = '';
  const size = Number(res.headers.get('content-length') ?? 0);
  const name = url.split('/').slice(-1)[0];
  if (size > 50e6) log(`persona-probe: downloading ${name} (${(size / 1e6).toFixed(0)} MB)`);
  const partial = `${target}.partial`;
  const hash = createHash('sha256');
  const body = Readable.fromWeb(res.body as never);
  // Progress on a large download: a line every 10 seconds (a multi-GB file takes minutes).
  let received = 0;
  let lastLine = Date.now();
  const started = lastLine;
  body.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    received += chunk.length;
    if (size > 50e6 && Date.now() - lastLine >= 10_000) {
      lastLine = Date.now();
      const rate = received / ((lastLine - started) / 1000);
      log(`persona-probe: ${name}: ${(received / 1e6).toFixed(0)} of ${(size / 1e6).toFixed(0)} MB (${(rate / 1e6).toFixed(1)} MB/s, ${Math.ceil((size - received) / rate)} s left)`);
    }
  });
  await pipeline(body, createWriteStream(partial));
  const actual = hash.digest('hex');
  if (expected && actual !== expected) {
    rmSync(partial, { force: true });
    throw new UserError(`checksum mismatch for ${url.split('/').pop()}: expected sha256 ${expected}, got ${actual}; the download was deleted`);
  }
  renameSync(partial, target);
  return true;
}
