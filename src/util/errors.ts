/**
 * An error meant for the person at the terminal: the CLI prints its message as one
 * line (no stack) and exits non-zero. Everything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
