import { percentileEstimate, residualBootstrapDraws, type BootstrapInfo, type BootstrapOptions, type Estimate } from './bootstrap.js';
import { FitError, TooFewBudgetsError } from './errors.js';
import { fmt } from './power.js';
import { fitLine, fitParabola, parabolaLeverages, type Parabola } from './stats.js';

/** One compute budget's isoFLOP profile: y ≈ p.a·x² + p.b·x + p.c with x = ln N. */
export interface IsoflopProfile {
  C: number;
  /** Row indices of the runs at this budget. */
  rows: number[];
  parabola: Parabola;
  /** Vertex of the parabola: N_opt = exp(−b / 2a), and the loss there. */
  nOpt: number;
  yOpt: number;
}

/** N_opt = nCoef·C^nExponent and D_opt = dCoef·C^dExponent, with C = k·N·D. */
export interface IsoflopLaw {
  profiles: IsoflopProfile[];
  nCoef: number;
  nExponent: number;
  dCoef: number;
  dExponent: number;
  k: number;
}

/** Runs whose compute differs by less than this relative amount share a budget (float noise in stored C). */
const SAME_BUDGET = 1e-6;

export function groupBudgets(c: ArrayLike<number>): number[][] {
  const order = Array.from({ length: c.length }, (_, i) => i).sort((i, j) => c[i]! - c[j]!);
  const groups: number[][] = [];
  for (const i of order) {
    const last = groups.at(-1);
    if (last && Math.abs(c[i]! - c[last[0]!]!) <= SAME_BUDGET * c[i]!) last.push(i);
    else groups.push([i]);
  }
  return groups;
}

/** Throws FitError when the budget has fewer than 3 distinct sizes or the parabola opens downwards. */
export function fitProfile(rows: ArrayLike<number>, n: ArrayLike<number>, c: ArrayLike<number>, y: ArrayLike<number>): IsoflopProfile {
  const idx = Array.from(rows);
  const C = c[idx[0]!]!;
  const x = idx.map((i) => Math.log(n[i]!));
  if (new Set(x).size < 3) throw new FitError(`budget C=${fmt(C)} has ${new Set(x).size} distinct model sizes; a parabola needs at least 3`);
  const p = fitParabola(x, idx.map((i) => y[i]!));
  if (!(p.a > 0)) throw new FitError(`budget C=${fmt(C)}: the parabola in log N opens downwards (no minimum); add runs on both sides of the optimum`);
  const xo = -p.b / (2 * p.a);
  return { C, rows: idx, parabola: p, nOpt: Math.exp(xo), yOpt: p.c - (p.b * p.b) / (4 * p.a) };
}

/** The budgets (row groups) whose isoFLOP profile fits; `onSkip` hears why each other one does not. */
export function usableBudgets(
  groups: readonly number[][],
  n: ArrayLike<number>,
  c: ArrayLike<number>,
  y: ArrayLike<number>,
  onSkip: (why: string) => void = () => {},
): number[][] {
  const usable: number[][] = [];
  for (const g of groups) {
    try {
      fitProfile(g, n, c, y);
      usable.push(g);
    } catch (err) {
      if (!(err instanceof FitError)) throw err;
      onSkip(err.message);
    }
  }
  return usable;
}

/** Fits the budgets in `groups` (every one must succeed) and the log-log line of N_opt against C. */
export function fitIsoflopLaw(groups: ReadonlyArray<ArrayLike<number>>, n: ArrayLike<number>, c: ArrayLike<number>, y: ArrayLike<number>, k: number): IsoflopLaw {
  const profiles = groups.map((g) => fitProfile(g, n, c, y));
  if (profiles.length < 2) throw new FitError(`N_opt ∝ C^a needs at least 2 usable budgets, got ${profiles.length}`);
  const line = fitLine(profiles.map((p) => Math.log(p.C)), profiles.map((p) => Math.log(p.nOpt)));
  const nCoef = Math.exp(line.intercept);
  // D_opt = C / (k·N_opt) = C^(1−a) / (k·nCoef).
  return { profiles, nCoef, nExponent: line.slope, dCoef: 1 / (k * nCoef), dExponent: 1 - line.slope, k };
}

/**
 * Each profile's fitted values (NaN for rows in no profile) and the pooled residuals e_i / √(1 − h_i), centred: the
 * leverage adjustment gives each the variance of the noise (a raw residual's is (1 − h_i)·σ²). Rows the parabola
 * passes through exactly (h_i = 1, a budget of 3 sizes) carry no information about the noise and are left out.
 */
export function pooledResiduals(profiles: readonly IsoflopProfile[], n: ArrayLike<number>, y: ArrayLike<number>): { fitted: Float64Array; residuals: Float64Array } {
  const fitted = new Float64Array(y.length).fill(NaN);
  const pool: number[] = [];
  for (const p of profiles) {
    const x = p.rows.map((i) => Math.log(n[i]!));
    const h = parabolaLeverages(x);
    p.rows.forEach((i, j) => {
      const f = p.parabola.a * x[j]! ** 2 + p.parabola.b * x[j]! + p.parabola.c;
      fitted[i] = f;
      if (1 - h[j]! > 1e-9) pool.push((y[i]! - f) / Math.sqrt(1 - h[j]!));
    });
  }
  const m = pool.reduce((s, v) => s + v, 0) / (pool.length || 1);
  return { fitted, residuals: Float64Array.from(pool, (v) => v - m) };
}

/** Name of a budget's N_opt in the estimates table. */
export const nOptQuantity = (c: number): string => `N_opt at C=${fmt(c)}`;

export interface IsoflopFitOptions extends BootstrapOptions {
  predictC?: number[];
}

export interface IsoflopFitReport {
  fit: 'isoflop';
  law: IsoflopLaw;
  /** How k in C = k·N·D was obtained. */
  kSource: 'table' | 'default-6';
  estimates: Estimate[];
  predictions: Estimate[];
  bootstrap: BootstrapInfo;
  notes: string[];
}

/**
 * Chinchilla approach 2. `d` (optional) is the table's data column: k in C = k·N·D is then the
 * geometric mean of C/(N·D) over the runs, so D_opt follows the table's own compute convention;
 * without it k = 6 (C ≈ 6·N·D).
 */
export function runIsoflopFit(
  n: ArrayLike<number>,
  c: ArrayLike<number>,
  y: ArrayLike<number>,
  d: ArrayLike<number> | null,
  opts: IsoflopFitOptions = {},
): IsoflopFitReport {
  const notes: string[] = [];
  let k = 6;
  if (d) {
    const logK = Array.from({ length: n.length }, (_, i) => Math.log(c[i]! / (n[i]! * d[i]!)));
    k = Math.exp(logK.reduce((s, v) => s + v, 0) / logK.length);
    const spread = Math.max(...logK.map((v) => Math.abs(v - Math.log(k))));
    notes.push(`C = k·N·D with k = ${k.toPrecision(5)} from the table (geometric mean of C/(N·D))`);
    if (spread > 0.01) notes.push(`C/(N·D) varies by up to ${(100 * (Math.exp(spread) - 1)).toFixed(1)}% across runs; D_opt assumes one constant k`);
  } else {
    notes.push('no data column: D_opt uses C = 6·N·D');
  }
  const groups = groupBudgets(c);
  const usable = usableBudgets(groups, n, c, y, (why) => notes.push(`skipped ${why}`));
  if (usable.length < 2) {
    // Most often the compute column is not one: every run its own "budget" of one size.
    const skipped = groups.length - usable.length;
    throw new TooFewBudgetsError(
      `N_opt ∝ C^a needs at least 2 usable budgets, got ${usable.length}: the compute column has ${groups.length} distinct value(s)` +
        (skipped > 0 ? `, ${skipped} skipped (each budget needs ≥ 3 model sizes and a parabola that opens upwards)` : ''),
    );
  }
  const law = fitIsoflopLaw(usable, n, c, y, k);
  for (const p of law.profiles) {
    const xs = p.rows.map((i) => n[i]!);
    if (p.nOpt < Math.min(...xs) || p.nOpt > Math.max(...xs)) {
      notes.push(`budget C=${fmt(p.C)}: the minimum N=${fmt(p.nOpt)} lies outside the sampled sizes (extrapolated)`);
    }
  }
  // Residual bootstrap: resampling runs within a budget drops sizes (3–5 sizes drawn with replacement often leave
  // fewer than 3 distinct ones, and the refit fails), so the failed refits would be left out of the interval and
  // bias it toward the resamples that happen to fit. Keeping the design and resampling the parabolas' residuals,
  // pooled over budgets (one noise level), only fails where the noise can really turn a parabola over.
  const { fitted, residuals } = pooledResiduals(law.profiles, n, y);
  if (!residuals.length) notes.push('every budget has exactly 3 sizes: its parabola passes through its runs and leaves no residuals to resample, so there are no intervals; add a fourth size to a budget');
  const { draws, info } = residualBootstrapDraws(fitted, residuals, opts, (ys) => fitIsoflopLaw(usable, n, c, ys, k));
  const est = (q: string, v: number, get: (l: IsoflopLaw) => number) => percentileEstimate(q, v, draws.map(get), info.level);
  const estimates = [
    est('a (N_opt ∝ C^a)', law.nExponent, (l) => l.nExponent),
    est('N_opt coefficient', law.nCoef, (l) => l.nCoef),
    est('b (D_opt ∝ C^b)', law.dExponent, (l) => l.dExponent),
    est('D_opt coefficient', law.dCoef, (l) => l.dCoef),
    ...law.profiles.flatMap((p, j) => [
      est(nOptQuantity(p.C), p.nOpt, (l) => l.profiles[j]!.nOpt),
      est(`y_opt at C=${fmt(p.C)}`, p.yOpt, (l) => l.profiles[j]!.yOpt),
    ]),
  ];
  const predictions = (opts.predictC ?? []).flatMap((cc) => [
    est(`N_opt(C=${fmt(cc)})`, law.nCoef * cc ** law.nExponent, (l) => l.nCoef * cc ** l.nExponent),
    est(`D_opt(C=${fmt(cc)})`, law.dCoef * cc ** law.dExponent, (l) => l.dCoef * cc ** l.dExponent),
  ]);
  return { fit: 'isoflop', law, kSource: d ? 'table' : 'default-6', estimates, predictions, bootstrap: info, notes };
}
