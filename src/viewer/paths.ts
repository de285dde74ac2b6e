// Which files the viewer may serve: only regular files whose real path lies inside the
// folder it was started on. Checked on the raw, still-encoded request path, because a
// client need not normalise `..` (curl --path-as-is, raw sockets) and `%2e%2e` is `..`
// once decoded.

import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, resolve, sep } from 'node:path';

export type Resolved = { ok: true; path: string } | { ok: false; status: 400 | 403 | 404; reason: string };

const inside = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** `root` must already be a real path (realpathSync). `encoded` is the request path below the files route. */
export function resolveInside(root: string, encoded: string): Resolved {
  let decoded: string;
  try {
    decoded = decodeURIComponent(encoded);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding' };
  }
  if (decoded.includes('\0')) return { ok: false, status: 400, reason: 'NUL in path' };
  if (decoded.includes('\\')) return { ok: false, status: 403, reason: 'backslash in path' };
  if (isAbsolute(decoded) || /^[a-zA-Z]:/.test(decoded)) return { ok: false, status: 403, reason: 'absolute path' };
  if (decoded.split('/').some((s) => s === '..')) return { ok: false, status: 403, reason: 'path climbs out of the folder' };
  const full = resolve(root, decoded);
  if (!inside(root, full)) return { ok: false, status: 403, reason: 'path outside the folder' };
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    return { ok: false, status: 404, reason: 'no such file' };
  }
  // A symlink inside the folder may point anywhere: where it lands is what counts.
  if (!inside(root, real)) return { ok: false, status: 403, reason: 'link leads outside the folder' };
  if (!statSync(real).isFile()) return { ok: false, status: 404, reason: 'not a file' };
  return { ok: true, path: real };
}
