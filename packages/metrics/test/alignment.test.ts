import { Rng } from '@difflab/core-tensor';
import { describe, expect, it } from 'vitest';
import { cka, cknna, gram, hsicBiased, hsicUnbiased, l2NormalizeRows, MetricInputError, mutualKnn, type FeatureMatrix } from '../src/index.js';

function randomFeatures(rng: Rng, rows: number, dim: number, scale = 1): FeatureMatrix {
  return { rows, dim, data: Float64Array.from(rng.normalArray(rows * dim, 0, scale)) };
}

/** X·Q for a random orthogonal Q (product of Householder reflections). */
function rotate(x: FeatureMatrix, rng: Rng): FeatureMatrix {
  const d = x.dim;
  const out = Float64Array.from(x.data);
  for (let r = 0; r < 3; r++) {
    const u = rng.normalArray(d);
    const uu = u.reduce((s, v) => s + v * v, 0);
    for (let i = 0; i < x.rows; i++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += out[i * d + j]! * u[j]!;
      for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! - (2 * dot * u[j]!) / uu;
    }
  }
  return { ...x, data: out };
}

const scale = (x: FeatureMatrix, c: number): FeatureMatrix => ({ ...x, data: Float64Array.from(x.data, (v) => c * v) });

/** Linear CKA of Kornblith et al. on column-centred X, Y: ‖YᵀX‖²_F / (‖XᵀX‖_F·‖YᵀY‖_F). */
function kornblithCka(x: FeatureMatrix, y: FeatureMatrix): number {
  const centre = (m: FeatureMatrix) => {
    const out = Float64Array.from(m.data);
    for (let j = 0; j < m.dim; j++) {
      let mu = 0;
      for (let i = 0; i < m.rows; i++) mu += out[i * m.dim + j]! / m.rows;
      for (let i = 0; i < m.rows; i++) out[i * m.dim + j] = out[i * m.dim + j]! - mu;
    }
    return out;
  };
  const [cx, cy] = [centre(x), centre(y)];
  const cross = (p: Float64Array, pd: number, q: Float64Array, qd: number) => {
    let s = 0;
    for (let a = 0; a < pd; a++)
      for (let b = 0; b < qd; b++) {
        let acc = 0;
        for (let i = 0; i < x.rows; i++) acc += p[i * pd + a]! * q[i * qd + b]!;
        s += acc * acc;
      }
    return s;
  };
  return cross(cx, x.dim, cy, y.dim) / Math.sqrt(cross(cx, x.dim, cx, x.dim) * cross(cy, y.dim, cy, y.dim));
}

/** Song et al.'s unbiased HSIC as the U-statistic over distinct index 4-tuples. */
function hsicUStatistic(k: Float64Array, l: Float64Array, m: number): number {
  let s = 0;
  let count = 0;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < m; j++)
      for (let q = 0; q < m; q++)
        for (let r = 0; r < m; r++) {
          if (new Set([i, j, q, r]).size < 4) continue;
          s += k[i * m + j]! * l[i * m + j]! + k[i * m + j]! * l[q * m + r]! - 2 * k[i * m + j]! * l[i * m + q]!;
          count++;
        }
  return s / count;
}

describe('HSIC', () => {
  it('unbiased HSIC equals the U-statistic over distinct 4-tuples', () => {
    const rng = new Rng(1);
    const m = 7;
    const k = gram(randomFeatures(rng, m, 3));
    const l = gram(randomFeatures(rng, m, 5));
    expect(hsicUnbiased(k, l, m)).toBeCloseTo(hsicUStatistic(k, l, m), 12);
  });

  it('biased HSIC is tr(KHLH) with explicit centring matrices', () => {
    const rng = new Rng(2);
    const m = 6;
    const k = gram(randomFeatures(rng, m, 2));
    const l = gram(randomFeatures(rng, m, 4));
    const h = (i: number, j: number) => (i === j ? 1 : 0) - 1 / m;
    let t = 0;
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) for (let c = 0; c < m; c++) for (let d = 0; d < m; d++) t += k[a * m + b]! * h(b, c) * l[c * m + d]! * h(d, a);
    expect(hsicBiased(k, l, m)).toBeCloseTo(t, 12);
  });
});

describe('cka', () => {
  const rng = new Rng(3);
  const a = randomFeatures(rng, 40, 8, 10);
  const b = { ...a, dim: 8, data: Float64Array.from(a.data, (v, i) => v + 8 * rng.normal() + (i % 3)) };

  it('matches the feature-space formula of linear CKA', () => {
    // The 1e-6 in the denominator is negligible against HSIC values ~1e7 here.
    expect(cka(a, b)).toBeCloseTo(kornblithCka(a, b), 9);
  });

  it('is 1 for self-alignment and symmetric, biased and unbiased, linear and RBF', () => {
    for (const opts of [{}, { unbiased: true }, { kernel: 'rbf' as const, rbfSigma: 20 }]) {
      expect(cka(a, a, opts)).toBeCloseTo(1, 6);
      expect(cka(a, b, opts)).toBeCloseTo(cka(b, a, opts), 12);
    }
  });

  it('is invariant to orthogonal transforms and isotropic scaling of either side', () => {
    const r = new Rng(4);
    for (const unbiased of [false, true]) {
      const base = cka(a, b, { unbiased });
      expect(cka(rotate(a, r), b, { unbiased })).toBeCloseTo(base, 10);
      expect(cka(a, scale(b, 3.5), { unbiased })).toBeCloseTo(base, 8);
    }
  });

  it('rejects mismatched sample counts and too few samples for unbiased HSIC', () => {
    expect(() => cka(a, randomFeatures(rng, 39, 8))).toThrow(/a has 40 samples and b 39/);
    expect(() => cka(randomFeatures(rng, 3, 2), randomFeatures(rng, 3, 2), { unbiased: true })).toThrow(MetricInputError);
  });
});

describe('cknna', () => {
  const rng = new Rng(5);
  const a = l2NormalizeRows(randomFeatures(rng, 30, 6));
  const b = l2NormalizeRows({ rows: 30, dim: 6, data: Float64Array.from(a.data, (v) => v + 0.3 * rng.normal()) });

  it('equals unbiased linear CKA when every other sample is a neighbour (topk = n − 1)', () => {
    expect(cknna(a, b, { topk: 29 })).toBeCloseTo(cka(a, b, { unbiased: true }), 12);
  });

  it('is ~1 for self-alignment and invariant to rotation and scaling', () => {
    const big = scale(a, 100);
    expect(cknna(big, big, { topk: 5 })).toBeCloseTo(1, 6);
    const r = new Rng(6);
    const base = cknna(big, b, { topk: 5 });
    expect(cknna(rotate(big, r), rotate(b, r), { topk: 5 })).toBeCloseTo(base, 10);
    expect(cknna(scale(big, 2), b, { topk: 5 })).toBeCloseTo(base, 5);
  });

  it('is higher for related than for independent features', () => {
    const c = l2NormalizeRows(randomFeatures(rng, 30, 6));
    expect(cknna(a, b, { topk: 5 })).toBeGreaterThan(cknna(a, c, { topk: 5 }) + 0.1);
  });

  it('requires 2 ≤ topk ≤ n − 1', () => {
    expect(() => cknna(a, b, { topk: 1 })).toThrow(/topk must be an integer in \[2, 29\]/);
    expect(() => cknna(a, b, { topk: 30 })).toThrow(MetricInputError);
  });
});

describe('mutualKnn', () => {
  it('counts shared neighbours in a hand-checked case', () => {
    // Points on a line: by inner product, sample i's best neighbours are the largest values
    // (4, then 3, …), excluding itself. A = [1,2,3,4]; B = [4,3,2,1] ranks the other way.
    const a = { rows: 4, dim: 1, data: [1, 2, 3, 4] };
    const b = { rows: 4, dim: 1, data: [4, 3, 2, 1] };
    // k=1: A's neighbours: 0→3, 1→3, 2→3, 3→2. B's: 0→1, 1→0, 2→0, 3→0. No overlap.
    expect(mutualKnn(a, b, { topk: 1 })).toBe(0);
    // k=2: A: 0→{3,2}, 1→{3,2}, 2→{3,1}, 3→{2,1}; B: 0→{1,2}, 1→{0,2}, 2→{0,1}, 3→{0,1}.
    // Shared: 0:{2}, 1:{2}, 2:{1}, 3:{1} → 4 of 8.
    expect(mutualKnn(a, b, { topk: 2 })).toBe(0.5);
    expect(mutualKnn(a, a, { topk: 2 })).toBe(1);
  });

  it('is symmetric and invariant to rotation and positive scaling', () => {
    const rng = new Rng(7);
    const a = randomFeatures(rng, 50, 5);
    const b = { ...a, data: Float64Array.from(a.data, (v) => v + 0.5 * rng.normal()) };
    const base = mutualKnn(a, b, { topk: 10 });
    expect(base).toBeGreaterThan(0.3);
    expect(mutualKnn(b, a, { topk: 10 })).toBe(base);
    expect(mutualKnn(rotate(a, rng), scale(b, 0.1), { topk: 10 })).toBe(base);
  });
});
