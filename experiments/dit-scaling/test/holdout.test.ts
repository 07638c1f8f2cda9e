// The held-out budget check on Chinchilla-form losses L = E + A/N^α + B/D^β (D = C/(6N)), where the compute-optimal
// N is known in closed form: fitting all but the largest budget predicts that budget's N_opt and best loss, and the
// report compares them with what its own runs measured; fewer than 3 budgets is refused.
import { describe, expect, it } from 'vitest';
import { holdoutMarkdown, holdoutPrediction, type HoldoutRow } from '../src/holdout.js';

const T = { E: 1.8, A: 400, B: 2000, alpha: 0.34, beta: 0.37 };
const loss = (n: number, d: number) => T.E + T.A / n ** T.alpha + T.B / d ** T.beta;
const nOpt = (c: number) => ((T.alpha * T.A) / (T.beta * T.B)) ** (1 / (T.alpha + T.beta)) * (c / 6) ** (T.beta / (T.alpha + T.beta));

function grid(budgets: number[]): HoldoutRow[] {
  return budgets.flatMap((C) =>
    [-3, -2, -1, 0, 1, 2, 3].map((j) => {
      const N = nOpt(C) * Math.exp(0.3 * j);
      const D = C / (6 * N);
      return { N, D, budget: C, heldout_loss: loss(N, D) };
    }),
  );
}

describe('held-out budget prediction', () => {
  it('predicts the largest budget from the others: N_opt near the closed form and the measured vertex, the best loss within 0.5 %', () => {
    const budgets = [1e18, 3e18, 1e19, 3e19, 1e20];
    const p = holdoutPrediction(grid(budgets), { resamples: 0, seed: 0 });
    expect(p.heldOutBudget).toBe(1e20);
    expect(p.fittedBudgets).toEqual([1e18, 3e18, 1e19, 3e19]);
    expect(p.lossLaw).toBe('E + a·C^b');
    // The parabola in ln N is not the exact profile, but it is the same shape at every budget (centred grids), so the
    // extrapolated vertex and the held-out budget's own vertex agree closely; both are near the closed form.
    expect(p.nOptRatio!).toBeGreaterThan(0.98);
    expect(p.nOptRatio!).toBeLessThan(1.02);
    expect(p.predictedNopt.value / nOpt(1e20)).toBeGreaterThan(0.9);
    expect(p.predictedNopt.value / nOpt(1e20)).toBeLessThan(1.1);
    // Measured: the grid point at the true optimum (j = 0) is the best run.
    expect(p.measuredBestN / nOpt(1e20)).toBeCloseTo(1, 9);
    expect(p.measuredBestLoss).toBeCloseTo(loss(nOpt(1e20), 1e20 / (6 * nOpt(1e20))), 12);
    expect(Math.abs(p.lossError)).toBeLessThan(0.005);
    const md = holdoutMarkdown(p, 'test');
    expect(md).toContain('Fitted on budgets 1.000e+18, 3.000e+18, 1.000e+19, 3.000e+19; predicted: the largest, C = 1.000e+20');
    expect(md).toMatch(/\| best held-out loss \(E \+ a·C\^b on the other budgets' best runs\) \| 2\.479 \[–, –\] \| 2\.479 \(N = 9\.568e\+8\) \| -?\d+\.\d\d % \|/);
  });

  it('uses y = a·C^b when fewer than 4 budgets are fitted, and refuses fewer than 3 budgets', () => {
    expect(holdoutPrediction(grid([1e18, 1e19, 1e20]), { resamples: 0, seed: 0 }).lossLaw).toBe('a·C^b');
    expect(() => holdoutPrediction(grid([1e18, 1e19]), { resamples: 0, seed: 0 })).toThrow(/needs at least 3 budgets \(2 to fit, 1 to predict\), got 2/);
  });
});
