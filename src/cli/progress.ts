import type { CallCounters } from '../runner/execute.js';

/** A progress line on stderr: redrawn in place on a terminal, a line per 10% otherwise (CI logs). */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastDecile = -1;
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly label = 'run') {}

  update(c: Readonly<CallCounters>, phase = this.label): void {
    const now = Date.now();
    const frac = c.total ? c.done / c.total : 1;
    if (this.stream.isTTY) {
      if (now - this.lastDraw < 100 && c.done < c.total) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line(c, phase, frac, now)}\x1b[K`);
    } else {
      const decile = Math.floor(frac * 10);
      if (decile === this.lastDecile) return;
      this.lastDecile = decile;
      this.stream.write(`${this.line(c, phase, frac, now)}\n`);
    }
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }

  private line(c: Readonly<CallCounters>, phase: string, frac: number, now: number): string {
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = (now - this.started) / 1000;
    const eta = c.done > 0 && c.done < c.total ? `${Math.ceil((elapsed / c.done) * (c.total - c.done))}s` : '—';
    return `${phase} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${c.done}/${c.total} items · calls ${c.calls} · cache hits ${c.cacheHits} · retries ${c.retries} · errors ${c.errors} · ETA ${eta}`;
  }
}
