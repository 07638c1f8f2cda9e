import { bootstrapDraws, percentileEstimate, type BootstrapInfo, type BootstrapOptions, type Estimate } from './bootstrap.js';
import { FitError } from './errors.js';
import { minimizeLbfgs, type Objective } from '@difflab/core-tensor';
import { fitLine } from './stats.js';

/** y = a·C^b */
export interface PowerLaw {
  a: number;
  b: number;
}

/** y = E + a·C^b */
export interface OffsetPowerLaw {
  E: number;
  a: number;
  b: number;
}

export const evalPower = (law: PowerLaw, c: number): number => law.a * c ** law.b;
export const evalOffsetPower = (law: OffsetPowerLaw, c: number): number => law.E + law.a * c ** law.b;

/** Least squares of log y on log C. */
export function fitPowerLaw(c: ArrayLike<number>, y: ArrayLike<number>): PowerLaw {
  if (c.length < 2) throw new FitError(`a power law needs at least 2 runs, got ${c.length}`);
  const lc = Array.from(c, Math.log);
  if (Math.max(...lc) - Math.min(...lc) === 0) throw new FitError('a power law needs at least 2 distinct compute values');
  const line = fitLine(lc, Array.from(y, Math.log));
  return { a: Math.exp(line.intercept), b: line.slope };
}

/**
 * Σ_i ½·(log(E + a·C_i^b) − log y_i)² over θ = (e, log a, b) with E = e^e, evaluated as
 * LSE(e, log a + b·log C_i) so it stays finite for any θ. Exported for the gradient check.
 */
export function offsetPowerObjective(logC: ArrayLike<number>, logY: ArrayLike<number>): Objective {
  return (t, g) => {
    let f = 0;
    g.fill(0);
    for (let i = 0; i < logC.length; i++) {
      const u0 = t[0]!;
      const u1 = t[1]! + t[2]! * logC[i]!;
      const m = Math.max(u0, u1);
      const e0 = Math.exp(u0 - m);
      const e1 = Math.exp(u1 - m);
      const s = e0 + e1;
      const r = m + Math.log(s) - logY[i]!;
      f += 0.5 * r * r;
      const w0 = e0 / s;
      const w1 = e1 / s;
      g[0] = g[0]! + r * w0;
      g[1] = g[1]! + r * w1;
      g[2] = g[2]! + r * w1 * logC[i]!;
    }
    return f;
  };
}

/** Fractions of min(y) tried as starting points for E. */
const OFFSET_STARTS = [0.01, 0.25, 0.5, 0.75, 0.9];

export function fitOffsetPowerLaw(c: ArrayLike<number>, y: ArrayLike<number>): OffsetPowerLaw & { objective: number } {
  if (c.length < 4) throw new FitError(`y = E + a·C^b needs at least 4 runs (3 parameters), got ${c.length}`);
  const logC = Array.from(c, Math.log);
  const logY = Array.from(y, Math.log);
  const objective = offsetPowerObjective(logC, logY);
  const yMin = Math.min(...Array.from(y));
  let best: { x: Float64Array; f: number } | null = null;
  for (const frac of OFFSET_STARTS) {
    const E = frac * yMin;
    // Start (a, b) from the log-log line through y − E, i.e. the exact answer if E were right.
    const line = fitLine(logC, Array.from(y, (v) => Math.log(v - E)));
    const res = minimizeLbfgs(objective, [Math.log(E), line.intercept, line.slope]);
    if (Number.isFinite(res.f) && (!best || res.f < best.f)) best = res;
  }
  if (!best) throw new FitError('y = E + a·C^b: no starting point converged to a finite objective');
  return { E: Math.exp(best.x[0]!), a: Math.exp(best.x[1]!), b: best.x[2]!, objective: best.f };
}

export interface PowerFitOptions extends BootstrapOptions {
  /** Compute values to predict y at. */
  predictC?: number[];
}

export interface PowerFitReport {
  fit: 'power';
  power: PowerLaw;
  /** Null when there are too few runs (< 4) for the three-parameter law. */
  offset: (OffsetPowerLaw & { objective: number }) | null;
  estimates: Estimate[];
  predictions: Estimate[];
  bootstrap: BootstrapInfo;
  notes: string[];
}

export function runPowerFit(c: ArrayLike<number>, y: ArrayLike<number>, opts: PowerFitOptions = {}): PowerFitReport {
  const power = fitPowerLaw(c, y);
  const notes: string[] = [];
  const withOffset = c.length >= 4;
  if (!withOffset) notes.push(`y = E + a·C^b skipped: it needs at least 4 runs, the table has ${c.length}`);
  const offset = withOffset ? fitOffsetPowerLaw(c, y) : null;
  const predictC = opts.predictC ?? [];
  const { draws, info } = bootstrapDraws(c.length, opts, (rows) => {
    const cs = Array.from(rows, (i) => c[i]!);
    const ys = Array.from(rows, (i) => y[i]!);
    return { power: fitPowerLaw(cs, ys), offset: withOffset ? fitOffsetPowerLaw(cs, ys) : null };
  });
  const est = (q: string, v: number, get: (d: (typeof draws)[number]) => number) =>
    percentileEstimate(q, v, draws.map(get), info.level);
  const estimates = [est('a (y = a·C^b)', power.a, (d) => d.power.a), est('b (y = a·C^b)', power.b, (d) => d.power.b)];
  const predictions = predictC.map((cc) => est(`y(C=${fmt(cc)}) by a·C^b`, evalPower(power, cc), (d) => evalPower(d.power, cc)));
  if (offset) {
    estimates.push(
      est('E (y = E + a·C^b)', offset.E, (d) => d.offset!.E),
      est('a (y = E + a·C^b)', offset.a, (d) => d.offset!.a),
      est('b (y = E + a·C^b)', offset.b, (d) => d.offset!.b),
    );
    for (const cc of predictC) {
      predictions.push(est(`y(C=${fmt(cc)}) by E + a·C^b`, evalOffsetPower(offset, cc), (d) => evalOffsetPower(d.offset!, cc)));
    }
  }
  return { fit: 'power', power, offset, estimates, predictions, bootstrap: info, notes };
}

export function fmt(v: number): string {
  return Number(v.toPrecision(4)).toExponential().replace('e+', 'e');
}
