import { bootstrapDraws, percentileEstimate, type BootstrapInfo, type BootstrapOptions, type Estimate } from './bootstrap.js';
import { FitError } from './errors.js';
import { minimizeLbfgs, type Objective } from '@difflab/core-tensor';
import { fmt } from './power.js';
import { huber } from './stats.js';

/** L(N, D) = E + A/N^α + B/D^β */
export interface ParametricLaw {
  E: number;
  A: number;
  B: number;
  alpha: number;
  beta: number;
}

export const evalParametric = (l: ParametricLaw, n: number, d: number): number => l.E + l.A / n ** l.alpha + l.B / d ** l.beta;

/**
 * Compute-optimal allocation under C = k·N·D (Hoffmann et al., eq. 4):
 * N_opt = G·(C/k)^(β/(α+β)), D_opt = (C/k)/N_opt, G = (αA/(βB))^(1/(α+β)).
 */
export function computeOptimal(l: ParametricLaw, c: number, k: number): { nOpt: number; dOpt: number; loss: number } {
  const g = ((l.alpha * l.A) / (l.beta * l.B)) ** (1 / (l.alpha + l.beta));
  const nOpt = g * (c / k) ** (l.beta / (l.alpha + l.beta));
  const dOpt = c / k / nOpt;
  return { nOpt, dOpt, loss: evalParametric(l, nOpt, dOpt) };
}

/**
 * Hoffmann et al.'s approach-3 objective over θ = (a, b, e, α, β):
 * Σ_i Huber_δ(LSE(a − α·log N_i, b − β·log D_i, e) − log L_i), a sum (not a mean; see docs/scaling-laws.md).
 */
export function parametricObjective(logN: ArrayLike<number>, logD: ArrayLike<number>, logL: ArrayLike<number>, delta: number): Objective {
  return (t, g) => {
    const [a, b, e, al, be] = t as unknown as [number, number, number, number, number];
    let f = 0;
    let g0 = 0;
    let g1 = 0;
    let g2 = 0;
    let g3 = 0;
    let g4 = 0;
    for (let i = 0; i < logN.length; i++) {
      const u0 = a - al * logN[i]!;
      const u1 = b - be * logD[i]!;
      const m = Math.max(u0, u1, e);
      const e0 = Math.exp(u0 - m);
      const e1 = Math.exp(u1 - m);
      const e2 = Math.exp(e - m);
      const s = e0 + e1 + e2;
      const [h, dh] = huber(m + Math.log(s) - logL[i]!, delta);
      f += h;
      const w0 = (dh * e0) / s;
      const w1 = (dh * e1) / s;
      g0 += w0;
      g1 += w1;
      g2 += (dh * e2) / s;
      g3 -= w0 * logN[i]!;
      g4 -= w1 * logD[i]!;
    }
    g[0] = g0;
    g[1] = g1;
    g[2] = g2;
    g[3] = g3;
    g[4] = g4;
    return f;
  };
}

/** θ = (a, b, e, α, β) starting points of Hoffmann et al.: α, β ∈ {0, .5, …, 2}, e ∈ {−1, −.5, …, 1}, a, b ∈ {0, 5, …, 25}. */
export function chinchillaInitGrid(): number[][] {
  const range = (lo: number, hi: number, step: number) => Array.from({ length: Math.round((hi - lo) / step) + 1 }, (_, i) => lo + i * step);
  const grid: number[][] = [];
  for (const a of range(0, 25, 5))
    for (const b of range(0, 25, 5))
      for (const e of range(-1, 1, 0.5)) for (const al of range(0, 2, 0.5)) for (const be of range(0, 2, 0.5)) grid.push([a, b, e, al, be]);
  return grid;
}

export interface ParametricFitResult {
  law: ParametricLaw;
  /** (a, b, e, α, β) at the optimum. */
  theta: number[];
  objective: number;
  /** Distinct local optima found, best first (at most `keep`), used as warm starts for the bootstrap. */
  optima: number[][];
  starts: number;
}

export function toLaw(t: ArrayLike<number>): ParametricLaw {
  return { A: Math.exp(t[0]!), B: Math.exp(t[1]!), E: Math.exp(t[2]!), alpha: t[3]!, beta: t[4]! };
}

/** Best L-BFGS optimum over the starting points. */
export function fitParametric(
  n: ArrayLike<number>,
  d: ArrayLike<number>,
  y: ArrayLike<number>,
  opts: { delta?: number; starts?: number[][]; keep?: number; onProgress?: (done: number, total: number) => void } = {},
): ParametricFitResult {
  if (n.length < 6) throw new FitError(`L(N, D) = E + A/N^α + B/D^β has 5 parameters and needs at least 6 runs, got ${n.length}`);
  const objective = parametricObjective(Array.from(n, Math.log), Array.from(d, Math.log), Array.from(y, Math.log), opts.delta ?? 1e-3);
  const starts = opts.starts ?? chinchillaInitGrid();
  const found: { x: number[]; f: number }[] = [];
  starts.forEach((s, i) => {
    const r = minimizeLbfgs(objective, s);
    if (Number.isFinite(r.f)) found.push({ x: Array.from(r.x), f: r.f });
    opts.onProgress?.(i + 1, starts.length);
  });
  if (found.length === 0) throw new FitError('L(N, D): no starting point reached a finite objective');
  found.sort((p, q) => p.f - q.f);
  const optima: number[][] = [];
  for (const p of found) {
    if (optima.length >= (opts.keep ?? 5)) break;
    if (optima.every((o) => o.some((v, j) => Math.abs(v - p.x[j]!) > 1e-3 * Math.max(1, Math.abs(v))))) optima.push(p.x);
  }
  const best = found[0]!;
  return { law: toLaw(best.x), theta: best.x, objective: best.f, optima, starts: starts.length };
}

export interface ParametricFitOptions extends BootstrapOptions {
  delta?: number;
  /** Starting points (default: Hoffmann et al.'s grid of 4500). */
  starts?: number[][];
  /** Pairs (N, D) to predict L at. */
  predictND?: Array<[number, number]>;
  /** Budgets to give the compute-optimal N, D and L for. */
  predictC?: number[];
  /** k in C = k·N·D for predictC (default 6). */
  k?: number;
  /** Called after each L-BFGS start of the full-data fit. */
  onProgress?: (done: number, total: number) => void;
}

export interface ParametricFitReport {
  fit: 'parametric';
  result: ParametricFitResult;
  estimates: Estimate[];
  predictions: Estimate[];
  bootstrap: BootstrapInfo;
  notes: string[];
}

export function runParametricFit(n: ArrayLike<number>, d: ArrayLike<number>, y: ArrayLike<number>, opts: ParametricFitOptions = {}): ParametricFitReport {
  const delta = opts.delta ?? 1e-3;
  const result = fitParametric(n, d, y, { delta, starts: opts.starts, onProgress: opts.onProgress });
  // Each resample starts from the full-data optima only: the 4500-point grid per resample would
  // cost B × the full fit, and a resample's optimum lies near one of the full data's.
  const { draws, info } = bootstrapDraws(n.length, opts, (rows) => {
    const pick = (v: ArrayLike<number>) => Array.from(rows, (i) => v[i]!);
    return fitParametric(pick(n), pick(d), pick(y), { delta, starts: result.optima, keep: 1 }).law;
  });
  const l = result.law;
  const k = opts.k ?? 6;
  const est = (q: string, v: number, get: (l: ParametricLaw) => number) => percentileEstimate(q, v, draws.map(get), info.level);
  const estimates = [
    est('E', l.E, (x) => x.E),
    est('A', l.A, (x) => x.A),
    est('B', l.B, (x) => x.B),
    est('α', l.alpha, (x) => x.alpha),
    est('β', l.beta, (x) => x.beta),
    est('a = β/(α+β) (N_opt ∝ C^a)', l.beta / (l.alpha + l.beta), (x) => x.beta / (x.alpha + x.beta)),
    est('b = α/(α+β) (D_opt ∝ C^b)', l.alpha / (l.alpha + l.beta), (x) => x.alpha / (x.alpha + x.beta)),
  ];
  const predictions = [
    ...(opts.predictND ?? []).map(([nn, dd]) =>
      est(`L(N=${fmt(nn)}, D=${fmt(dd)})`, evalParametric(l, nn, dd), (x) => evalParametric(x, nn, dd)),
    ),
    ...(opts.predictC ?? []).flatMap((cc) => {
      const at = (x: ParametricLaw) => computeOptimal(x, cc, k);
      return [
        est(`N_opt(C=${fmt(cc)})`, at(l).nOpt, (x) => at(x).nOpt),
        est(`D_opt(C=${fmt(cc)})`, at(l).dOpt, (x) => at(x).dOpt),
        est(`L_opt(C=${fmt(cc)})`, at(l).loss, (x) => at(x).loss),
      ];
    }),
  ];
  const notes = [`Huber δ = ${delta}; best of ${result.starts} L-BFGS starts, objective ${result.objective.toExponential(6)}`];
  if (opts.predictC?.length) notes.push(`compute-optimal predictions use C = ${k}·N·D`);
  return { fit: 'parametric', result, estimates, predictions, bootstrap: info, notes };
}
