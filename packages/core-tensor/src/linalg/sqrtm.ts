import { LinalgError } from './errors.js';
import { eighRows, eigvalsh } from './eigh.js';
import { matmulTransB, symmetricPart, transpose } from './matrix.js';

/**
 * Eigenvalues within the backward error of `eigh` (n·ε·max|λ|, NumPy's `matrix_rank` tolerance)
 * are indistinguishable from 0, and √ turns an O(ε) error into an O(√ε) one, so they count as 0.
 * Negative ones are round-off on a PSD input and count as 0 too.
 */
function psdEigenvalueFloor(values: Float64Array, n: number): number {
  let big = 0;
  for (const v of values) big = Math.max(big, Math.abs(v));
  return n * 2 ** -52 * big;
}

/**
 * Principal square root of a symmetric positive semi-definite matrix, V·diag(√λ)·Vᵀ, via `eigh`,
 * with eigenvalues below `psdEigenvalueFloor` taken as 0 (the root of the nearest PSD matrix).
 * Unlike Schur-based `scipy.linalg.sqrtm` this never returns complex or non-finite entries for
 * singular input.
 */
export function sqrtmPsd(a: ArrayLike<number>, n: number): Float64Array {
  const { values, rows } = eighRows(a, n);
  // √A = Bᵀ·B with B = diag(λ^¼)·Vᵀ, which is symmetric by construction.
  const b = rows;
  const floor = psdEigenvalueFloor(values, n);
  for (let i = 0; i < n; i++) {
    const q = values[i]! > floor ? Math.sqrt(Math.sqrt(values[i]!)) : 0;
    for (let k = 0; k < n; k++) b[i * n + k] = b[i * n + k]! * q;
  }
  const bt = transpose(b, n, n);
  return matmulTransB(bt, bt, n, n, n, { symmetric: true });
}

/** S = Bᵀ·B with B (rank×n) = diag(√λ)·Vᵀ over the eigenvalues λ of S above `psdEigenvalueFloor`. */
export interface PsdSqrtFactor {
  n: number;
  rank: number;
  b: Float64Array;
}

/** Factors a PSD matrix once so several `traceSqrtProductFactored` calls can reuse it. */
export function psdSqrtFactor(s: ArrayLike<number>, n: number): PsdSqrtFactor {
  const { values, rows } = eighRows(s, n);
  const floor = psdEigenvalueFloor(values, n);
  const kept: number[] = [];
  for (let i = 0; i < n; i++) if (values[i]! > floor) kept.push(i);
  const b = new Float64Array(kept.length * n);
  kept.forEach((src, dst) => {
    const q = Math.sqrt(values[src]!);
    for (let k = 0; k < n; k++) b[dst * n + k] = q * rows[src * n + k]!;
  });
  return { n, rank: kept.length, b };
}

/**
 * tr √(S1·S2) for PSD S1, S2 — the cross term of the Fréchet distance between Gaussians.
 *
 * S1·S2 is similar to the PSD matrix S1^½·S2·S1^½ (exactly so when S1 is invertible, and by
 * continuity otherwise), so its eigenvalues μ are real and ≥ 0 and tr √(S1·S2) = Σ √μ. We take μ
 * from the rank×rank matrix B·S2·Bᵀ (same non-zero spectrum as S1^½·S2·S1^½, since S1 = BᵀB),
 * with μ below `psdEigenvalueFloor` taken as 0. This is the quantity pytorch-fid computes as
 * `trace(scipy.linalg.sqrtm(S1 @ S2)).real`, without the complex detour.
 */
export function traceSqrtProduct(s1: ArrayLike<number>, s2: ArrayLike<number>, n: number): number {
  return traceSqrtProductFactored(psdSqrtFactor(s1, n), s2);
}

export function traceSqrtProductFactored(f: PsdSqrtFactor, s2: ArrayLike<number>): number {
  const { n, rank, b } = f;
  const sym = symmetricPart('traceSqrtProduct: S2', s2, n);
  if (rank === 0) return 0;
  // X = B·S2 = B·S2ᵀ (S2 symmetric); M = X·Bᵀ, filled from its upper triangle so it is exactly symmetric.
  const x = matmulTransB(b, sym, rank, n, n);
  const m = matmulTransB(x, b, rank, rank, n, { symmetric: true });
  const mus = eigvalsh(m, rank);
  const floor = psdEigenvalueFloor(mus, rank);
  let t = 0;
  for (const mu of mus) if (mu > floor) t += Math.sqrt(mu);
  if (!Number.isFinite(t)) throw new LinalgError('traceSqrtProduct: result is not finite; check the inputs for overflow');
  return t;
}
