import { Rng } from '../src/rng.js';

/** A random orthogonal n×n matrix as a product of Householder reflections I − 2uuᵀ/uᵀu. */
export function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < n; r++) {
    const u = Float64Array.from(rng.normalArray(n));
    const uu = u.reduce((s, v) => s + v * v, 0);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += q[i * n + j]! * u[j]!;
      for (let j = 0; j < n; j++) q[i * n + j] = q[i * n + j]! - (2 * dot * u[j]!) / uu;
    }
  }
  return q;
}

/** Q·diag(λ)·Qᵀ, exactly symmetric. */
export function withSpectrum(q: Float64Array, lambda: ArrayLike<number>, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += q[i * n + k]! * lambda[k]! * q[j * n + k]!;
      a[i * n + j] = acc;
      a[j * n + i] = acc;
    }
  }
  return a;
}

export function naiveMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let p = 0; p < k; p++) c[i * n + j] += a[i * k + p]! * b[p * n + j]!;
  return c;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Random PSD matrix XᵀX/rows of the given rank (rows = rank). */
export function randomPsd(n: number, rank: number, rng: Rng): Float64Array {
  const x = Float64Array.from(rng.normalArray(rank * n));
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let acc = 0;
      for (let r = 0; r < rank; r++) acc += x[r * n + i]! * x[r * n + j]!;
      s[i * n + j] = acc / rank;
      s[j * n + i] = acc / rank;
    }
  }
  return s;
}
