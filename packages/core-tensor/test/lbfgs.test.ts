import { describe, expect, it } from 'vitest';
import { minimizeLbfgs, strongWolfeLineSearch, type Objective } from '../src/optim/lbfgs.js';

const rosenbrock: Objective = (x, g) => {
  const [a, b] = [x[0]!, x[1]!];
  g[0] = -2 * (1 - a) - 400 * a * (b - a * a);
  g[1] = 200 * (b - a * a);
  return (1 - a) ** 2 + 100 * (b - a * a) ** 2;
};

describe('minimizeLbfgs', () => {
  it('finds the Rosenbrock minimum (1, 1) from the classic start (−1.2, 1)', () => {
    const r = minimizeLbfgs(rosenbrock, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 6);
    expect(r.x[1]).toBeCloseTo(1, 6);
    expect(r.f).toBeLessThan(1e-12);
  });

  it('solves an ill-conditioned quadratic ½xᵀAx − bᵀx: the minimiser is A⁻¹b', () => {
    // A = diag(1, 10, 100, 1000) plus a coupling, b = A·x* with x* chosen.
    const A = [
      [1, 0.5, 0, 0],
      [0.5, 10, 0, 0],
      [0, 0, 100, 3],
      [0, 0, 3, 1000],
    ];
    const xStar = [1, -2, 0.5, 3];
    const b = A.map((row) => row.reduce((s, v, j) => s + v * xStar[j]!, 0));
    const f: Objective = (x, g) => {
      let v = 0;
      for (let i = 0; i < 4; i++) {
        const ax = A[i]!.reduce((s, a, j) => s + a * x[j]!, 0);
        g[i] = ax - b[i]!;
        v += 0.5 * x[i]! * ax - b[i]! * x[i]!;
      }
      return v;
    };
    const r = minimizeLbfgs(f, [0, 0, 0, 0], { gradTol: 1e-12, fTol: 0 });
    // f is resolved only to ~1e-16·|f*|, so ‖x − x*‖ ≈ sqrt(2·that/λ_min) ≈ 1e-7 is what any f-based line search can reach.
    r.x.forEach((v, i) => expect(v).toBeCloseTo(xStar[i]!, 6));
  });

  it('rejects a start point where the objective is not finite', () => {
    expect(() => minimizeLbfgs(() => NaN, [0])).toThrow(/not finite at the start point/);
  });
});

describe('strongWolfeLineSearch', () => {
  const c1 = 1e-4;
  const c2 = 0.9;
  const check = (phi: (a: number) => [number, number], a0: number) => {
    const [f0, d0] = phi(0);
    const r = strongWolfeLineSearch(phi, f0, d0, a0, c1, c2);
    const [f, d] = phi(r.alpha);
    expect(r.ok).toBe(true);
    expect(f).toBeLessThanOrEqual(f0 + c1 * r.alpha * d0);
    expect(Math.abs(d)).toBeLessThanOrEqual(c2 * Math.abs(d0));
    return r.alpha;
  };

  it('returns a step satisfying both strong Wolfe conditions when the first trial overshoots', () => {
    // φ(α) = (α − 0.3)², minimum at 0.3; a first trial of 5 must be cut back.
    check((a) => [(a - 0.3) ** 2, 2 * (a - 0.3)], 5);
  });

  it('extrapolates when the first trial is too short', () => {
    const a = check((a) => [(a - 40) ** 2, 2 * (a - 40)], 1);
    expect(a).toBeGreaterThan(1);
  });

  it('backs off from a region where the objective overflows', () => {
    const a = check((a) => (a > 2 ? [Infinity, NaN] : [-Math.sin(a), -Math.cos(a)]), 10);
    expect(a).toBeLessThanOrEqual(2);
  });
});
