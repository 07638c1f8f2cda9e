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

/**
 * The one number format of progress and summary lines: 4 significant digits, exponent notation only
 * below 1e-3 or from 1e5 on, and `0` for zero. One rule for every column, so a value that decays
 * (the lr under cosine) changes digits, not layout: 0.002000 → 0.001000 → 7.412e-4 → 0.
 */
export function formatNumber(v: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs < 1e-3 || abs >= 1e5) return v.toExponential(3);
  // toPrecision switches to exponent form from 1e4 on (9999.5 rounds up to it): print those as integers.
  const fixed = v.toPrecision(4);
  return fixed.includes('e') ? String(Math.round(v)) : fixed;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A running phase; `done` prints how long it took and, given a count, its rate. */
export interface Phase {
  done(count?: number, unit?: string): void;
}

/**
 * A long phase with no steps of its own (loading data, the held-out loss, drawing samples): a line
 * when it starts, so a silent minute is explained, and one when it ends with its time and rate.
 * On a TTY the end line replaces the start line; elsewhere both stay in the log.
 */
export function startPhase(label: string, out: NodeJS.WriteStream = process.stderr): Phase {
  const t0 = performance.now();
  const tty = out.isTTY === true;
  out.write(tty ? `\r\x1b[K${label} …` : `${label} …\n`);
  return {
    done(count, unit = 'items') {
      const seconds = (performance.now() - t0) / 1000;
      const took = seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
      const amount = count === undefined ? took : `${count} ${unit} in ${took}${seconds > 0 ? ` (${formatNumber(count / seconds)} ${unit}/s)` : ''}`;
      out.write(`${tty ? '\r\x1b[K' : ''}${label}: ${amount}\n`);
    },
  };
}
