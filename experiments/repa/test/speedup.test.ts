// The headline arithmetic against cases computed by hand: interpolation between the checkpoints around the
// first crossing, "not reached", the speed-up of each arm's mean curve over vanilla's budget, and the edges of its
// bootstrap interval over seeds.
import { describe, expect, it } from 'vitest';
import { armSpeedUps, stepsToReach } from '../src/speedup.js';

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
});

describe('armSpeedUps', () => {
  const runs = [
    { arm: 'vanilla', seed: 0, curve: curve([100, 40], [200, 20]) },
    { arm: 'vanilla', seed: 1, curve: curve([100, 44], [200, 24]) },
    { arm: 'repa', seed: 0, curve: curve([100, 20], [200, 10]) },
    { arm: 'repa', seed: 1, curve: curve([100, 30], [200, 14]) },
    { arm: 'random', seed: 0, curve: curve([100, 50], [200, 30]) },
  ];

  it('reaches the mean of vanilla\'s final FIDs with each arm\'s mean curve; vanilla itself is 1×', () => {
    const r = armSpeedUps(runs, 'vanilla', { seed: 0, resamples: 4000 });
    // Target (20 + 24) / 2 = 22; budget 200 steps.
    expect([r.target, r.vanillaFinalStep]).toEqual([22, 200]);
    const arm = (id: string) => r.arms.find((a) => a.arm === id)!;
    // vanilla's mean curve 42 → 22 ends on the target: 1×, and so does every resample (target and curve share the draw).
    expect(arm('vanilla')).toMatchObject({ speedUp: 1, low: 1, high: 1, reachedShare: 1 });
    // repa's mean curve 25 → 12 crosses 22 at 100 + 3/13 · 100: 200 / that = 1.625×.
    expect(arm('repa').speedUp).toBeCloseTo(200 / (100 + 300 / 13), 12);
    // Resamples: the slowest (1/16 of them) is target 20 with the curve 30 → 14: 100 + 10/16 · 100 = 162.5 → 1.2308×;
    // the fastest (1/4) the curve 20 → 10, at or below any target at step 100 → 2×.
    expect(arm('repa').low).toBeCloseTo(200 / 162.5, 12);
    expect(arm('repa').high).toBe(2);
    // Per-seed crossings, for reference: s0 is below 22 at its first checkpoint; s1 crosses at 100 + 8/16 · 100.
    expect(arm('repa').perSeed.map((p) => p.stepsToTarget)).toEqual([100, 150]);
    expect(arm('random')).toMatchObject({ speedUp: null, low: 0, high: 0, reachedShare: 0 });
    expect(armSpeedUps(runs, 'vanilla', { seed: 0, resamples: 4000 })).toEqual(r);
  });

  it('refuses a preset without the vanilla arm', () => {
    expect(() => armSpeedUps([{ arm: 'repa', seed: 0, curve: curve([1, 1]) }], 'vanilla', { seed: 0 })).toThrow(/no 'vanilla' runs/);
  });
});
