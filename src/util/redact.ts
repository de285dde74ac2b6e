// Secrets never reach the store, logs or reports. Backends never put keys into
// requests they record; this is the second line of defence for free text
// (error messages from SDKs sometimes echo headers).

const PATTERNS: RegExp[] = [
  /\b(sk-[A-Za-z0-9_\-]{8,})/g, // OpenAI-style keys
  /\b(sk-ant-[A-Za-z0-9_\-]{8,})/g, // Anthropic keys
  /(Bearer\s+)[A-Za-z0-9._\-~+/=]{6,}/gi,
  /("?(?:api[_-]?key|authorization|x-api-key)"?\s*[:=]\s*"?)[^"\s,}]+/gi,
  // Credentials in URLs: user:password@ and key-like query parameters.
  /(\/\/)[^/\s"@:]+:[^/\s"@]+(?=@)/g,
  /([?&](?:api[-_]?key|key|token|access[-_]?token|auth|secret|password|passwd|sig|signature)=)[^&\s"#]+/gi,
];

const knownSecrets = new Set<string>();

/** Register a secret value (an API key read from the environment) so it is scrubbed wherever it appears. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 6) knownSecrets.add(secret);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of knownSecrets) out = out.split(secret).join('[REDACTED]');
  for (const re of PATTERNS) out = out.replace(re, (_m, prefix: string) => (prefix.startsWith('sk-') ? '[REDACTED]' : `${prefix}[REDACTED]`));
  return out;
}
