import { callNative, nativeLinalg } from './engine.js';
import { LinalgError } from './errors.js';
import { symmetricPart, transpose } from './matrix.js';

/** Eigen-decomposition A = V·diag(values)·Vᵀ of a real symmetric matrix. */
export interface Eigh {
  /** Eigenvalues in ascending order (NumPy's `eigh` convention). */
  values: Float64Array;
  /** Row-major n×n; column j is the unit eigenvector for `values[j]`. */
  vectors: Float64Array;
}

/**
 * Symmetric eigendecomposition in float64. With the native addon (see `linalgEngine`): LAPACK
 * `dsyevd` (Householder tridiagonalisation, then divide and conquer). In JS: Householder
 * reduction to tridiagonal form, then the implicit QL algorithm with Wilkinson-style shifts (the
 * EISPACK tred2/tql2 pair, as in LAPACK's dsteqr). Both are backward stable: the computed
 * eigenvalues are exact for a matrix within O(n·ε·‖A‖) of A, so a PSD covariance yields
 * eigenvalues ≥ −O(n·ε·‖A‖). Eigenvalues ascend on both paths; an eigenvector's sign, and the
 * basis chosen within a repeated eigenvalue's eigenspace, may differ between them.
 * Only the symmetric part of `a` is used (see `symmetricPart`).
 */
export function eigh(a: ArrayLike<number>, n: number): Eigh {
  const { values, rows } = eighRows(a, n);
  return { values, vectors: transpose(rows, n, n) };
}

/** Eigenvalues only (ascending); about a quarter of the work of `eigh` for large n. */
export function eigvalsh(a: ArrayLike<number>, n: number): Float64Array {
  const s = symmetricPart('eigvalsh', a, n);
  const native = n > 0 ? nativeLinalg('eigvalsh') : null;
  if (native) {
    const values = new Float64Array(n);
    callNative('eigvalsh', () => native.eighF64(s, n, values, false));
    return values;
  }
  const { d, e } = tridiagonalize(s, n, false);
  implicitQl(d, e, null, n);
  return d.sort();
}

/**
 * `eigh` with eigenvectors as the rows of a row-major matrix (row i ↔ values[i]), the layout
 * in which the QL rotations and later products touch memory contiguously.
 */
export function eighRows(a: ArrayLike<number>, n: number): { values: Float64Array; rows: Float64Array } {
  const s = symmetricPart('eigh', a, n);
  const native = n > 0 ? nativeLinalg('eigh') : null;
  if (native) {
    // dsyevd overwrites the (symmetrised copy of the) input with the eigenvectors, one per row.
    const values = new Float64Array(n);
    callNative('eigh', () => native.eighF64(s, n, values, true));
    return { values, rows: s };
  }
  const { d, e, qt } = tridiagonalize(s, n, true);
  implicitQl(d, e, qt, n);
  const order = Array.from(d.keys()).sort((i, j) => d[i]! - d[j]!);
  const values = new Float64Array(n);
  const rows = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    rows.set(qt!.subarray(src * n, src * n + n), dst * n);
  });
  return { values, rows };
}

/**
 * Reduces symmetric `s` (overwritten) to tridiagonal T = Qᵀ·S·Q with Householder reflectors
 * H_k = I − τ_k v_k v_kᵀ. Returns the diagonal d, the sub-diagonal e (e[i] = T[i+1][i],
 * e[n−1] = 0) and, if asked, Qᵀ (row-major).
 */
function tridiagonalize(s: Float64Array, n: number, wantQ: boolean): { d: Float64Array; e: Float64Array; qt: Float64Array | null } {
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const tau = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k + 2 < n; k++) {
    // x = S[k+1.., k], read from row k (symmetric storage keeps rows contiguous).
    const rk = k * n;
    const x0 = s[rk + k + 1]!;
    let tail = 0;
    for (let j = k + 2; j < n; j++) tail += s[rk + j]! * s[rk + j]!;
    d[k] = s[rk + k]!;
    if (tail === 0) {
      e[k] = x0;
      tau[k] = 0;
      continue;
    }
    // LAPACK dlarfg: H·x = β·e1 with v[0] = 1, β of opposite sign to x0 to avoid cancellation.
    const beta = -(x0 >= 0 ? 1 : -1) * Math.sqrt(x0 * x0 + tail);
    const t = (beta - x0) / beta;
    const scale = 1 / (x0 - beta);
    s[rk + k + 1] = 1;
    for (let j = k + 2; j < n; j++) s[rk + j] = s[rk + j]! * scale;
    e[k] = beta;
    tau[k] = t;
    // Two-sided update of the trailing block A22 ← H·A22·H = A22 − v·wᵀ − w·vᵀ, with p = τ·A22·v and
    // w = p − (τ/2)(pᵀv)·v. Only the upper triangle is read and written from here on: each stored
    // a_ij (j > i) contributes to p_i and p_j in one contiguous pass, and the update halves.
    const lo = k + 1;
    p.fill(0, lo);
    for (let i = lo; i < n; i++) {
      const ri = i * n;
      const vi = s[rk + i]!;
      let acc = s[ri + i]! * vi;
      for (let j = i + 1; j < n; j++) {
        const aij = s[ri + j]!;
        acc += aij * s[rk + j]!;
        p[j] = p[j]! + aij * vi;
      }
      p[i] = p[i]! + acc;
    }
    let pv = 0;
    for (let i = lo; i < n; i++) {
      p[i] = t * p[i]!;
      pv += p[i]! * s[rk + i]!;
    }
    const half = -0.5 * t * pv;
    for (let i = lo; i < n; i++) p[i] = p[i]! + half * s[rk + i]!;
    for (let i = lo; i < n; i++) {
      const ri = i * n;
      const vi = s[rk + i]!;
      const wi = p[i]!;
      for (let j = i; j < n; j++) s[ri + j] = s[ri + j]! - vi * p[j]! - wi * s[rk + j]!;
    }
  }
  if (n >= 2) {
    d[n - 2] = s[(n - 2) * n + n - 2]!;
    e[n - 2] = s[(n - 2) * n + n - 1]!;
  }
  if (n >= 1) d[n - 1] = s[n * n - 1]!;
  if (!wantQ) return { d, e, qt: null };

  // Qᵀ = H_{n−3}···H_0, built right to left so each step only touches rows/cols > k.
  const qt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) qt[i * n + i] = 1;
  for (let k = n - 3; k >= 0; k--) {
    const t = tau[k]!;
    if (t === 0) continue;
    const rk = k * n;
    for (let r = k + 1; r < n; r++) {
      const rr = r * n;
      let dot = 0;
      for (let j = k + 1; j < n; j++) dot += qt[rr + j]! * s[rk + j]!;
      const f = t * dot;
      if (f === 0) continue;
      for (let j = k + 1; j < n; j++) qt[rr + j] = qt[rr + j]! - f * s[rk + j]!;
    }
  }
  return { d, e, qt };
}

function hypot(a: number, b: number): number {
  const x = Math.abs(a);
  const y = Math.abs(b);
  const big = x > y ? x : y;
  if (big === 0) return 0;
  const r = (x > y ? y : x) / big;
  return big * Math.sqrt(1 + r * r);
}

const MAX_SWEEPS_PER_EIGENVALUE = 60;

/**
 * Implicit QL iteration on the tridiagonal (d, e) (EISPACK tql2). d is overwritten with the
 * eigenvalues (unsorted). If `zt` is given, its rows are rotated along, so rows of Qᵀ become
 * eigenvectors of the original matrix.
 */
function implicitQl(d: Float64Array, e: Float64Array, zt: Float64Array | null, n: number): void {
  const eps = 2 ** -52;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      let sweeps = 0;
      do {
        if (++sweeps > MAX_SWEEPS_PER_EIGENVALUE) {
          throw new LinalgError(`eigh: QL iteration did not converge for eigenvalue ${l} of ${n}; check the input for huge dynamic range`);
        }
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          if (zt) {
            const a = i * n;
            const b = a + n;
            for (let k = 0; k < n; k++) {
              const zb = zt[b + k]!;
              const za = zt[a + k]!;
              zt[b + k] = s * za + c * zb;
              zt[a + k] = c * za - s * zb;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}
