import { describe, expect, it } from 'vitest';
import { FitError } from '../src/errors.js';
import { bootstrapDraws } from '../src/bootstrap.js';
import { fitIsoflopLaw, fitProfile, groupBudgets, runIsoflopFit } from '../src/isoflop.js';
import { parabolaLeverages } from '../src/stats.js';
import { TRUTH, isoflopRuns, trueNopt, within } from './synthetic.js';

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

  it('leverages of the parabola fit: 5 equally spaced sizes by hand, 3 sizes all 1, always summing to 3', () => {
    // X = [1, u, u²], u = −2..2: XᵀX = [[5, 0, 10], [0, 10, 0], [10, 0, 34]] ⇒ h(u) = (34 − 20u² + 5u⁴)/70 + u²/10.
    const h = parabolaLeverages([3, 4, 5, 6, 7]);
    [62, 26, 34, 26, 62].forEach((k, i) => expect(h[i]).toBeCloseTo(k / 70, 12));
    expect(Array.from(parabolaLeverages([1, 2, 5])).map((v) => Number(v.toFixed(12)))).toEqual([1, 1, 1]);
    const scattered = parabolaLeverages([0.3, 1.1, 2.9, 3.0, 7.5, 8]);
    expect(scattered.reduce((s, v) => s + v, 0)).toBeCloseTo(3, 10);
  });

  // A design like a scaling sweep's: 4 budgets of 5 sizes each, the optimum inside.
  const sparse = (seed: number) => isoflopRuns(seed, 0.004, [1e18, 1e19, 1e20, 1e21], [-2, -1, 0, 1, 2]);

  it('resamples residuals with the design kept: refits fail far less often than when resampling runs within budgets', () => {
    const { n, c, y } = sparse(5);
    const r = runIsoflopFit(n, c, y, null, { resamples: 1000, seed: 3 });
    expect(r.bootstrap.scheme).toBe('residuals');
    expect(r.bootstrap.resamples).toBe(1000);
    expect(r.bootstrap.failed / 1000).toBeLessThan(0.05);
    // The runs-within-budgets resampling on the same data: 5 sizes drawn with replacement keep ≥ 3 distinct ones with
    // probability 1 − (5 + 10·30)/5⁵ = 0.902 per budget, so ≈ 34 % of refits fail for that alone; most of the rest
    // fail because duplicated runs at one end turn a budget's parabola over.
    const groups = groupBudgets(c);
    const cases = bootstrapDraws(n.length, { resamples: 1000, seed: 3 }, (rows) => {
      let k = 0;
      return fitIsoflopLaw(groups.map((g) => Array.from(rows.subarray(k, (k += g.length)))), n, c, y, 6);
    }, groups);
    expect(cases.info.failed / 1000).toBeGreaterThan(0.34);
  });

  it('its 95 % interval for the exponent covers the truth in about 95 % of noisy replications', () => {
    const a = TRUTH.beta / (TRUTH.alpha + TRUTH.beta);
    let covered = 0;
    const reps = 100;
    for (let s = 0; s < reps; s++) {
      const { n, c, y } = isoflopRuns(100 + s, 0.004, [1e18, 1e19, 1e20, 1e21], [-2, -1, 0, 1, 2]);
      const e = runIsoflopFit(n, c, y, null, { resamples: 200, seed: s }).estimates.find((q) => q.quantity === 'a (N_opt ∝ C^a)')!;
      if (e.lo <= a && a <= e.hi) covered++;
    }
    // Binomial(100, 0.95) lies in [88, 100] with probability > 0.999.
    expect(covered).toBeGreaterThanOrEqual(88);
    expect(trueNopt(1e20)).toBeGreaterThan(0);
  });

  it('says there are no intervals when every budget has exactly 3 sizes', () => {
    const { n, c, y } = isoflopRuns(2, 0.004, [1e18, 1e19, 1e20], [-1, 0, 1]);
    const r = runIsoflopFit(n, c, y, null, { resamples: 100 });
    expect(r.bootstrap.resamples).toBe(0);
    expect(Number.isNaN(r.estimates[0]!.lo)).toBe(true);
    expect(r.notes.join('\n')).toMatch(/every budget has exactly 3 sizes: .* no intervals; add a fourth size/);
  });
});
