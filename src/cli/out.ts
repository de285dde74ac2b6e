/** Where a command writes: stdout lines and one-line errors (tests pass their own). */
export type Out = { log: (s: string) => void; err: (s: string) => void };
