import type { CallCounters } from '../runner/execute.js';

/**
 * Progress on stderr for anything that makes calls: redrawn in place on a terminal; off one
 * (a log, CI), a line at every 10% and at least every 10 seconds, so long work is never
 * silent. The ETA appears only once it means something: after 3 seconds and 2% of the work,
 * from the rate over the last 15 seconds (calls served from the store are instant, and an
 * early average would promise too much or too little).
 */
export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private lastLine = 0;
  private lastDecile = -1;
  private readonly samples: { t: number; done: number }[] = [];

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly label = 'run',
    private readonly everyMs = 10_000,
  ) {}

  /** Progress of local work that makes no calls (forward passes, conversations): `done` of `total` steps. */
  steps(done: number, total: number): void {
    this.update({ done, total, calls: done, cacheHits: 0, errors: 0, retries: 0 });
  }

  update(c: Readonly<CallCounters>, phase = this.label): void {
    const now = Date.now();
    this.samples.push({ t: now, done: c.done });
    while (this.samples.length > 2 && now - this.samples[0]!.t > 15_000) this.samples.shift();
    const frac = c.total ? Math.min(1, c.done / c.total) : 1;
    if (this.stream.isTTY) {
      if (now - this.lastDraw < 100 && c.done < c.total) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line(c, phase, frac, now)}\x1b[K`);
      return;
    }
    const decile = Math.floor(frac * 10);
    if (decile === this.lastDecile && now - this.lastLine < this.everyMs) return;
    this.lastDecile = decile;
    this.lastLine = now;
    this.stream.write(`${this.line(c, phase, frac, now)}\n`);
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }

  private eta(c: Readonly<CallCounters>, frac: number, now: number): string {
    const elapsed = now - this.started;
    if (c.done >= c.total) return 'done';
    if (elapsed < 3000 || frac < 0.02 || this.samples.length < 2) return '…';
    const first = this.samples[0]!;
    const rate = (c.done - first.done) / Math.max(1, now - first.t);
    if (!(rate > 0)) return '…';
    const s = Math.ceil((c.total - c.done) / rate / 1000);
    return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
  }

  private line(c: Readonly<CallCounters>, phase: string, frac: number, now: number): string {
    const width = 24;
    const filled = Math.round(frac * width);
    const elapsed = Math.round((now - this.started) / 1000);
    const first = this.samples[0];
    const rate = first && now > first.t ? ((c.done - first.done) * 1000) / (now - first.t) : Number.NaN;
    const rateText = Number.isFinite(rate) && rate > 0 ? `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)}/s` : '…/s';
    return `${phase} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${c.done}/${c.total} · ${rateText} · calls ${c.calls} · from store ${c.cacheHits} · retries ${c.retries} · errors ${c.errors} · ${elapsed}s · ETA ${this.eta(c, frac, now)}`;
  }
}
