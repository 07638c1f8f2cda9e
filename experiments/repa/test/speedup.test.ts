// The headline arithmetic against cases computed by hand: interpolation between the checkpoints around the
// first crossing, "not reached", the speed-up over vanilla's budget, and the bootstrap interval's edges.
import { describe, expect, it } from 'vitest';
import { armSpeedUps, bootstrapMean, speedUp, stepsToReach } from '../src/speedup.js';

const curve = (...pts: [number, number][]) => pts.map(([step, fid]) => ({ step, fid }));

describe('stepsToReach', () => {
  it('interpolates linearly between the checkpoints around the first crossing', () => {
    // 30 → 10 between steps 200 and 400: FID 20 is halfway, step 300.
    expect(stepsToReach(curve([100, 50], [200, 30], [400, 10]), 20)).toBeCloseTo(300, 12);
    // Input order does not matter.
    expect(stepsToReach(curve([400, 10], [100, 50], [200, 30]), 20)).toBeCloseTo(300, 12);
    // A non-monotone curve: the first crossing (30 → 15 at 100..200: 100 + 10/15 · 100), not the last.
    expect(stepsToReach(curve([100, 30], [200, 15], [300, 25], [400, 10]), 20)).toBeCloseTo(100 + 200 / 3, 12);
    expect(stepsToReach(curve([100, 30], [200, 20]), 20)).toBe(200);
  });

  it('gives the first checkpoint when it is already there, and null when no checkpoint gets there', () => {
    expect(stepsToReach(curve([100, 5], [200, 3]), 20)).toBe(100);
    expect(stepsToReach(curve([100, 50], [200, 40]), 20)).toBeNull();
    expect(stepsToReach(curve([100, Number.NaN], [200, 40]), 20)).toBeNull();
  });

  it('speed-up = vanilla\'s final step / steps to the target', () => {
    expect(speedUp(curve([100, 50], [200, 30], [400, 10]), 20, 400)).toBeCloseTo(4 / 3, 12);
    expect(speedUp(curve([100, 50]), 20, 400)).toBeNull();
  });
});

describe('bootstrapMean', () => {
  it('two values: the resampled means are a, (a+b)/2, b with chances ¼, ½, ¼, so the 95 % interval is [a, b]', () => {
    expect(bootstrapMean([2, 6], { seed: 1 })).toEqual({ mean: 4, low: 2, high: 6 });
  });

  it('one value: a zero-width interval; ten values 1..10: about mean ± 1.96 · σ/√n (σ² = 8.25, the bootstrap\'s plug-in variance)', () => {
    expect(bootstrapMean([5], { seed: 0 })).toEqual({ mean: 5, low: 5, high: 5 });
    const r = bootstrapMean([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { seed: 7, resamples: 20_000 });
    const half = 1.96 * Math.sqrt(8.25 / 10);
    expect(r.mean).toBe(5.5);
    expect(Math.abs(r.low - (5.5 - half))).toBeLessThan(0.25);
    expect(Math.abs(r.high - (5.5 + half))).toBeLessThan(0.25);
  });

  it('is seeded: the same seed gives the same interval', () => {
    const v = [1.2, 0.7, 2.5, 1.9];
    expect(bootstrapMean(v, { seed: 3 })).toEqual(bootstrapMean(v, { seed: 3 }));
    expect(() => bootstrapMean([], { seed: 0 })).toThrow(/no values/);
  });
});

describe('armSpeedUps', () => {
  it('targets the mean of vanilla\'s final FIDs and counts the seeds that reach it', () => {
    const r = armSpeedUps(
      [
        { arm: 'vanilla', seed: 0, curve: curve([100, 40], [200, 20]) },
        { arm: 'vanilla', seed: 1, curve: curve([100, 44], [200, 24]) },
        { arm: 'repa', seed: 0, curve: curve([100, 20], [200, 10]) },
        { arm: 'repa', seed: 1, curve: curve([100, 30], [200, 14]) },
        { arm: 'random', seed: 0, curve: curve([100, 50], [200, 30]) },
      ],
      'vanilla',
      { seed: 0 },
    );
    // Target (20 + 24) / 2 = 22; budget 200 steps.
    expect([r.target, r.vanillaFinalStep]).toEqual([22, 200]);
    const arm = (id: string) => r.arms.find((a) => a.arm === id)!;
    // repa s0 is below 22 at its first checkpoint (100 → 2×); s1 crosses at 100 + 8/16 · 100 = 150 (→ 4/3×).
    expect(arm('repa').perSeed.map((s) => s.stepsToTarget)).toEqual([100, 150]);
    expect(arm('repa').interval!.mean).toBeCloseTo((2 + 4 / 3) / 2, 12);
    expect([arm('repa').interval!.low, arm('repa').interval!.high]).toEqual([4 / 3, 2]);
    // vanilla s0 crosses 22 at 190 (200/190×); s1 ends at 24 and never reaches the mean.
    expect(arm('vanilla').perSeed[0]!.speedUp).toBeCloseTo(200 / 190, 12);
    expect([arm('vanilla').perSeed[1]!.speedUp, arm('vanilla').reached, arm('vanilla').seeds]).toEqual([null, 1, 2]);
    expect([arm('random').reached, arm('random').interval]).toEqual([0, null]);
    expect(() => armSpeedUps([{ arm: 'repa', seed: 0, curve: curve([1, 1]) }], 'vanilla', { seed: 0 })).toThrow(/no 'vanilla' runs/);
  });
});
