import { describe, expect, it } from 'vitest';
import { Rng } from '@difflab/core-tensor';
import { FitError } from '../src/errors.js';
import { fitOffsetPowerLaw, fitPowerLaw, runPowerFit } from '../src/power.js';
import { within } from './synthetic.js';

const budgets = Array.from({ length: 12 }, (_, i) => 1e17 * 10 ** (i / 3));

describe('power laws', () => {
  it('recover y = a·C^b and y = E + a·C^b exactly from noise-free data', () => {
    const p = fitPowerLaw(budgets, budgets.map((c) => 40 * c ** -0.06));
    expect(p.a).toBeCloseTo(40, 8);
    expect(p.b).toBeCloseTo(-0.06, 12);
    const o = fitOffsetPowerLaw(budgets, budgets.map((c) => 1.7 + 3000 * c ** -0.2));
    expect(o.E).toBeCloseTo(1.7, 6);
    expect(o.a / 3000).toBeCloseTo(1, 4);
    expect(o.b).toBeCloseTo(-0.2, 6);
  });

  it('bootstrap intervals cover the true parameters and predictions on noisy data', () => {
    const rng = new Rng(5);
    const truth = { E: 1.7, a: 3000, b: -0.2 };
    const c = budgets.flatMap((b) => [b, b, b]);
    const y = c.map((v) => (truth.E + truth.a * v ** truth.b) * Math.exp(0.01 * rng.normal()));
    const r = runPowerFit(c, y, { resamples: 300, seed: 1, predictC: [1e23] });
    const get = (q: string) => [...r.estimates, ...r.predictions].find((e) => e.quantity === q)!;
    expect(within(get('E (y = E + a·C^b)'), truth.E)).toBe(true);
    expect(within(get('a (y = E + a·C^b)'), truth.a)).toBe(true);
    expect(within(get('b (y = E + a·C^b)'), truth.b)).toBe(true);
    expect(within(get('y(C=1e23) by E + a·C^b'), truth.E + truth.a * 1e23 ** truth.b)).toBe(true);
    expect(r.bootstrap).toMatchObject({ resamples: 300, failed: 0, level: 0.95, seed: 1 });
    // Same seed, same intervals.
    expect(runPowerFit(c, y, { resamples: 300, seed: 1 }).estimates).toEqual(r.estimates);
  });

  it('y = a·C^b alone when there are too few runs for the offset law', () => {
    const r = runPowerFit([1e18, 1e19, 1e20], [3, 2.5, 2.1], { resamples: 20 });
    expect(r.offset).toBeNull();
    expect(r.notes[0]).toMatch(/at least 4 runs/);
  });

  it('errors on a single compute value', () => {
    expect(() => fitPowerLaw([1e18, 1e18], [3, 2.9])).toThrow(FitError);
  });
});
