import { describe, expect, it } from 'vitest';
import { Rng } from '@difflab/core-tensor';
import { parametricObjective } from '../src/parametric.js';
import { offsetPowerObjective } from '../src/power.js';
import type { Objective } from '@difflab/core-tensor';
import { scatteredRuns } from './synthetic.js';

function checkGradient(f: Objective, theta: number[]) {
  const g = new Float64Array(theta.length);
  f(Float64Array.from(theta), g);
  const scratch = new Float64Array(theta.length);
  theta.forEach((_, j) => {
    const h = 1e-6 * Math.max(1, Math.abs(theta[j]!));
    const up = Float64Array.from(theta);
    const down = Float64Array.from(theta);
    up[j] = up[j]! + h;
    down[j] = down[j]! - h;
    const numeric = (f(up, scratch) - f(down, scratch)) / (2 * h);
    expect(Math.abs(g[j]! - numeric)).toBeLessThan(1e-6 * Math.max(1, Math.abs(numeric)));
  });
}

describe('analytic gradients match central differences', () => {
  const { n, d, y } = scatteredRuns(7, 30, 0.02);
  const logs = [n, d, y].map((v) => v.map(Math.log));
  const rng = new Rng(11);

  it('parametric Huber objective, linear regime (δ = 1e-3) and quadratic regime (δ = 10)', () => {
    for (const delta of [1e-3, 10]) {
      const f = parametricObjective(logs[0]!, logs[1]!, logs[2]!, delta);
      for (let k = 0; k < 5; k++) {
        checkGradient(f, [5 + 3 * rng.uniform(), 7 + 3 * rng.uniform(), 0.5 * rng.uniform(), 0.2 + 0.3 * rng.uniform(), 0.2 + 0.3 * rng.uniform()]);
      }
    }
  });

  it('y = E + a·C^b log-space least squares', () => {
    const c = n.map((v, i) => 6 * v * d[i]!);
    const f = offsetPowerObjective(c.map(Math.log), logs[2]!);
    for (let k = 0; k < 5; k++) checkGradient(f, [0.5 * rng.uniform(), 2 + rng.uniform(), -0.05 - 0.1 * rng.uniform()]);
  });
});
