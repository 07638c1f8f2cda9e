import { Rng } from '@difflab/core-tensor';
import { describe, expect, it } from 'vitest';
import { fitLogisticRegression, fitStandardizer, linearProbe, meanPoolTokens, MetricInputError, predict, standardize, type FeatureMatrix } from '../src/index.js';

/** Gaussian blobs: class c centred at `sep`·e_c (dims ≥ classes), unit noise. */
function blobs(rng: Rng, n: number, dim: number, classes: number, sep: number): { x: FeatureMatrix; y: Int32Array } {
  const data = new Float64Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.int(classes);
    for (let j = 0; j < dim; j++) data[i * dim + j] = rng.normal() + (j === y[i] ? sep : 0);
  }
  return { x: { rows: n, dim, data }, y };
}

describe('fitLogisticRegression', () => {
  it('satisfies the optimality conditions of the L2-penalised multinomial loss', () => {
    const rng = new Rng(1);
    const { x, y } = blobs(rng, 200, 4, 3, 1);
    const c = 0.5;
    const { model, converged } = fitLogisticRegression(x, y, 3, { c, tol: 1e-8 });
    expect(converged).toBe(true);
    // ∇W = Xᵀ(P − Y)/n + W/(C·n) = 0 and ∇b = Σ(P − Y)/n = 0, recomputed here directly.
    const n = x.rows;
    const gw = new Float64Array(4 * 3);
    const gb = new Float64Array(3);
    for (let i = 0; i < n; i++) {
      const z = [0, 1, 2].map((k) => model.bias[k]! + [0, 1, 2, 3].reduce((s, j) => s + (x.data[i * 4 + j] as number) * model.weights[j * 3 + k]!, 0));
      const e = z.map((v) => Math.exp(v));
      const sum = e.reduce((s, v) => s + v, 0);
      for (let k = 0; k < 3; k++) {
        const r = e[k]! / sum - (y[i] === k ? 1 : 0);
        gb[k] += r / n;
        for (let j = 0; j < 4; j++) gw[j * 3 + k] += ((x.data[i * 4 + j] as number) * r) / n;
      }
    }
    for (let i = 0; i < 12; i++) expect(Math.abs(gw[i]! + model.weights[i]! / (c * n))).toBeLessThan(1e-8);
    for (let k = 0; k < 3; k++) expect(Math.abs(gb[k]!)).toBeLessThan(1e-8);
  });

  it('learns the class frequencies from uninformative (zero) features', () => {
    const y = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 2, 2]);
    const x = { rows: 10, dim: 2, data: new Float64Array(20) };
    const { model } = fitLogisticRegression(x, y, 3, { c: 1, tol: 1e-10 });
    const e = [...model.bias].map(Math.exp);
    const sum = e.reduce((s, v) => s + v, 0);
    expect(e[0]! / sum).toBeCloseTo(0.5, 8);
    expect(e[1]! / sum).toBeCloseTo(0.3, 8);
    expect(e[2]! / sum).toBeCloseTo(0.2, 8);
    expect([...predict(model, x)]).toEqual(new Array(10).fill(0));
  });

  it('rejects out-of-range labels and a non-positive C', () => {
    const x = { rows: 2, dim: 1, data: [0, 1] };
    expect(() => fitLogisticRegression(x, [0, 3], 3, { c: 1 })).toThrow(/label 1 is 3, expected an integer in \[0, 3\)/);
    expect(() => fitLogisticRegression(x, [0, 1], 2, { c: 0 })).toThrow(MetricInputError);
  });
});

describe('standardize and pooling', () => {
  it('gives zero-mean, unit-variance training features and leaves constant features unscaled', () => {
    const x = { rows: 4, dim: 2, data: [1, 5, 2, 5, 3, 5, 6, 5] };
    const s = fitStandardizer(x);
    expect([...s.mean]).toEqual([3, 5]);
    expect(s.scale[0]).toBeCloseTo(Math.sqrt(3.5), 14);
    expect(s.scale[1]).toBe(1);
    const z = standardize(s, x).data;
    expect([z[0]!, z[1]!, z[6]!]).toEqual([-2 / Math.sqrt(3.5), 0, 3 / Math.sqrt(3.5)]);
  });

  it('mean-pools tokens per sample', () => {
    // 2 samples × 3 tokens × 2 dims.
    const pooled = meanPoolTokens([1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 3, 9], 2, 3, 2);
    expect(Array.from(pooled.data)).toEqual([3, 4, 1, 3]);
    expect(() => meanPoolTokens([1, 2, 3], 2, 3, 2)).toThrow(/expected 2×3×2 = 12 values, got 3/);
  });
});

describe('linearProbe', () => {
  it('sweeps C on validation and reports test top-1', () => {
    const rng = new Rng(2);
    const split = (n: number) => {
      const { x, y } = blobs(rng, n, 6, 4, 2.5);
      return { features: x, labels: y };
    };
    const res = linearProbe(split(300), split(150), split(300), { numClasses: 4, cGrid: [10, 1e-4, 0.1] });
    expect(res.sweep.map((s) => s.c)).toEqual([1e-4, 0.1, 10]);
    expect(res.valAccuracy).toBe(Math.max(...res.sweep.map((s) => s.valAccuracy)));
    expect(res.bestC).toBe(res.sweep.find((s) => s.valAccuracy === res.valAccuracy)!.c);
    // Bayes accuracy of these blobs is about 0.88; a working probe is close to it.
    expect(res.testAccuracy).toBeGreaterThan(0.8);
    expect(res.sweep.every((s) => s.converged)).toBe(true);
  });

  it('rejects splits of different widths', () => {
    const a = { features: { rows: 4, dim: 2, data: new Float64Array(8) }, labels: [0, 1, 0, 1] };
    const b = { features: { rows: 4, dim: 3, data: new Float64Array(12) }, labels: [0, 1, 0, 1] };
    expect(() => linearProbe(a, b, a, { numClasses: 2 })).toThrow(/linearProbe: val\.features has 3 features per row and train\.features 2/);
  });
});
