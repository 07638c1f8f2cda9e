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

/** Quantile q of sorted values, by the nearest-rank rule (so a 2-value bootstrap gives the two values exactly). */
function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** One arm's headline: per-seed steps to the target, and the speed-up of the arm's seed-mean curve with its interval. */
export interface ArmSpeedUp {
  arm: string;
  perSeed: { seed: number; stepsToTarget: number | null }[];
  /** Vanilla's final step over the steps the arm's mean curve (over seeds) needs to reach the target; null: not reached. */
  speedUp: number | null;
  /** Percentile interval over bootstrap resamples of the seeds, a resample that never reaches the target counting as 0×. */
  low: number;
  high: number;
  /** Share of the resamples whose mean curve reaches the target. */
  reachedShare: number;
}

/** The mean curve over runs that share their checkpoints (the study scores every run at the preset's evalSteps). */
function meanCurve(curves: readonly (readonly CurvePoint[])[]): CurvePoint[] {
  const steps = [...curves[0]!].map((p) => p.step).sort((a, b) => a - b);
  return steps.map((step) => ({ step, fid: curves.reduce((s, c) => s + c.find((p) => p.step === step)!.fid, 0) / curves.length }));
}

const finalFid = (c: readonly CurvePoint[]) => [...c].sort((a, b) => a.step - b.step).at(-1)!.fid;

/**
 * Every arm's speed-up to vanilla's final FID. Target: the mean over vanilla's seeds of each seed's last checkpoint.
 * An arm's steps to it: where the arm's mean curve over its seeds first reaches it (stepsToReach), so vanilla's own
 * speed-up is 1× unless its mean curve dips below its end earlier (per-seed crossings are shown but not averaged: a
 * seed that ends above the mean never reaches it and one below it always does, so their mean over the seeds that got
 * there is biased upward, vanilla's own included). The interval: `resamples` draws of vanilla's seeds and, independently,
 * the arm's seeds (vanilla: the same draw for both), with replacement; target and mean curve recomputed.
 */
export function armSpeedUps(
  curves: readonly { arm: string; seed: number; curve: readonly CurvePoint[] }[],
  vanilla: string,
  opts: { seed: number; resamples?: number; level?: number },
): { target: number; vanillaFinalStep: number; arms: ArmSpeedUp[] } {
  const base = curves.filter((c) => c.arm === vanilla);
  if (base.length === 0) throw new Error(`speed-up: no '${vanilla}' runs to take the target FID from; the preset must run the ${vanilla} arm`);
  const vanillaFinalStep = Math.max(...base.map((c) => Math.max(...c.curve.map((p) => p.step))));
  const targetOf = (runs: readonly (readonly CurvePoint[])[]) => runs.reduce((s, c) => s + finalFid(c), 0) / runs.length;
  const target = targetOf(base.map((c) => c.curve));
  const speed = (runs: readonly (readonly CurvePoint[])[], t: number) => {
    const steps = stepsToReach(meanCurve(runs), t);
    return steps === null ? null : vanillaFinalStep / steps;
  };
  const resamples = opts.resamples ?? 10_000;
  const level = opts.level ?? 0.95;
  const arms = [...new Set(curves.map((c) => c.arm))].map((arm) => {
    const own = curves.filter((c) => c.arm === arm);
    const rand = mulberry32(opts.seed);
    const draw = <T>(xs: readonly T[]) => xs.map(() => xs[Math.floor(rand() * xs.length)]!);
    const values: number[] = [];
    let reached = 0;
    for (let r = 0; r < resamples; r++) {
      const v = draw(base.map((c) => c.curve));
      const a = arm === vanilla ? v : draw(own.map((c) => c.curve));
      const x = speed(a, targetOf(v));
      if (x !== null) reached++;
      values.push(x ?? 0);
    }
    values.sort((a, b) => a - b);
    return {
      arm,
      perSeed: own.map((c) => ({ seed: c.seed, stepsToTarget: stepsToReach(c.curve, target) })),
      speedUp: speed(own.map((c) => c.curve), target),
      low: quantile(values, (1 - level) / 2),
      high: quantile(values, 1 - (1 - level) / 2),
      reachedShare: reached / resamples,
    };
  });
  return { target, vanillaFinalStep, arms };
}
