import { Rng } from '@difflab/core-tensor';

export const TRUTH = { E: 1.8, A: 400, B: 2000, alpha: 0.34, beta: 0.37 };

export const lossAt = (n: number, d: number) => TRUTH.E + TRUTH.A / n ** TRUTH.alpha + TRUTH.B / d ** TRUTH.beta;

/** Closed-form compute-optimal N under C = 6ND (Hoffmann et al. eq. 4). */
export function trueNopt(c: number): number {
  const { A, B, alpha, beta } = TRUTH;
  return ((alpha * A) / (beta * B)) ** (1 / (alpha + beta)) * (c / 6) ** (beta / (alpha + beta));
}

/**
 * IsoFLOP grid: per budget, sizes spaced evenly in log N around the true optimum, D = C/(6N),
 * loss × exp(noise·z). Centring makes every profile the same curve shifted in log N, so the
 * parabola's bias in the vertex is the same constant factor at every budget and the exponent
 * of N_opt ∝ C^a is unbiased.
 */
export function isoflopRuns(seed: number, noise: number, budgets = [1e18, 1e19, 1e20, 1e21], offsets = [-4, -3, -2, -1, 0, 1, 2, 3, 4]) {
  const rng = new Rng(seed);
  const n: number[] = [];
  const d: number[] = [];
  const c: number[] = [];
  const y: number[] = [];
  for (const C of budgets) {
    for (const j of offsets) {
      const N = trueNopt(C) * Math.exp(0.35 * j);
      const D = C / (6 * N);
      n.push(N);
      d.push(D);
      c.push(C);
      y.push(lossAt(N, D) * Math.exp(noise * rng.normal()));
    }
  }
  return { n, d, c, y };
}

/** Runs scattered log-uniformly over N ∈ [1e7, 1e10], D ∈ [1e9, 1e12]. */
export function scatteredRuns(seed: number, count: number, noise: number) {
  const rng = new Rng(seed);
  const n: number[] = [];
  const d: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < count; i++) {
    const N = 1e7 * 1e3 ** rng.uniform();
    const D = 1e9 * 1e3 ** rng.uniform();
    n.push(N);
    d.push(D);
    y.push(lossAt(N, D) * Math.exp(noise * rng.normal()));
  }
  return { n, d, y };
}

export function within(e: { lo: number; hi: number }, v: number): boolean {
  return e.lo <= v && v <= e.hi;
}
