// Fault injection for the resume tests: with PERSONA_PROBE_KILL_AFTER_CALLS=N in the
// environment, the process kills itself with SIGKILL right after storing its N-th call,
// so a test can stop a run at an exact point (a strictly sequential phase included)
// instead of racing a timer. Unset, this does nothing.

const limit = Number(process.env.PERSONA_PROBE_KILL_AFTER_CALLS ?? '');
let stored = 0;

/** Called after each call is stored. */
export function afterStoredCall(): void {
  if (!(limit > 0)) return;
  if (++stored >= limit) process.kill(process.pid, 'SIGKILL');
}
