import { lookup } from 'node:dns/promises';

/** Can we reach a host quickly? Bounded in time so an offline machine says so in seconds, not minutes. */
export async function reachable(host: string, timeoutMs = 3000): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
  const probe = (async () => {
    try {
      await lookup(host);
      const res = await fetch(`https://${host}/`, { method: 'HEAD', signal: AbortSignal.timeout(timeoutMs) });
      return res.status > 0;
    } catch {
      return false;
    }
  })();
  return Promise.race([probe, timeout]);
}
