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

/** C = A·B for row-major A (m×k) and B (k×n). */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  if (a.length !== m * k || b.length !== k * n) {
    throw new LinalgError(`matmul: expected A ${m}×${k} and B ${k}×${n}, got ${a.length} and ${b.length} entries`);
  }
  const c = new Float64Array(m * n);
  // i-p-j order keeps the innermost loop on contiguous rows of B and C.
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j]!;
    }
  }
  return c;
}

/** Aᵀ·B for row-major A (k×m) and B (k×n): the m×n product without forming Aᵀ. */
export function matmulTransA(a: Float64Array, b: Float64Array, k: number, m: number, n: number): Float64Array {
  if (a.length !== k * m || b.length !== k * n) {
    throw new LinalgError(`matmulTransA: expected A ${k}×${m} and B ${k}×${n}, got ${a.length} and ${b.length} entries`);
  }
  const c = new Float64Array(m * n);
  for (let p = 0; p < k; p++) {
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const api = a[p * m + i]!;
      if (api === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j] += api * b[bp + j]!;
    }
  }
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
