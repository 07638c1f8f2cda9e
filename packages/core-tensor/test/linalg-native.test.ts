// The native float64 linear algebra (LAPACK dsyevd, BLAS dgemm/dsyrk in native/src/lapack.cc)
// against the pure-JS implementations, which are the reference. The addon must be built (Nx
// builds it before this project's tests); without it these tests fail with the reason.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  eigh,
  eigvalsh,
  LinalgError,
  linalgEngine,
  matmulTransB,
  psdSqrtFactor,
  Rng,
  setLinalgEngine,
  sqrtmPsd,
  traceSqrtProduct,
  traceSqrtProductFactored,
  transpose,
  type Eigh,
  type LinalgEngine,
  type LinalgEngineChoice,
} from '../src/index.js';
import { loadAddon, type NativeAddon } from '../src/native/addon.js';
import { maxAbsDiff, naiveMatmul, randomOrthogonal, randomPsd, withSpectrum } from './linalg-helpers.js';

const EPS = 2 ** -52;

let initial: LinalgEngineChoice;
beforeAll(() => {
  initial = setLinalgEngine('auto');
});
afterEach(() => {
  setLinalgEngine('auto');
});
afterAll(() => {
  setLinalgEngine(initial);
});

function on<T>(engine: LinalgEngine, fn: () => T): T {
  const previous = setLinalgEngine(engine);
  try {
    return fn();
  } finally {
    setLinalgEngine(previous);
  }
}

function addon(): NativeAddon {
  const load = loadAddon();
  if (!load.ok) throw new Error(`native addon unavailable: ${load.reason}; run npm run build-native -w @difflab/core-tensor`);
  return load.addon;
}

/** A random symmetric matrix with N(0, 1) entries (GOE up to scale): distinct eigenvalues almost surely. */
function randomSymmetric(n: number, rng: Rng): Float64Array {
  const a = Float64Array.from(rng.normalArray(n * n));
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i]!;
  return a;
}

function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

/** V·diag(λ)·Vᵀ from `eigh`'s output (V's columns are the eigenvectors). */
function reconstruct({ values, vectors }: Eigh, n: number): Float64Array {
  const vt = transpose(vectors, n, n); // rows = eigenvectors
  const scaled = vt.map((v, k) => v * values[Math.floor(k / n)]!);
  return naiveMatmul(transpose(vt, n, n), scaled, n, n, n);
}

describe('linalg engine selection', () => {
  it('resolves auto to native when the addon is built, and can be forced either way', () => {
    addon();
    expect(linalgEngine()).toMatchObject({ engine: 'native', choice: 'auto' });
    setLinalgEngine('js');
    expect(linalgEngine()).toMatchObject({ engine: 'js', choice: 'js' });
    expect(setLinalgEngine('native')).toBe('js');
    expect(linalgEngine().engine).toBe('native');
  });

  it('rejects an unknown engine name with the valid ones', () => {
    // @ts-expect-error an invalid name, as a JS caller or a config could pass it
    expect(() => setLinalgEngine('lapack')).toThrow(/unknown linear-algebra engine 'lapack'; use one of auto, native, js/);
    expect(() => setLinalgEngine('lapack' as LinalgEngineChoice)).toThrow(LinalgError);
  });
});

describe('native eigh vs the JS reference', () => {
  for (const n of [1, 2, 7, 64, 300]) {
    it(`agrees on a random symmetric ${n}×${n} matrix: values, order, vectors up to sign, reconstruction`, () => {
      const a = randomSymmetric(n, new Rng(100 + n));
      const native = on('native', () => eigh(a, n));
      const js = on('js', () => eigh(a, n));
      const scale = frobenius(a);

      // Same ascending order, same values to a few ulps of ‖A‖ (both are backward stable).
      for (let i = 1; i < n; i++) expect(native.values[i]!).toBeGreaterThanOrEqual(native.values[i - 1]!);
      expect(maxAbsDiff(native.values, js.values)).toBeLessThan(10 * n * EPS * scale);
      expect(maxAbsDiff(on('native', () => eigvalsh(a, n)), native.values)).toBeLessThan(10 * n * EPS * scale);

      // Each eigenvector equals the JS one up to sign; the perturbation bound of an eigenvector
      // is ‖E‖/gap, so the tolerance is backward error over the eigenvalue's distance to the rest.
      for (let j = 0; j < n; j++) {
        let gap = Infinity;
        for (let i = 0; i < n; i++) if (i !== j) gap = Math.min(gap, Math.abs(js.values[i]! - js.values[j]!));
        let dot = 0;
        for (let r = 0; r < n; r++) dot += native.vectors[r * n + j]! * js.vectors[r * n + j]!;
        const sign = dot < 0 ? -1 : 1;
        let diff = 0;
        for (let r = 0; r < n; r++) diff = Math.max(diff, Math.abs(sign * native.vectors[r * n + j]! - js.vectors[r * n + j]!));
        expect(diff, `eigenvector ${j} (gap ${gap.toExponential(2)})`).toBeLessThan(Math.max(1e-13, (100 * n * EPS * scale) / gap));
      }

      // A = V·diag(λ)·Vᵀ to 1e-10 relative, and VᵀV = I, on both engines.
      for (const r of [native, js]) {
        expect(frobenius(reconstruct(r, n).map((v, k) => v - a[k]!)) / scale).toBeLessThan(1e-10);
        const vt = transpose(r.vectors, n, n);
        const eye = new Float64Array(n * n).map((_, k) => (k % (n + 1) === 0 ? 1 : 0));
        expect(maxAbsDiff(naiveMatmul(vt, r.vectors, n, n, n), eye)).toBeLessThan(1e-12);
      }
    });
  }

  it('recovers repeated eigenvalues, with the same eigenspaces as JS', () => {
    const n = 40;
    const rng = new Rng(7);
    const q = randomOrthogonal(n, rng);
    // Multiplicities 10 (at 0), 8 (at 2), 5 (at −1) and singletons.
    const lambda = Array.from({ length: n }, (_, i) => (i < 10 ? 0 : i < 18 ? 2 : i < 23 ? -1 : 3 + 5 * rng.uniform()));
    const a = withSpectrum(q, lambda, n);
    const native = on('native', () => eigh(a, n));
    const js = on('js', () => eigh(a, n));
    const sorted = [...lambda].sort((x, y) => x - y);
    expect(maxAbsDiff(native.values, sorted)).toBeLessThan(1e-12);
    expect(frobenius(reconstruct(native, n).map((v, k) => v - a[k]!)) / frobenius(a)).toBeLessThan(1e-10);
    // Within a repeated eigenvalue the basis is arbitrary; the projector onto its eigenspace is not,
    // and must be the one built from the prescribed Q's columns.
    const projector = (v: Float64Array, columns: number[]) => {
      const p = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (const c of columns) p[i * n + j] += v[i * n + c]! * v[j * n + c]!;
      return p;
    };
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    // Sorted: −1 ×5 (Q columns 18–22), 0 ×10 (columns 0–9), 2 ×8 (columns 10–17).
    for (const [sortedFrom, sortedTo, qFrom, qTo] of [[0, 5, 18, 23], [5, 15, 0, 10], [15, 23, 10, 18]] as const) {
      const expected = projector(q, range(qFrom, qTo));
      expect(maxAbsDiff(projector(native.vectors, range(sortedFrom, sortedTo)), expected)).toBeLessThan(1e-12);
      expect(maxAbsDiff(projector(js.vectors, range(sortedFrom, sortedTo)), expected)).toBeLessThan(1e-12);
    }
  });

  it('keeps the JS contract: round-off asymmetry is symmetrised, real asymmetry is rejected', () => {
    const n = 5;
    const a = randomSymmetric(n, new Rng(3));
    const nudged = Float64Array.from(a);
    nudged[1] = nudged[1]! + 1e-12; // a_01 ≠ a_10 by round-off
    const sym = Float64Array.from(a);
    sym[1] = sym[n] = a[1]! + 0.5e-12;
    expect(maxAbsDiff(on('native', () => eigh(nudged, n)).values, on('native', () => eigh(sym, n)).values)).toBeLessThan(1e-14);
    const skew = Float64Array.from(a);
    skew[1] = skew[1]! + 0.5;
    for (const engine of ['native', 'js'] as const) {
      expect(() => on(engine, () => eigh(skew, n))).toThrow(LinalgError);
      expect(() => on(engine, () => eigh(skew, n))).toThrow(/eigh: matrix is not symmetric/);
      expect(() => on(engine, () => eigvalsh(skew, n))).toThrow(/eigvalsh: matrix is not symmetric/);
    }
  });

  it('rejects NaN and infinite input with the entry named, through eigh and in the addon itself', () => {
    const bad = new Float64Array([1, 0, 0, 0, 2, NaN, 0, NaN, 3]);
    expect(() => on('native', () => eigh(bad, 3))).toThrow(/eigh: entry 1,2 is NaN; remove NaN\/Inf before calling/);
    // The addon checks on its own too (it is callable directly), rather than handing NaN to LAPACK.
    const lib = addon();
    expect(() => lib.eighF64!(Float64Array.from(bad), 3, new Float64Array(3), true)).toThrow(/eighF64: entry 1,2 is NaN/);
    const inf = new Float64Array([1, Infinity, Infinity, 1]);
    expect(() => lib.eighF64!(inf, 2, new Float64Array(2), false)).toThrow(/eighF64: entry 0,1 is Infinity/);
  });

  it('checks argument types and lengths in the addon', () => {
    const lib = addon();
    expect(() => lib.eighF64!(new Float64Array(3), 2, new Float64Array(2), true)).toThrow(/eighF64: a has 3 elements; its sizes need 4/);
    expect(() => lib.eighF64!(new Float64Array(4), 2, new Float64Array(1), true)).toThrow(/eighF64: w has 1 elements; its sizes need 2/);
    expect(() => lib.eighF64!(new Float32Array(4) as unknown as Float64Array, 2, new Float64Array(2), true)).toThrow(/a must be a Float64Array/);
    expect(() => lib.matmulTransBF64!(new Float64Array(6), new Float64Array(6), new Float64Array(5), 2, 3, 3, 0, false)).toThrow(/a has 6 elements; its sizes need 6|b has 6 elements; its sizes need 9/);
    expect(() => lib.matmulTransBF64!(new Float64Array(4), new Float64Array(6), new Float64Array(6), 2, 3, 2, 0, true)).toThrow(/symmetric product must be square/);
  });
});

describe('native matmulTransB, sqrtmPsd and traceSqrtProduct vs the JS reference', () => {
  it('multiplies like the JS loops (general, A·Aᵀ by dsyrk, accumulating)', () => {
    const rng = new Rng(11);
    const [m, n, k] = [70, 50, 90];
    const a = Float64Array.from(rng.normalArray(m * k));
    const b = Float64Array.from(rng.normalArray(n * k));
    expect(maxAbsDiff(on('native', () => matmulTransB(a, b, m, n, k)), on('js', () => matmulTransB(a, b, m, n, k)))).toBeLessThan(1e-12);
    // A subarray view (non-zero byte offset) must be read at its offset.
    const padded = new Float64Array(m * k + 3);
    padded.set(a, 3);
    const view = padded.subarray(3);
    expect(maxAbsDiff(on('native', () => matmulTransB(view, b, m, n, k)), on('js', () => matmulTransB(a, b, m, n, k)))).toBeLessThan(1e-12);
    const outNative = Float64Array.from(rng.normalArray(m * m));
    for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) outNative[i * m + j] = outNative[j * m + i]!;
    const outJs = Float64Array.from(outNative);
    on('native', () => matmulTransB(a, a, m, m, k, { symmetric: true, out: outNative }));
    on('js', () => matmulTransB(a, a, m, m, k, { symmetric: true, out: outJs }));
    expect(maxAbsDiff(outNative, outJs)).toBeLessThan(1e-12);
    expect(maxAbsDiff(outNative, transpose(outNative, m, m))).toBe(0);
  });

  it('gives the same sqrtmPsd and Fréchet cross term on singular 64-d covariances', () => {
    const n = 64;
    const rng = new Rng(12);
    const s1 = randomPsd(n, 80, rng);
    const s2 = randomPsd(n, 40, rng); // rank 40 < 64
    const rootNative = on('native', () => sqrtmPsd(s2, n));
    expect(maxAbsDiff(rootNative, on('js', () => sqrtmPsd(s2, n)))).toBeLessThan(1e-11);
    expect(maxAbsDiff(naiveMatmul(rootNative, rootNative, n, n, n), s2)).toBeLessThan(1e-11);
    const tNative = on('native', () => traceSqrtProduct(s1, s2, n));
    const tJs = on('js', () => traceSqrtProduct(s1, s2, n));
    expect(Math.abs(tNative - tJs) / tJs).toBeLessThan(1e-12);
    const fNative = on('native', () => psdSqrtFactor(s2, n));
    expect(fNative.rank).toBe(40);
    expect(on('native', () => traceSqrtProductFactored(fNative, s1))).toBeCloseTo(tNative, 10);
  });
});
