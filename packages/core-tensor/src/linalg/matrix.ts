import { callNative, nativeLinalg } from './engine.js';
import { LinalgError } from './errors.js';

/**
 * Dense float64 matrices are row-major `Float64Array`s with their sizes passed alongside,
 * the layout NumPy uses for C-ordered arrays, so saved statistics map 1:1 onto `.npy`/safetensors.
 */

/** Throws unless `a` holds exactly `rows * cols` finite numbers. */
export function checkMatrix(name: string, a: ArrayLike<number>, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new LinalgError(`${name}: sizes must be non-negative integers, got ${rows}×${cols}`);
  }
  if (a.length !== rows * cols) {
    throw new LinalgError(`${name}: expected ${rows}×${cols} = ${rows * cols} entries, got ${a.length}`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) {
      throw new LinalgError(`${name}: entry ${Math.floor(i / cols)},${i % cols} is ${a[i]}; remove NaN/Inf before calling`);
    }
  }
}

/**
 * A float64 copy of the symmetric part (A + Aᵀ)/2 of a square matrix. Inputs that are symmetric
 * only up to round-off (e.g. covariances accumulated in a different order) are accepted; a matrix
 * whose asymmetry exceeds `tol` relative to its largest entry is rejected, since then the caller
 * almost certainly passed the wrong thing.
 */
export function symmetricPart(name: string, a: ArrayLike<number>, n: number, tol = 1e-8): Float64Array {
  checkMatrix(name, a, n, n);
  const s = new Float64Array(n * n);
  let maxAbs = 0;
  let maxAsym = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const aij = a[i * n + j]!;
      const aji = a[j * n + i]!;
      maxAbs = Math.max(maxAbs, Math.abs(aij));
      maxAsym = Math.max(maxAsym, Math.abs(aij - aji));
      const m = 0.5 * (aij + aji);
      s[i * n + j] = m;
      s[j * n + i] = m;
    }
  }
  if (maxAsym > tol * maxAbs) {
    throw new LinalgError(
      `${name}: matrix is not symmetric (max |a_ij - a_ji| = ${maxAsym.toExponential(3)}, ` +
        `max |a_ij| = ${maxAbs.toExponential(3)}); pass a symmetric matrix such as a covariance`,
    );
  }
  return s;
}

/**
 * Below this many multiply-adds a product stays in JS: the native call's fixed cost (switching
 * OpenBLAS's thread count) is then comparable to the arithmetic.
 */
const NATIVE_MATMUL_MIN_MACS = 32 * 32 * 32;

/**
 * C = A·Bᵀ for row-major A (m×k) and B (n×k). With `symmetric` (A·Bᵀ known symmetric, m = n) the
 * result is exactly symmetric (upper triangle mirrored). With `out`, the product is added to it.
 * Large products run in BLAS (`dgemm`, or `dsyrk` for A·Aᵀ) when the native engine is in use
 * (see `linalgEngine`); otherwise every entry is a dot product of two contiguous rows, computed
 * 2×2 at a time (≈ 2.5× the i-p-j loop in V8), only j ≥ i when symmetric.
 */
export function matmulTransB(
  a: Float64Array,
  b: Float64Array,
  m: number,
  n: number,
  k: number,
  opts: { symmetric?: boolean; out?: Float64Array } = {},
): Float64Array {
  if (a.length !== m * k || b.length !== n * k) {
    throw new LinalgError(`matmulTransB: expected A ${m}×${k} and B ${n}×${k}, got ${a.length} and ${b.length} entries`);
  }
  const sym = opts.symmetric ?? false;
  if (sym && m !== n) throw new LinalgError(`matmulTransB: a symmetric product must be square, got ${m}×${n}`);
  const c = opts.out ?? new Float64Array(m * n);
  if (c.length !== m * n) throw new LinalgError(`matmulTransB: out has ${c.length} entries, expected ${m * n}`);
  const native = m * n * k >= NATIVE_MATMUL_MIN_MACS ? nativeLinalg('matmulTransB') : null;
  if (native) {
    callNative('matmulTransB', () => native.matmulTransBF64(a, b, c, m, n, k, opts.out ? 1 : 0, sym));
    return c;
  }
  const dot = (i: number, j: number) => {
    let s = 0;
    const ai = i * k;
    const bj = j * k;
    for (let p = 0; p < k; p++) s += a[ai + p]! * b[bj + p]!;
    return s;
  };
  let i = 0;
  for (; i + 1 < m; i += 2) {
    const a0 = i * k;
    const a1 = a0 + k;
    let j = sym ? i : 0;
    for (; j + 1 < n; j += 2) {
      const b0 = j * k;
      const b1 = b0 + k;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p]!;
        const x1 = a[a1 + p]!;
        const y0 = b[b0 + p]!;
        const y1 = b[b1 + p]!;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      c[i * n + j] = c[i * n + j]! + s00;
      c[i * n + j + 1] = c[i * n + j + 1]! + s01;
      c[(i + 1) * n + j] = c[(i + 1) * n + j]! + s10;
      c[(i + 1) * n + j + 1] = c[(i + 1) * n + j + 1]! + s11;
    }
    for (; j < n; j++) {
      c[i * n + j] = c[i * n + j]! + dot(i, j);
      c[(i + 1) * n + j] = c[(i + 1) * n + j]! + dot(i + 1, j);
    }
  }
  for (; i < m; i++) for (let j = sym ? i : 0; j < n; j++) c[i * n + j] = c[i * n + j]! + dot(i, j);
  if (sym) for (let r = 0; r < n; r++) for (let q = r + 1; q < n; q++) c[q * n + r] = c[r * n + q]!;
  return c;
}

export function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

export function trace(a: ArrayLike<number>, n: number): number {
  let t = 0;
  for (let i = 0; i < n; i++) t += a[i * n + i]!;
  return t;
}
