/**
 * Step/rate/ETA reporting. On a TTY one line is redrawn in place; elsewhere (CI, log files)
 * a plain line is printed every `every` steps so logs stay short but complete.
 */
export class Progress {
  private readonly t0 = performance.now();
  private lastPrint = 0;

  constructor(
    private readonly total: number,
    private readonly firstStep: number,
    private readonly every: number,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {}

  update(step: number, fields: Record<string, number>): void {
    const tty = this.out.isTTY === true;
    const now = performance.now();
    const isLast = step === this.total;
    if (tty ? now - this.lastPrint < 200 && !isLast : step % this.every !== 0 && !isLast) return;
    this.lastPrint = now;
    const done = step - this.firstStep;
    const rate = done / ((now - this.t0) / 1000);
    const eta = rate > 0 ? (this.total - step) / rate : Infinity;
    const parts = Object.entries(fields).map(([k, v]) => `${k} ${formatNumber(v)}`);
    const line = `step ${step}/${this.total}  ${parts.join('  ')}  ${rate.toFixed(2)} it/s  ETA ${formatDuration(eta)}`;
    if (tty) this.out.write(`\r\x1b[K${line}${isLast ? '\n' : ''}`);
    else this.out.write(`${line}\n`);
  }
}

function formatNumber(v: number): string {
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
