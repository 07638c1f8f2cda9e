// oneDNN fp32 matrix products (native/src/onednn.cc, setMatmulLibrary('onednn')): every product —
// dense, batched, the fused bias/activation, convolutions and their gradients — must equal the float64
// product up to fp32 accumulation, as BLAS's does, while being oneDNN's own sums (not BLAS's bits).
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { matmulLibrary, onednnUnavailable, Rng, setMatmulLibrary } from '../src/index.js';
import { MATMUL_CASES, matmulOperands, onednnInstalled, reference, worstRelative } from './matmul-reference.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});
afterEach(async () => {
  await tf.setBackend('native');
  setMatmulLibrary('blas');
});

/** Where oneDNN is not installed: asserts that it is refused with the reason, and returns true. */
function refusedHere(): boolean {
  if (onednnInstalled) return false;
  expect(() => setMatmulLibrary('onednn')).toThrow(`oneDNN matrix products are unavailable: ${onednnUnavailable()}`);
  expect(matmulLibrary()).toBe('blas');
  return true;
}

/** `fn` computed with each library. */
function both<T>(fn: () => T): { blas: T; onednn: T } {
  setMatmulLibrary('blas');
  const blas = fn();
  setMatmulLibrary('onednn');
  expect(matmulLibrary()).toBe('onednn');
  const onednn = fn();
  setMatmulLibrary('blas');
  return { blas, onednn };
}

describe('oneDNN fp32 matrix products', () => {
  it(`are available exactly when Debian's oneDNN is installed (here: ${onednnInstalled ? 'installed' : 'absent'}), and refused with the reason elsewhere`, () => {
    expect(onednnUnavailable()).toEqual(onednnInstalled ? null : expect.any(String));
    refusedHere();
  });

  it('equal the float64 product up to fp32 accumulation on every path of gemm.cc, with their own summation order', () => {
    if (refusedHere()) return;
    const rng = new Rng(5);
    let differingElements = 0;
    for (const c of MATMUL_CASES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const { a, b, shapeA, shapeB } = matmulOperands(rng, c, transA, transB);
          const out = both(() => tf.tidy(() => tf.matMul(tf.tensor(a, shapeA), tf.tensor(b, shapeB), transA, transB).dataSync() as Float32Array));
          const ref = reference(a, b, c.batch, c.m, c.n, c.k, transA, transB, (v) => v);
          const label = `batch ${c.batch} ${c.m}×${c.n}×${c.k} transA ${transA} transB ${transB}`;
          // fp32 accumulation of k terms: ≤ k·2⁻²⁴ of Σ|terms|.
          expect(worstRelative(out.onednn, ref), label).toBeLessThan(c.k * 6e-8);
          expect(worstRelative(out.blas, ref), label).toBeLessThan(c.k * 6e-8);
          differingElements += out.onednn.filter((v, i) => v !== out.blas[i]).length;
        }
      }
    }
    // Proof that the products went through oneDNN: its blocking sums in another order than OpenBLAS's.
    expect(differingElements).toBeGreaterThan(0);
  });

  it('apply the fused bias and activation after the product', () => {
    if (refusedHere()) return;
    const rng = new Rng(6);
    const [m, n, k] = [40, 30, 24];
    const a = Float32Array.from(rng.normalArray(m * k)), b = Float32Array.from(rng.normalArray(k * n)), bias = Float32Array.from(rng.normalArray(n));
    const { onednn } = both(() => tf.tidy(() => tf.fused.matMul({ a: tf.tensor(a, [m, k]), b: tf.tensor(b, [k, n]), bias: tf.tensor(bias), activation: 'relu' }).dataSync() as Float32Array));
    const ref = reference(a, b, 1, m, n, k, false, false, (v) => v);
    for (let i = 0; i < m * n; i++) {
      expect(Math.abs(onednn[i]! - Math.max(0, ref.out[i]! + bias[i % n]!))).toBeLessThanOrEqual(k * 6e-8 * ref.scale[i]! + 1e-6);
    }
  });

  it('carry convolutions and both their gradients (including the chunked, accumulating filter gradient)', () => {
    if (refusedHere()) return;
    const rng = new Rng(7);
    const x = tf.tensor4d(rng.normalArray(16 * 12 * 12 * 5), [16, 12, 12, 5]);
    const w = tf.tensor4d(rng.normalArray(3 * 3 * 5 * 7), [3, 3, 5, 7]);
    const dy = tf.tensor4d(rng.normalArray(16 * 12 * 12 * 7), [16, 12, 12, 7]);
    // y, dx and dw of Σ conv(x, w)·dy; with |x|, |w|, |dy| the same sums bound the rounding of each element.
    const products = (xi: tf.Tensor4D, wi: tf.Tensor4D, dyi: tf.Tensor4D) =>
      tf.tidy(() => {
        const f = (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 1, 'same'), dyi));
        const [dx, dw] = tf.grads(f)([xi, wi]);
        return [tf.conv2d(xi, wi, 1, 'same'), dx!, dw!].map((t) => t.dataSync() as Float32Array);
      });
    const out = both(() => products(x, w, dy));
    const scale = products(tf.abs(x), tf.abs(w), tf.abs(dy));
    // Reduction lengths: 3·3·5 for y, 3·3·7 for dx, 16·12·12 for dw; both libraries within 2 · k · 2⁻²⁴ of each other.
    let differing = 0;
    for (const [i, k] of [45, 63, 16 * 144].entries()) {
      out.onednn[i]!.forEach((v, j) => {
        expect(Math.abs(v - out.blas[i]![j]!)).toBeLessThanOrEqual(2 * k * 6e-8 * scale[i]![j]! + 1e-30);
        if (v !== out.blas[i]![j]) differing++;
      });
    }
    // Short reductions (y, dx) sum in the same order in both libraries; the filter gradient's long one does not.
    expect(differing).toBeGreaterThan(0);
    tf.dispose([x, w, dy]);
  });

  it('refuses an unknown library and oneDNN off the native backend, naming the fix', async () => {
    expect(() => setMatmulLibrary('mkl' as never)).toThrow("matmul library must be 'blas' or 'onednn', not 'mkl'");
    await tf.setBackend('cpu');
    expect(onednnUnavailable()).toBe("they need the native backend and the active backend is 'cpu'");
    expect(() => setMatmulLibrary('onednn')).toThrow("oneDNN matrix products are unavailable: they need the native backend and the active backend is 'cpu'");
  });
});
