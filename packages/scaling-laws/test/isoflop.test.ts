import { describe, expect, it } from 'vitest';
import { FitError } from '../src/errors.js';
import { fitProfile, groupBudgets, runIsoflopFit } from '../src/isoflop.js';
import { TRUTH, isoflopRuns, within } from './synthetic.js';

describe('isoFLOP profiles', () => {
  it('groups runs by budget, tolerating float noise in C', () => {
    expect(groupBudgets([1e20, 1e19, 1e20 * (1 + 1e-9), 1e19, 3e19])).toEqual([[1, 3], [4], [0, 2]]);
  });

  it('puts the minimum at the vertex of an exact parabola in log N', () => {
    const n = [1e8, 2e8, 4e8, 8e8, 1.6e9];
    const x0 = Math.log(3e8);
    const y = n.map((v) => 2 + 0.1 * (Math.log(v) - x0) ** 2);
    const p = fitProfile([0, 1, 2, 3, 4], n, n.map(() => 1e20), y);
    expect(p.nOpt / 3e8).toBeCloseTo(1, 9);
    expect(p.yOpt).toBeCloseTo(2, 9);
  });

  it('recovers N_opt ∝ C^(β/(α+β)) and D_opt ∝ C^(α/(α+β)) within the bootstrap intervals', () => {
    const { n, c, y, d } = isoflopRuns(3, 0.005);
    const r = runIsoflopFit(n, c, y, d, { resamples: 400, seed: 2, predictC: [1e23] });
    const get = (q: string) => r.estimates.find((e) => e.quantity === q)!;
    const a = TRUTH.beta / (TRUTH.alpha + TRUTH.beta);
    expect(within(get('a (N_opt ∝ C^a)'), a)).toBe(true);
    expect(within(get('b (D_opt ∝ C^b)'), 1 - a)).toBe(true);
    expect(r.kSource).toBe('table');
    expect(r.law.k).toBeCloseTo(6, 9);
    // D_opt from the table's own relation: C = k·N_opt·D_opt at every budget.
    const pn = r.predictions.find((e) => e.quantity === 'N_opt(C=1e23)')!.value;
    const pd = r.predictions.find((e) => e.quantity === 'D_opt(C=1e23)')!.value;
    expect((6 * pn * pd) / 1e23).toBeCloseTo(1, 9);
  });

  it('noise-free: the exponent is exact, because centred profiles share one shape', () => {
    const { n, c, y } = isoflopRuns(1, 0);
    const r = runIsoflopFit(n, c, y, null, { resamples: 0 });
    expect(r.law.nExponent).toBeCloseTo(TRUTH.beta / (TRUTH.alpha + TRUTH.beta), 6);
    expect(r.kSource).toBe('default-6');
  });

  it('skips a budget with fewer than 3 sizes, with a note', () => {
    const { n, c, y } = isoflopRuns(1, 0.002);
    const r = runIsoflopFit([...n, 1e8, 2e8], [...c, 5e17, 5e17], [...y, 3.6, 3.5], null, { resamples: 50 });
    expect(r.law.profiles).toHaveLength(4);
    expect(r.notes.join('\n')).toMatch(/skipped budget C=5e17 has 2 distinct model sizes/);
  });

  it('errors when fewer than 2 budgets are usable', () => {
    const { n, c, y } = isoflopRuns(1, 0.002, [1e19]);
    expect(() => runIsoflopFit(n, c, y, null, { resamples: 10 })).toThrow(FitError);
  });

  it('rejects a profile that opens downwards', () => {
    const n = [1e8, 2e8, 4e8];
    expect(() => fitProfile([0, 1, 2], n, [1e20, 1e20, 1e20], [2, 2.5, 2])).toThrow(/opens downwards/);
  });
});
