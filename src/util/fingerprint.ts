// What a local model *is*, for run ids and cache keys: a content hash of its weight files,
// so a folder rebuilt at the same path with other weights gets new calls, never the old
// stored numbers. Files up to 2 GiB are hashed whole; larger ones by their first and last
// MiB and 256 evenly spaced 64 KiB blocks (any retrained or re-seeded checkpoint differs
// there). Hashes are cached by path, size, mtime and inode, in memory and in
// ~/.cache/persona-probe/fingerprints.json, so a large model is read once.

import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const WHOLE_LIMIT = 2 ** 31;
const BLOCK = 64 * 1024;
const memory = new Map<string, string>();

function cacheFile(): string {
  return join(process.env.PERSONA_PROBE_CACHE ?? join(homedir(), '.cache', 'persona-probe'), 'fingerprints.json');
}

function readCache(): Record<string, string> {
  try {
    return JSON.parse(readFileSync(cacheFile(), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

function hashFile(path: string, size: number): string {
  const h = createHash('sha256');
  h.update(`${size}\n`);
  const fd = openSync(path, 'r');
  try {
    const read = (offset: number, length: number) => {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, buf, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      h.update(buf.subarray(0, done));
    };
    if (size <= WHOLE_LIMIT) {
      for (let off = 0; off < size; off += 16 * 2 ** 20) read(off, Math.min(16 * 2 ** 20, size - off));
    } else {
      read(0, 2 ** 20);
      for (let i = 0; i < 256; i++) read(Math.floor(((size - BLOCK) * i) / 255), BLOCK);
      read(size - 2 ** 20, 2 ** 20);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** One fingerprint over a model's weight files (order-independent), 16 hex characters. */
export function weightsFingerprint(files: readonly string[]): string {
  const cache = readCache();
  let changed = false;
  const parts = files.map((f) => resolve(f)).sort().map((file) => {
    const st = statSync(file);
    const key = JSON.stringify([file, st.size, st.mtimeMs, st.ino]);
    let hash = memory.get(key) ?? cache[key];
    if (!hash) {
      hash = hashFile(file, st.size);
      cache[key] = hash;
      changed = true;
    }
    memory.set(key, hash);
    return hash;
  });
  if (changed) {
    try {
      mkdirSync(dirname(cacheFile()), { recursive: true });
      writeFileSync(cacheFile(), JSON.stringify(cache));
    } catch {
      // A cache that cannot be written only costs a rehash next time.
    }
  }
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

