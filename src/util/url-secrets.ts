// Credentials inside a base URL (user:password@, or a key=/token= query parameter, as
// some gateways and Azure-style deployments take them) are secrets like any API key:
// they are registered for redaction, kept out of backend ids (which are stored and
// rendered), and sent the way the client can send them, or refused in one line.

import { UserError } from './errors.js';
import { registerSecret } from './redact.js';

/** Query parameters that carry credentials. */
export const SECRET_PARAM = /^(?:api[-_]?key|key|token|access[-_]?token|auth|authorization|secret|password|passwd|sig|signature|code)$/i;

export interface ScrubbedUrl {
  /** The URL without credentials: what ids, logs and reports may show. */
  url: string;
  /** Credential query parameters, to send with every request (never stored). */
  secretQuery: Record<string, string>;
}

/**
 * Split a base URL into what may be shown and the credentials it carried. `where` names
 * the setting in errors. User info (user:password@) is refused: the SDKs send their own
 * Authorization header and cannot send URL credentials.
 */
export function scrubBaseUrl(raw: string, where: string): ScrubbedUrl {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UserError(`${where}: not a URL (expected http://host:port/v1)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserError(`${where}: ${u.protocol} URLs are not supported (http or https)`);
  if (u.username || u.password) {
    if (u.username) registerSecret(decodeURIComponent(u.username));
    if (u.password) registerSecret(decodeURIComponent(u.password));
    throw new UserError(`${where}: the base URL carries a user name or password, which the client cannot send; put the key in an environment variable named by apiKeyEnv (sent as a bearer token), or as a key= query parameter`);
  }
  const secretQuery: Record<string, string> = {};
  for (const [name, value] of [...u.searchParams]) {
    if (!SECRET_PARAM.test(name)) continue;
    registerSecret(value);
    secretQuery[name] = value;
    u.searchParams.delete(name);
  }
  const url = u.toString().replace(/\?$/, '');
  // new URL adds a trailing slash to a bare origin; keep the user's spelling otherwise.
  return { url: raw.endsWith('/') || u.pathname !== '/' ? url : url.replace(/\/$/, ''), secretQuery };
}
