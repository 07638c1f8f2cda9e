import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eigh,
  eigvalsh,
  LinalgError,
  type LinalgEngine,
  matmulTransB,
  psdSqrtFactor,
  Rng,
  setLinalgEngine,
  sqrtmPsd,
  trace,
  traceSqrtProduct,
  traceSqrtProductFactored,
  transpose,
} from '../src/index.js';
import { maxAbsDiff, naiveMatmul, randomOrthogonal, randomPsd, withSpectrum } from './linalg-helpers.js';

// Every closed form below runs on both engines: the pure-JS reference and LAPACK/BLAS in the native
// addon (which must be built; `native` fails loudly otherwise). linalg-native.test.ts compares them.
describe.each<LinalgEngine>(['js', 'native'])('%s engine', (engine) => {
  let previous: ReturnType<typeof setLinalgEngine>;
  beforeAll(() => {
    previous = setLinalgEngine(engine);
  });
  afterAll(() => {
    setLinalgEngine(previous);
  });

  describe('matmulTransB', () => {
    it('computes A·Bᵀ for odd and even sizes, symmetric-only and accumulating', () => {
      const rng = new Rng(9);
      // 40×33×50 is above the size where the native engine hands the product to BLAS.
      for (const [m, n, k] of [[5, 3, 7], [4, 6, 2], [1, 1, 3], [40, 33, 50]] as const) {
        const a = Float64Array.from(rng.normalArray(m * k));
        const b = Float64Array.from(rng.normalArray(n * k));
        expect(maxAbsDiff(matmulTransB(a, b, m, n, k), naiveMatmul(a, transpose(b, n, k), m, k, n))).toBeLessThan(1e-12);
      }
      for (const [m, k] of [[5, 4], [40, 30]] as const) {
        const a = Float64Array.from(rng.normalArray(m * k));
        const aat = naiveMatmul(a, transpose(a, m, k), m, k, m);
        const c = matmulTransB(a, a, m, m, k, { symmetric: true });
        expect(maxAbsDiff(c, aat)).toBeLessThan(1e-12);
        expect(maxAbsDiff(c, transpose(c, m, m))).toBe(0);
        const out = Float64Array.from(aat);
        matmulTransB(a, a, m, m, k, { symmetric: true, out });
        expect(maxAbsDiff(out, aat.map((v) => 2 * v))).toBeLessThan(1e-12);
      }
    });

    it('rejects mismatched sizes', () => {
      expect(() => matmulTransB(new Float64Array(5), new Float64Array(6), 2, 3, 3)).toThrow(LinalgError);
      expect(() => matmulTransB(new Float64Array(6), new Float64Array(6), 2, 3, 3)).toThrow(/expected A 2×3 and B 3×3/);
      expect(() => matmulTransB(new Float64Array(6), new Float64Array(9), 2, 3, 3, { symmetric: true })).toThrow(/must be square/);
    });
  });

  describe('eigh', () => {
    it('solves 2×2 in closed form', () => {
      const [a, b, c] = [3, 1.5, -2];
      const mid = (a + c) / 2;
      const rad = Math.hypot((a - c) / 2, b);
      const { values, vectors } = eigh([a, b, b, c], 2);
      expect(values[0]).toBeCloseTo(mid - rad, 14);
      expect(values[1]).toBeCloseTo(mid + rad, 14);
      // Column 1 is ∝ (b, λ1 − a).
      const [v0, v1] = [vectors[1]!, vectors[3]!];
      expect(v0 * (values[1]! - a) - v1 * b).toBeCloseTo(0, 14);
    });

    it('finds the known spectrum of the second-difference matrix', () => {
      const n = 30;
      const t = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        t[i * n + i] = 2;
        if (i + 1 < n) t[i * n + i + 1] = t[(i + 1) * n + i] = -1;
      }
      const expected = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((k + 1) * Math.PI) / (n + 1)));
      expect(maxAbsDiff(eigh(t, n).values, expected)).toBeLessThan(1e-13);
      expect(maxAbsDiff(eigvalsh(t, n), expected)).toBeLessThan(1e-13);
    });

    it('recovers a prescribed spectrum with repeated and zero eigenvalues, with orthonormal vectors', () => {
      const n = 48;
      const rng = new Rng(2);
      const q = randomOrthogonal(n, rng);
      const lambda = Array.from({ length: n }, (_, i) => (i < 6 ? 0 : i < 12 ? 1 : i < 14 ? -3 : 1e3 * rng.uniform()));
      const a = withSpectrum(q, lambda, n);
      const { values, vectors } = eigh(a, n);
      const sorted = [...lambda].sort((x, y) => x - y);
      expect(maxAbsDiff(values, sorted)).toBeLessThan(1e-10);
      // Vᵀ·V = I and A·V = V·Λ.
      const vt = transpose(vectors, n, n);
      const vtv = matmulTransB(vt, vt, n, n, n);
      const eye = new Float64Array(n * n).map((_, k) => (k % (n + 1) === 0 ? 1 : 0));
      expect(maxAbsDiff(vtv, eye)).toBeLessThan(1e-12);
      const av = naiveMatmul(a, vectors, n, n, n);
      const vl = vectors.map((v, k) => v * values[k % n]!);
      expect(maxAbsDiff(av, vl)).toBeLessThan(1e-9);
      expect(maxAbsDiff(eigvalsh(a, n), values)).toBeLessThan(1e-10);
    });

    it('handles diagonal, 1×1 and empty matrices', () => {
      expect([...eigh([5, 0, 0, 0, -1, 0, 0, 0, 2], 3).values]).toEqual([-1, 2, 5]);
      expect([...eigh([4], 1).values]).toEqual([4]);
      expect(eigh([], 0).values.length).toBe(0);
    });

    it('rejects wrong sizes, non-finite entries and non-symmetric input with the reason', () => {
      expect(() => eigh([1, 2, 3], 2)).toThrow(/expected 2×2 = 4 entries, got 3/);
      expect(() => eigh([1, NaN, NaN, 1], 2)).toThrow(/entry 0,1 is NaN/);
      expect(() => eigh([1, 2, 0, 1], 2)).toThrow(/not symmetric/);
    });
  });

  describe('sqrtmPsd', () => {
    it('is Q·diag(√λ)·Qᵀ and squares back, also when singular', () => {
      const n = 24;
      const rng = new Rng(3);
      const q = randomOrthogonal(n, rng);
      const lambda = Array.from({ length: n }, (_, i) => (i < 8 ? 0 : 0.5 + 10 * rng.uniform()));
      const a = withSpectrum(q, lambda, n);
      const r = sqrtmPsd(a, n);
      expect(maxAbsDiff(r, withSpectrum(q, lambda.map(Math.sqrt), n))).toBeLessThan(1e-12);
      expect(maxAbsDiff(naiveMatmul(r, r, n, n, n), a)).toBeLessThan(1e-12);
    });

    it('treats round-off negative eigenvalues as zero', () => {
      const n = 6;
      const q = randomOrthogonal(n, new Rng(4));
      const a = withSpectrum(q, [-1e-15, -1e-16, 0, 1, 2, 3], n);
      const r = sqrtmPsd(a, n);
      expect(r.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(r, withSpectrum(q, [0, 0, 0, 1, Math.SQRT2, Math.sqrt(3)], n))).toBeLessThan(1e-12);
    });
  });

  describe('traceSqrtProduct', () => {
    it('is Σ√(a_i·b_i) for diagonal covariances', () => {
      const a = [1, 4, 0, 2.5];
      const b = [9, 1, 3, 0.4];
      const diag = (v: number[]) => new Float64Array(16).map((_, k) => (k % 5 === 0 ? v[k / 5]! : 0));
      const expected = a.reduce((s, ai, i) => s + Math.sqrt(ai * b[i]!), 0);
      expect(traceSqrtProduct(diag(a), diag(b), 4)).toBeCloseTo(expected, 13);
    });

    it('is Σ√(a_i·b_i) for commuting covariances, including rank-deficient ones', () => {
      const n = 32;
      const rng = new Rng(5);
      const q = randomOrthogonal(n, rng);
      const a = Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : 3 * rng.uniform()));
      const b = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 0 : 3 * rng.uniform()));
      const expected = a.reduce((s, ai, i) => s + Math.sqrt(ai * b[i]!), 0);
      expect(traceSqrtProduct(withSpectrum(q, a, n), withSpectrum(q, b, n), n)).toBeCloseTo(expected, 11);
    });

    it('matches the 2×2 closed form √(tr(S1·S2) + 2√(det S1·det S2)) for non-commuting covariances', () => {
      const s1 = [2, 0.7, 0.7, 1];
      const s2 = [0.5, -0.3, -0.3, 3];
      const p = naiveMatmul(s1, s2, 2, 2, 2);
      const det = (m: number[]) => m[0]! * m[3]! - m[1]! * m[2]!;
      const expected = Math.sqrt(trace(p, 2) + 2 * Math.sqrt(det(s1) * det(s2)));
      expect(traceSqrtProduct(s1, s2, 2)).toBeCloseTo(expected, 13);
    });

    it('is symmetric in its arguments and scales with √c', () => {
      const n = 20;
      const rng = new Rng(6);
      const s1 = randomPsd(n, 30, rng);
      const s2 = randomPsd(n, 12, rng); // rank 12 < n: singular
      const t = traceSqrtProduct(s1, s2, n);
      expect(traceSqrtProduct(s2, s1, n)).toBeCloseTo(t, 10);
      expect(traceSqrtProduct(s1.map((v) => 4 * v), s2, n)).toBeCloseTo(2 * t, 10);
      expect(traceSqrtProductFactored(psdSqrtFactor(s1, n), s2)).toBe(t);
    });

    it('equals tr(S) when both arguments are the same S', () => {
      const n = 16;
      const s = randomPsd(n, 9, new Rng(7));
      expect(traceSqrtProduct(s, s, n)).toBeCloseTo(trace(s, n), 11);
    });
  });
});
