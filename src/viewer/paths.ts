// Which files the viewer may serve: only regular files whose real path lies inside the
// folder it was started on. Checked on the raw, still-encoded request path, because a
// client need not normalise `..` (curl --path-as-is, raw sockets) and `%2e%2e` is `..`
// once decoded.

import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { STORE_FILE } from '../store/store.js';

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
  const report = reportFileReason(root, real);
  if (report) return { ok: false, status: 403, reason: report };
  return { ok: true, path: real };
}

/** What a run's report folder holds: pages, data and charts. */
export const REPORT_EXTENSIONS = new Set(['.html', '.json', '.csv', '.svg', '.png']);

/**
 * Why a file inside the folder is not a run's report file, or undefined when it is. A
 * report file is `reports/RUN/NAME.ext` beside a run store, with a report extension and no
 * segment of its path starting with a dot: never the store, a dotfile (.env, .git/config)
 * or anything else that happens to sit in the folder.
 */
export function reportFileReason(root: string, real: string): string | undefined {
  const segments = relative(root, real).split(sep);
  if (segments.some((s) => s.startsWith('.'))) return 'hidden files and folders are not served';
  if (!REPORT_EXTENSIONS.has(extname(real).toLowerCase())) return `only report files (${[...REPORT_EXTENSIONS].join(', ')}) are served`;
  const runDir = dirname(real);
  const reportsDir = dirname(runDir);
  if (basename(reportsDir) !== 'reports' || !existsSync(join(dirname(reportsDir), STORE_FILE))) return "only files in a run's report folder (reports/RUN/ beside a run store) are served";
  return undefined;
}
