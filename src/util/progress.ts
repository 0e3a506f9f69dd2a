// A progress bar for long work: a redrawn line on a terminal, a line every few seconds in
// logs (CI, pipes), and an in-place updating output in notebooks.
import { escapeHtml, liveDisplay } from "./host";

export interface ProgressOptions {
  label: string;
  total: number;
  unit?: string;
  /** Minimum milliseconds between redraws. */
  every?: number;
}

export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private last = 0;
  private info = "";
  private readonly display = liveDisplay();
  private readonly tty = !!process.stderr.isTTY;

  constructor(private readonly opts: ProgressOptions) {}

  /** Advance by `n` units; `info` (e.g. "loss 0.41") is shown beside the bar. */
  tick(n = 1, info?: string): void {
    this.done += n;
    if (info !== undefined) this.info = info;
    const now = Date.now();
    const every = this.opts.every ?? (this.display || this.tty ? 250 : 5000);
    if (now - this.last >= every || this.done >= this.opts.total) {
      this.last = now;
      this.draw();
    }
  }

  /** Units per second since start. */
  rate(): number {
    return this.done / Math.max(1e-3, (Date.now() - this.start) / 1000);
  }

  line(): string {
    const { label, total, unit = "it" } = this.opts;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const secs = (Date.now() - this.start) / 1000;
    const eta = this.done > 0 ? (secs / this.done) * (total - this.done) : NaN;
    const etaText = Number.isFinite(eta) ? ` eta ${formatSeconds(eta)}` : "";
    return `${label} [${bar}] ${this.done}/${total} ${this.rate().toFixed(1)} ${unit}/s ${formatSeconds(secs)}${etaText}${this.info ? ` ${this.info}` : ""}`;
  }

  private draw(): void {
    const text = this.line();
    if (this.display) this.display.html(`<pre style="margin:0">${escapeHtml(text)}</pre>`);
    else if (this.tty) process.stderr.write(`\r${text}\x1b[K${this.done >= this.opts.total ? "\n" : ""}`);
    else process.stderr.write(`${text}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${Math.round(s % 60)}s` : `${Math.floor(m / 60)}h${m % 60}m`;
}
