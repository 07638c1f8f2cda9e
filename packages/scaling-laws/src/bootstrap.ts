import { Rng } from '@difflab/core-tensor';
import { FitError } from './errors.js';
import { quantile } from './stats.js';

export interface BootstrapOptions {
  /** Number of resamples B (default 1000). */
  resamples?: number;
  /** Central coverage of the percentile intervals (default 0.95). */
  level?: number;
  seed?: number;
}

export interface BootstrapInfo {
  /**
   * What is resampled: `cases` = the runs, with replacement (within strata when given); `residuals` = the pooled,
   * leverage-adjusted residuals of a fixed-design fit, added back to its fitted values (every resample keeps the design).
   */
  scheme: 'cases' | 'residuals';
  resamples: number;
  /** Resamples whose refit failed (e.g. a degenerate isoFLOP parabola); they are left out of the intervals. */
  failed: number;
  level: number;
  seed: number;
}

export interface Estimate {
  quantity: string;
  value: number;
  /** Percentile bootstrap interval. */
  lo: number;
  hi: number;
}

export function resolveBootstrap(opts: BootstrapOptions): Omit<BootstrapInfo, 'failed' | 'scheme'> {
  const resamples = opts.resamples ?? 1000;
  const level = opts.level ?? 0.95;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(resamples) || resamples < 0) throw new FitError(`bootstrap resamples must be a non-negative integer, got ${resamples}`);
  if (!(level > 0 && level < 1)) throw new FitError(`interval level must be in (0, 1), got ${level}`);
  return { resamples, level, seed };
}

/**
 * Refits on B resamples of the runs drawn with replacement. With `strata`, each stratum
 * (e.g. one isoFLOP budget) is resampled within itself so every resample keeps its design.
 * A refit that throws FitError counts as failed; any other error propagates.
 */
export function bootstrapDraws<T>(
  rowCount: number,
  opts: BootstrapOptions,
  refit: (rows: Int32Array) => T,
  strata?: ReadonlyArray<ReadonlyArray<number>>,
): { draws: T[]; info: BootstrapInfo } {
  const { resamples, level, seed } = resolveBootstrap(opts);
  const rng = new Rng(seed);
  const groups = strata ?? [Array.from({ length: rowCount }, (_, i) => i)];
  const draws: T[] = [];
  let failed = 0;
  for (let b = 0; b < resamples; b++) {
    const rows = new Int32Array(rowCount);
    let k = 0;
    for (const g of groups) for (let j = 0; j < g.length; j++) rows[k++] = g[rng.int(g.length)]!;
    try {
      draws.push(refit(rows.subarray(0, k)));
    } catch (err) {
      if (!(err instanceof FitError)) throw err;
      failed++;
    }
  }
  return { draws, info: { scheme: 'cases', resamples, failed, level, seed } };
}

/**
 * Residual bootstrap for a fixed design: each resample is y* = fitted + r_j with j drawn uniformly from `residuals`
 * (one draw per row), refitted. Rows with a NaN fitted value are not part of the fit and stay NaN. A refit that throws
 * FitError counts as failed; any other error propagates. No residuals: no resamples (the intervals are then NaN).
 */
export function residualBootstrapDraws<T>(fitted: Float64Array, residuals: Float64Array, opts: BootstrapOptions, refit: (y: Float64Array) => T): { draws: T[]; info: BootstrapInfo } {
  const { resamples, level, seed } = resolveBootstrap(opts);
  const rng = new Rng(seed);
  const draws: T[] = [];
  let failed = 0;
  const runs = residuals.length ? resamples : 0;
  for (let b = 0; b < runs; b++) {
    const y = fitted.map((f) => (Number.isNaN(f) ? NaN : f + residuals[rng.int(residuals.length)]!));
    try {
      draws.push(refit(y));
    } catch (err) {
      if (!(err instanceof FitError)) throw err;
      failed++;
    }
  }
  return { draws, info: { scheme: 'residuals', resamples: runs, failed, level, seed } };
}

/** Point estimate with the percentile interval of its bootstrap draws (NaN bounds when there are none). */
export function percentileEstimate(quantity: string, value: number, draws: ArrayLike<number>, level: number): Estimate {
  const sorted = Float64Array.from(draws).filter(Number.isFinite).sort();
  const tail = (1 - level) / 2;
  return { quantity, value, lo: quantile(sorted, tail), hi: quantile(sorted, 1 - tail) };
}

export function pick<T>(values: ArrayLike<T>, rows: Int32Array): T[] {
  return Array.from(rows, (i) => values[i]!);
}
