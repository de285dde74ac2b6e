import { redact } from '../util/redact.js';
import { BackendError } from './types.js';

/** The innermost cause of an error (fetch wraps the real one: connection refused, host not found), as text. */
function rootCause(err: unknown): string | undefined {
  const chain: { message?: string; code?: string }[] = [];
  let x = (err as { cause?: unknown } | undefined)?.cause;
  while (x && typeof x === 'object' && chain.length < 8) {
    chain.push(x as { message?: string; code?: string });
    x = (x as { cause?: unknown }).cause;
  }
  const last = chain.at(-1);
  if (!last) return undefined;
  const text = last.message ?? '';
  return last.code && !text.includes(last.code) ? `${last.code}: ${text}` : text || last.code;
}

/**
 * Map an SDK error (openai and @anthropic-ai/sdk share the same shape: `status`,
 * `headers`, and named connection/timeout errors) onto a BackendError that says
 * whether a retry can help. Messages are redacted: SDKs sometimes echo headers.
 */
export function toBackendError(err: unknown, provider: string): BackendError {
  if (err instanceof BackendError) return err;
  const e = err as { status?: number; name?: string; message?: string; headers?: Headers | Record<string, string> };
  const cause = rootCause(err);
  const message = redact(`${provider}: ${e?.message ?? String(err)}${cause && !(e?.message ?? '').includes(cause) ? ` (${cause})` : ''}`);
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status !== undefined) {
    const retriable = status === 408 || status === 409 || status === 429 || status >= 500;
    return new BackendError(message, retriable, status, retryAfterMs(e.headers));
  }
  const name = `${e?.name ?? ''} ${(err as object | undefined)?.constructor?.name ?? ''}`;
  if (/Timeout|Connection|AbortError|FetchError/i.test(name) || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH/.test(cause ?? '') || /timed out|ECONNRESET|ECONNREFUSED|socket hang up|fetch failed/i.test(e?.message ?? '')) {
    return new BackendError(message, true);
  }
  // A body that is not the JSON the SDK expects: the server is misbehaving; a retry may get a good one.
  if (err instanceof SyntaxError || /JSON|Unexpected token|malformed/i.test(e?.message ?? '')) {
    return new BackendError(`${provider}: malformed response body (${redact(e?.message ?? '')})`, true);
  }
  return new BackendError(message, false);
}

function retryAfterMs(headers: Headers | Record<string, string> | undefined): number | undefined {
  if (!headers) return undefined;
  const raw = typeof (headers as Headers).get === 'function' ? (headers as Headers).get('retry-after') : (headers as Record<string, string>)['retry-after'];
  if (!raw) return undefined;
  const seconds = Number(raw);
  return Number.isFinite(seconds) ? Math.min(seconds * 1000, 60_000) : undefined;
}

/**
 * A preflight's verdict on a failed model listing: unreachable, or the key is refused, stops the run
 * (thrown as a BackendError); anything else (a server without /models) is left to the calls.
 */
export function throwIfPreflightBlocks(err: unknown, provider: string): void {
  const e = toBackendError(err, provider);
  if ((e.status === undefined && e.retriable) || e.status === 401 || e.status === 403) throw e;
}
