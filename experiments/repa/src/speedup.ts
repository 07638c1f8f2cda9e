// The study's headline number (REPA's Table 2 in miniature): how many steps an arm needs to reach vanilla's
// final FID, as a speed-up over vanilla's step budget, with a bootstrap interval over seeds. Pure arithmetic,
// no tensors: the table stage and the tests use it directly.

/** One checkpoint's score on a run's FID-vs-steps curve. */
export interface CurvePoint {
  step: number;
  fid: number;
}

/**
 * The first step at which the curve reaches `target` (FID ≤ target), by linear interpolation between the two
 * checkpoints around the first crossing; null when no checkpoint reaches it. A curve already at or below the
 * target at its first checkpoint gives that checkpoint's step: an upper bound, since nothing is measured before.
 */
export function stepsToReach(curve: readonly CurvePoint[], target: number): number | null {
  const points = [...curve].sort((a, b) => a.step - b.step);
  for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    if (!(p.fid <= target)) continue;
    if (i === 0) return p.step;
    const q = points[i - 1]!;
    return q.step + ((q.fid - target) / (q.fid - p.fid)) * (p.step - q.step);
  }
  return null;
}

/** Speed-up of one seed: vanilla's step budget over the steps this run needed; null when it never got there. */
export function speedUp(curve: readonly CurvePoint[], target: number, vanillaFinalStep: number): number | null {
  const s = stepsToReach(curve, target);
  return s === null ? null : vanillaFinalStep / s;
}

/** mulberry32: a small seeded generator, so an interval is the same on every machine and every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Interval {
  mean: number;
  low: number;
  high: number;
}

/** Quantile q of sorted values, by the nearest-rank rule (so a 2-value bootstrap gives the two values exactly). */
function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * The mean of `values` with a percentile bootstrap interval (`level`, default 95 %): `resamples` draws of
 * values.length values with replacement, their means' 2.5th and 97.5th percentiles. One value: a zero-width interval.
 */
export function bootstrapMean(values: readonly number[], opts: { seed: number; resamples?: number; level?: number }): Interval {
  if (values.length === 0) throw new RangeError('bootstrapMean: no values');
  const n = values.length;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  const resamples = opts.resamples ?? 10_000;
  const level = opts.level ?? 0.95;
  const rand = mulberry32(opts.seed);
  const means: number[] = new Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(rand() * n)]!;
    means[r] = s / n;
  }
  means.sort((a, b) => a - b);
  return { mean, low: quantile(means, (1 - level) / 2), high: quantile(means, 1 - (1 - level) / 2) };
}

/** One arm's headline: per-seed speed-ups (null: not reached) and, over the seeds that reached it, mean and interval. */
export interface ArmSpeedUp {
  arm: string;
  perSeed: { seed: number; stepsToTarget: number | null; speedUp: number | null }[];
  reached: number;
  seeds: number;
  interval: Interval | null;
}

/**
 * Every arm's speed-up to `vanilla`'s final FID (the mean over vanilla's seeds of each seed's last checkpoint),
 * with vanilla's final step as the budget. Seeds that never reach the target are counted in `reached`, not in
 * the mean: a mean over the seeds that reached it flatters an arm where some did not, which the table says.
 */
export function armSpeedUps(
  curves: readonly { arm: string; seed: number; curve: readonly CurvePoint[] }[],
  vanilla: string,
  opts: { seed: number; resamples?: number },
): { target: number; vanillaFinalStep: number; arms: ArmSpeedUp[] } {
  const base = curves.filter((c) => c.arm === vanilla);
  if (base.length === 0) throw new Error(`speed-up: no '${vanilla}' runs to take the target FID from; the preset must run the ${vanilla} arm`);
  const finals = base.map((c) => [...c.curve].sort((a, b) => a.step - b.step).at(-1)!);
  const vanillaFinalStep = Math.max(...finals.map((p) => p.step));
  const target = finals.reduce((s, p) => s + p.fid, 0) / finals.length;
  const arms = [...new Set(curves.map((c) => c.arm))].map((arm) => {
    const perSeed = curves
      .filter((c) => c.arm === arm)
      .map((c) => {
        const stepsToTarget = stepsToReach(c.curve, target);
        return { seed: c.seed, stepsToTarget, speedUp: stepsToTarget === null ? null : vanillaFinalStep / stepsToTarget };
      });
    const values = perSeed.flatMap((s) => (s.speedUp === null ? [] : [s.speedUp]));
    return { arm, perSeed, reached: values.length, seeds: perSeed.length, interval: values.length > 0 ? bootstrapMean(values, opts) : null };
  });
  return { target, vanillaFinalStep, arms };
}
