// A minimal OpenAI-compatible chat-completions server on loopback, for backend
// tests. The model name picks the behaviour: a well-behaved server with logprobs,
// one that answers 429 before succeeding, one that always fails, one too slow to
// answer, one that sends a body that is not JSON, and one whose replies are markup
// payloads (for the report's escaping tests); `poison` answers log-probabilities of +1000,
// `poison-once` does so the first time it sees each request.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Each payload sets window.__pwned if it ever executes. */
export const XSS_REPLY = `<script>window.__pwned = 'script'</script> I am <img src=x onerror="window.__pwned = 'img'"> and <a href="javascript:window.__pwned = 'link'">click me</a>`;

export interface FakeServer {
  url: string;
  authHeaders: string[];
  /** The request URLs (path and query), in order. */
  urls: string[];
  requests: { model: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

export async function startFakeOpenAI(): Promise<FakeServer> {
  const authHeaders: string[] = [];
  const urls: string[] = [];
  const requests: FakeServer['requests'] = [];
  const flakySeen = new Set<string>();
  const poisonSeen = new Set<string>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      authHeaders.push(String(req.headers.authorization ?? ''));
      urls.push(req.url ?? '');
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      const model = String(body.model);
      requests.push({ model, body });
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      const completion = (content: string, logprobs?: unknown) => ({
        id: 'cmpl-1', object: 'chat.completion', created: 0, model,
        choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content }, logprobs: logprobs ?? null }],
        usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
      });
      // Model text that would run if a report ever treated it as markup.
      if (model === 'xss') return json(200, completion(XSS_REPLY));
      // Judges whose verdict is a hash of their whole prompt (what they rate and the answer): deterministic,
      // blind to the instruction the answer was written under. A 0..100 score, or a role-play verdict.
      if (model === 'judge-by-text' || model === 'roleplay-by-text') {
        const prompt = ((body.messages as { content: string }[] | undefined) ?? []).map((m) => m.content).join('\n');
        let h = 2166136261;
        for (let i = 0; i < prompt.length; i++) h = Math.imul(h ^ prompt.charCodeAt(i), 16777619) >>> 0;
        return json(200, completion(model === 'judge-by-text' ? `SCORE: ${h % 101}` : `ROLE: ${['full', 'partial', 'none'][h % 3]}`));
      }
      if (model === 'broken') return json(500, { error: { message: 'internal failure', type: 'server_error' } });
      if (model === 'slow') return void setTimeout(() => json(200, completion('3')), 3000);
      if (model === 'malformed') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end('{"choices": [ this is not json');
      }
      if (model === 'flaky' && !flakySeen.has(raw)) {
        flakySeen.add(raw);
        return json(429, { error: { message: 'rate limited', type: 'rate_limit' } }, { 'retry-after': '0' });
      }
      // A hostile or broken server: log-probabilities no probability has (always, or once per request).
      if (body.logprobs && (model === 'poison' || (model === 'poison-once' && !poisonSeen.has(raw)))) {
        poisonSeen.add(raw);
        const top = [{ token: '4', logprob: 1000 }, { token: '2', logprob: Math.log(0.2) }];
        return json(200, completion('4', { content: [{ token: '4', logprob: 1000, bytes: null, top_logprobs: top }] }));
      }
      if (body.logprobs && model === 'offformat') {
        // A model that mostly answers off-format: 5% of its mass on the answer digits.
        const top = [{ token: 'As', logprob: Math.log(0.6) }, { token: 'I', logprob: Math.log(0.35) }, { token: '4', logprob: Math.log(0.03) }, { token: '2', logprob: Math.log(0.02) }];
        return json(200, completion('As', { content: [{ token: 'As', logprob: Math.log(0.6), bytes: null, top_logprobs: top }] }));
      }
      if (body.logprobs) {
        // A fixed distribution over the answer digits (with leading-space variants), plus an off-format token.
        const top = [
          { token: '4', logprob: Math.log(0.5) }, { token: ' 4', logprob: Math.log(0.1) }, { token: '2', logprob: Math.log(0.2) },
          { token: '5', logprob: Math.log(0.1) }, { token: 'I', logprob: Math.log(0.1) },
        ];
        return json(200, completion('4', { content: [{ token: '4', logprob: Math.log(0.5), bytes: null, top_logprobs: top }] }));
      }
      return json(200, completion('4'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    authHeaders,
    urls,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
