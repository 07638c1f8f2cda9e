/**
 * Hilbert–Schmidt independence criteria of two m×m kernel matrices (row-major), as defined in
 * the Platonic Representation Hypothesis reference code (`metrics.py`).
 */

/** Biased HSIC tr(K·H·L·H), H = I − 11ᵀ/m (the original CKA's; no 1/(m−1)² factor, which cancels in CKA). */
export function hsicBiased(k: Float64Array, l: Float64Array, m: number): number {
  // tr(K·H·L·H) = Σ_ij (HKH)_ij·L_ji; HKH subtracts row and column means and adds the grand mean.
  const rowMean = new Float64Array(m);
  const colMean = new Float64Array(m);
  let grand = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const v = k[i * m + j]!;
      rowMean[i] += v / m;
      colMean[j] += v / m;
      grand += v / (m * m);
    }
  }
  let t = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) t += (k[i * m + j]! - rowMean[i]! - colMean[j]! + grand) * l[j * m + i]!;
  return t;
}

/**
 * Unbiased HSIC of Song et al. (2012, eq. 5) with K̃, L̃ = K, L with zeroed diagonals:
 *   [tr(K̃·L̃) + 1ᵀK̃1·1ᵀL̃1/((m−1)(m−2)) − 2·1ᵀK̃L̃1/(m−2)] / (m(m−3)).
 * The first term is written Σ K̃ ∘ L̃ᵀ and the last 1ᵀK̃L̃1, exactly as the reference does, which
 * matters for CKNNA's non-symmetric masked kernels.
 */
export function hsicUnbiased(k: Float64Array, l: Float64Array, m: number): number {
  let kl = 0;
  let sumK = 0;
  let sumL = 0;
  const colK = new Float64Array(m);
  const rowL = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i === j) continue;
      const kij = k[i * m + j]!;
      const lij = l[i * m + j]!;
      kl += kij * l[j * m + i]!;
      sumK += kij;
      sumL += lij;
      colK[j] += kij;
      rowL[i] += lij;
    }
  }
  let kll = 0;
  for (let t = 0; t < m; t++) kll += colK[t]! * rowL[t]!;
  return (kl + (sumK * sumL) / ((m - 1) * (m - 2)) - (2 * kll) / (m - 2)) / (m * (m - 3));
}
