import { LinalgError, eigh, matmulTransB, transpose } from '@difflab/core-tensor';

// Thin singular value decomposition of a small dense matrix in float64 (SVDiff's one-off SVD of each
// weight, ≤ 1536 × 6144 for our models). Two steps, both from @difflab/core-tensor's linalg plus a
// Jacobi sweep here:
//  1. preconditioning: V₀ from the symmetric eigendecomposition of the Gram matrix AᵀA (LAPACK dsyevd
//     through the native addon, or the JS tred2/tql2), so the columns of B = A·V₀ are orthogonal up to
//     about ε·σ_max²/(σ_i·σ_j) — far from orthogonal only for tiny singular values;
//  2. one-sided (Hestenes) Jacobi on B, rotating column pairs until every pair is orthogonal to
//     relative precision m·ε (checked on BᵀB, one BLAS product where native), V accumulating the
//     same rotations. This restores orthogonality of the left vectors where the Gram matrix squared
//     the conditioning (the singular values are accurate to a small multiple of ε·σ_max, as any
//     backward-stable SVD's). After step 1 a weight usually passes the check at once or after one sweep.
// Then σ_i = ‖b_i‖, u_i = b_i/σ_i; left vectors of exactly zero singular values (e.g. a zero-initialised
// weight) are completed to an orthonormal set by Gram–Schmidt on unit vectors.

/** A = U·diag(s)·Vᵀ for A rows × cols, k = min(rows, cols). */
export interface ThinSvd {
  rows: number;
  cols: number;
  k: number;
  /** rows × k, row-major: column i is the left singular vector u_i (A·v_i = s_i·u_i). */
  u: Float64Array;
  /** The k singular values, descending, ≥ 0. */
  s: Float64Array;
  /** cols × k, row-major: column i is the right singular vector v_i (Aᵀ·u_i = s_i·v_i). */
  v: Float64Array;
}

const EPS = 2 ** -52;
const MAX_SWEEPS = 40;

/**
 * Thin SVD of the row-major float64 matrix `a` (rows × cols). U and V have orthonormal columns to
 * about max(rows, cols)·ε; ‖U·diag(s)·Vᵀ − A‖ is a small multiple of ε·‖A‖. The sign of each pair
 * (u_i, v_i), and the basis inside a repeated singular value's subspace, are arbitrary.
 */
export function thinSvd(a: ArrayLike<number>, rows: number, cols: number): ThinSvd {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows <= 0 || cols <= 0 || a.length !== rows * cols) {
    throw new LinalgError(`thinSvd: expected a ${rows}×${cols} matrix (${rows * cols} entries, both sizes ≥ 1), got ${a.length} entries`);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new LinalgError(`thinSvd: entry ${Math.floor(i / cols)},${i % cols} is ${a[i]}; remove NaN/Inf first`);
  }
  // Work on the tall orientation A (m × n, m ≥ n): A = a, or aᵀ when a is wide.
  const tall = rows >= cols;
  const m = tall ? rows : cols;
  const n = tall ? cols : rows;
  const given = Float64Array.from(a);
  const A = tall ? given : transpose(given, rows, cols); // m × n
  const At = tall ? transpose(given, rows, cols) : given; // n × m

  // 1. V₀ from eigh(AᵀA); bt = V₀ᵀ·Aᵀ holds the columns of B = A·V₀ as rows (n × m), vt holds V's columns as rows.
  const gram = matmulTransB(At, At, n, n, m, { symmetric: true });
  const vt = transpose(eigh(gram, n).vectors, n, n);
  const bt = matmulTransB(vt, A, n, m, n);

  // 2. One-sided Jacobi on the rows of bt.
  const tol = m * EPS;
  const norm2 = new Float64Array(n);
  const rowNorm2 = (x: Float64Array, i: number, len: number): number => {
    let s = 0;
    for (let r = i * len, e = r + len; r < e; r++) s += x[r]! * x[r]!;
    return s;
  };
  /** Whether every pair of rows of bt is orthogonal to tol, from their Gram matrix (one BLAS call where native). */
  const orthogonal = (): boolean => {
    const c = matmulTransB(bt, bt, n, n, m, { symmetric: true });
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        if (Math.abs(c[i * n + j]!) > tol * Math.sqrt(c[i * n + i]! * c[j * n + j]!)) return false;
      }
    }
    return true;
  };
  let converged = orthogonal();
  for (let sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
    let rotated = false;
    for (let i = 0; i < n; i++) norm2[i] = rowNorm2(bt, i, m);
    for (let i = 0; i < n - 1; i++) {
      for (let j = i + 1; j < n; j++) {
        const alpha = norm2[i]!;
        const beta = norm2[j]!;
        if (alpha === 0 || beta === 0) continue;
        const bi = i * m;
        const bj = j * m;
        let gamma = 0;
        for (let r = 0; r < m; r++) gamma += bt[bi + r]! * bt[bj + r]!;
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // Rotation (c, s) that makes columns i and j orthogonal: t = tan θ, the root of t² + 2ζt − 1 = 0 of smaller magnitude.
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let r = 0; r < m; r++) {
          const x = bt[bi + r]!;
          const y = bt[bj + r]!;
          bt[bi + r] = c * x - s * y;
          bt[bj + r] = s * x + c * y;
        }
        const vi = i * n;
        const vj = j * n;
        for (let r = 0; r < n; r++) {
          const x = vt[vi + r]!;
          const y = vt[vj + r]!;
          vt[vi + r] = c * x - s * y;
          vt[vj + r] = s * x + c * y;
        }
        norm2[i] = alpha - t * gamma;
        norm2[j] = beta + t * gamma;
      }
    }
    // A sweep that rotates nothing has found every pair orthogonal by its own dot products: done. The Gram
    // check alone can disagree with them by a rounding (another summation order, e.g. OpenBLAS on one
    // thread) and would then never pass while no pair is rotated any more.
    converged = !rotated || orthogonal();
  }
  if (!converged) throw new LinalgError(`thinSvd: one-sided Jacobi did not converge in ${MAX_SWEEPS} sweeps for a ${rows}×${cols} matrix`);

  // σ_i = ‖b_i‖, descending; left vectors u_i = b_i/σ_i (rows of ut, k × m).
  const sigma = Array.from({ length: n }, (_, i) => Math.sqrt(rowNorm2(bt, i, m)));
  const order = Array.from(sigma.keys()).sort((i, j) => sigma[j]! - sigma[i]! || i - j);
  const k = n;
  const s = new Float64Array(k);
  const ut = new Float64Array(k * m);
  const vSorted = new Float64Array(k * n);
  const missing: number[] = [];
  order.forEach((src, dst) => {
    s[dst] = sigma[src]!;
    vSorted.set(vt.subarray(src * n, src * n + n), dst * n);
    if (sigma[src]! > 1e-300) {
      const inv = 1 / sigma[src]!;
      for (let r = 0; r < m; r++) ut[dst * m + r] = bt[src * m + r]! * inv;
    } else {
      s[dst] = 0;
      missing.push(dst);
    }
  });
  completeOrthonormal(ut, k, m, missing);

  // Back to the caller's orientation: a = U·Σ·Vᵀ with U rows × k, V cols × k.
  const leftOfA = transpose(ut, k, m); // m × k
  const rightOfA = transpose(vSorted, k, n); // n × k
  return tall ? { rows, cols, k, u: leftOfA, s, v: rightOfA } : { rows, cols, k, u: rightOfA, s, v: leftOfA };
}

/** Fills rows `missing` of q (k × m, the other rows orthonormal) with unit vectors orthogonal to every other row. */
function completeOrthonormal(q: Float64Array, k: number, m: number, missing: number[]): void {
  if (missing.length === 0) return;
  const pending = new Set(missing);
  const candidate = new Float64Array(m);
  let e = 0;
  for (const row of missing) {
    for (;; e++) {
      if (e >= m) throw new LinalgError('thinSvd: could not complete the left singular vectors (internal error)');
      candidate.fill(0);
      candidate[e] = 1;
      // Two passes of modified Gram–Schmidt against every row already set ("twice is enough").
      for (let pass = 0; pass < 2; pass++) {
        for (let o = 0; o < k; o++) {
          if (pending.has(o)) continue;
          let dot = 0;
          for (let r = 0; r < m; r++) dot += q[o * m + r]! * candidate[r]!;
          for (let r = 0; r < m; r++) candidate[r] = candidate[r]! - dot * q[o * m + r]!;
        }
      }
      let nrm = 0;
      for (let r = 0; r < m; r++) nrm += candidate[r]! * candidate[r]!;
      nrm = Math.sqrt(nrm);
      if (nrm > 0.5) {
        for (let r = 0; r < m; r++) q[row * m + r] = candidate[r]! / nrm;
        pending.delete(row);
        e++;
        break;
      }
    }
  }
}
