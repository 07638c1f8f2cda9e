// Float64 references for the native matrix-product tests (bf16 and oneDNN fp32 products).
import { existsSync } from 'node:fs';
import type { Rng } from '../src/index.js';

/** Debian's oneDNN headers are here: the addon build then links oneDNN (native/build.mjs). */
export const onednnInstalled = existsSync('/usr/include/oneapi/dnnl/dnnl.h');

// Shapes through each path of gemm.cc: rows split over the threads, columns split (few rows), one
// product per batch item, and a long reduction; every transposition.
export const MATMUL_CASES = [
  { batch: 1, m: 300, n: 70, k: 50 },
  { batch: 1, m: 20, n: 700, k: 33 },
  { batch: 4, m: 17, n: 9, k: 64 },
  { batch: 1, m: 64, n: 48, k: 2048 },
];

/** Row-major op(A)·op(B) for a batch of products in float64, with each operand value mapped by `round`. */
export function reference(a: Float32Array, b: Float32Array, batch: number, m: number, n: number, k: number, transA: boolean, transB: boolean, round: (v: number) => number) {
  const out = new Float64Array(batch * m * n), scale = new Float64Array(batch * m * n);
  for (let p = 0; p < batch; p++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0, abs = 0;
        for (let l = 0; l < k; l++) {
          const x = round(a[p * m * k + (transA ? l * m + i : i * k + l)]!);
          const y = round(b[p * k * n + (transB ? j * k + l : l * n + j)]!);
          s += x * y;
          abs += Math.abs(x * y);
        }
        out[p * m * n + i * n + j] = s;
        scale[p * m * n + i * n + j] = abs;
      }
    }
  }
  return { out, scale };
}

/** Worst |c − ref| / Σ|terms| over the elements. */
export function worstRelative(c: Float32Array, ref: { out: Float64Array; scale: Float64Array }): number {
  let worst = 0;
  for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i]! - ref.out[i]!) / ref.scale[i]!);
  return worst;
}


/** Random operands of one case with tf.matMul's shapes for the transpositions (3-D when batched). */
export function matmulOperands(rng: Rng, { batch, m, n, k }: (typeof MATMUL_CASES)[number], transA: boolean, transB: boolean) {
  const a = Float32Array.from(rng.normalArray(batch * m * k));
  const b = Float32Array.from(rng.normalArray(batch * k * n));
  const shapeA = batch === 1 ? (transA ? [k, m] : [m, k]) : transA ? [batch, k, m] : [batch, m, k];
  const shapeB = batch === 1 ? (transB ? [n, k] : [k, n]) : transB ? [batch, n, k] : [batch, k, n];
  return { a, b, shapeA, shapeB };
}
