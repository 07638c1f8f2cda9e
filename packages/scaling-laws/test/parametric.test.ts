import { describe, expect, it } from 'vitest';
import { FitError } from '../src/errors.js';
import { chinchillaInitGrid, computeOptimal, evalParametric, fitParametric, runParametricFit } from '../src/parametric.js';
import { TRUTH, scatteredRuns, trueNopt, within } from './synthetic.js';

/** A 32-point corner of Hoffmann et al.'s grid: the full 4500 starts take seconds per fit (see tools/bench). */
const SMALL_GRID = [0, 5].flatMap((a) => [5, 10].flatMap((b) => [-0.5, 0.5].flatMap((e) => [0.5, 1].flatMap((al) => [0.5, 1].map((be) => [a, b, e, al, be])))));

describe('parametric L(N, D) = E + A/N^α + B/D^β', () => {
  it('uses the initialisation grid of Hoffmann et al. (6·6·5·5·5 = 4500 points)', () => {
    const g = chinchillaInitGrid();
    expect(g).toHaveLength(4500);
    const values = (j: number) => [...new Set(g.map((t) => t[j]))].sort((p, q) => p! - q!);
    expect(values(0)).toEqual([0, 5, 10, 15, 20, 25]);
    expect(values(1)).toEqual([0, 5, 10, 15, 20, 25]);
    expect(values(2)).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(values(3)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(values(4)).toEqual([0, 0.5, 1, 1.5, 2]);
  });

  it('recovers the law exactly from noise-free data', () => {
    const { n, d, y } = scatteredRuns(2, 40, 0);
    const r = fitParametric(n, d, y, { starts: SMALL_GRID });
    expect(r.law.E).toBeCloseTo(TRUTH.E, 4);
    expect(r.law.alpha).toBeCloseTo(TRUTH.alpha, 4);
    expect(r.law.beta).toBeCloseTo(TRUTH.beta, 4);
    expect(r.law.A / TRUTH.A).toBeCloseTo(1, 2);
    expect(r.law.B / TRUTH.B).toBeCloseTo(1, 2);
  });

  it('bootstrap intervals cover every true parameter on noisy data', () => {
    const { n, d, y } = scatteredRuns(4, 80, 0.01);
    const r = runParametricFit(n, d, y, { starts: SMALL_GRID, resamples: 200, seed: 3, predictND: [[1e9, 2e10]], predictC: [1e22] });
    const get = (q: string) => [...r.estimates, ...r.predictions].find((e) => e.quantity === q)!;
    expect(within(get('E'), TRUTH.E)).toBe(true);
    expect(within(get('A'), TRUTH.A)).toBe(true);
    expect(within(get('B'), TRUTH.B)).toBe(true);
    expect(within(get('α'), TRUTH.alpha)).toBe(true);
    expect(within(get('β'), TRUTH.beta)).toBe(true);
    expect(within(get('L(N=1e9, D=2e10)'), evalParametric(TRUTH, 1e9, 2e10))).toBe(true);
    expect(within(get('N_opt(C=1e22)'), trueNopt(1e22))).toBe(true);
    expect(r.bootstrap.failed).toBe(0);
  });

  it('computeOptimal is the minimum of L along C = k·N·D', () => {
    const c = 1e21;
    const { nOpt, dOpt, loss } = computeOptimal(TRUTH, c, 6);
    expect((6 * nOpt * dOpt) / c).toBeCloseTo(1, 12);
    for (const f of [0.9, 0.99, 1.01, 1.1]) expect(evalParametric(TRUTH, nOpt * f, dOpt / f)).toBeGreaterThan(loss);
  });

  it('needs at least 6 runs', () => {
    expect(() => fitParametric([1, 2, 3], [1, 2, 3], [1, 2, 3])).toThrow(FitError);
  });
});
