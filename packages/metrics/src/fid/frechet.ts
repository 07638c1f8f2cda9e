import { psdSqrtFactor, trace, traceSqrtProductFactored, type PsdSqrtFactor } from '@difflab/core-tensor';
import { MetricInputError } from '../errors.js';
import { requireGaussianStats } from '../validate.js';
import type { GaussianStats } from './moments.js';

export interface FrechetOptions {
  /**
   * Adds eps·I to both covariances inside the square root only, as pytorch-fid's fallback does
   * (its eps = 1e-6) when `scipy.linalg.sqrtm` fails on a singular product. Default 0: the
   * symmetric formulation below needs no offset for singular covariances.
   */
  eps?: number;
}

// The factorisation of a reference covariance is the expensive half of a 2048-d FID; sweeps
// compare many sample sets against one reference, so it is kept per stats object.
const factorCache = new WeakMap<Float64Array, PsdSqrtFactor>();

/**
 * Fréchet distance between Gaussians N(μ1, Σ1) and N(μ2, Σ2):
 *   ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr √(Σ1·Σ2),
 * the FID formula of Heusel et al. with pytorch-fid's conventions. The cross term is computed
 * as tr √(Σ1^½·Σ2·Σ1^½) by symmetric eigendecompositions (`traceSqrtProduct` in core-tensor),
 * equal to pytorch-fid's `trace(sqrtm(Σ1 @ Σ2)).real` in exact arithmetic (see docs/metrics.md).
 * Pass the fixed reference statistics as `a`: their factorisation is cached and reused.
 * Like the reference, the result is not clamped, so identical inputs give 0 ± round-off.
 * Means must be finite and covariances symmetric positive semi-definite within the tolerances of
 * `requireCovariance` (src/validate.ts); anything else is a MetricInputError, never a number.
 */
export function frechetDistance(a: GaussianStats, b: GaussianStats, opts: FrechetOptions = {}): number {
  const eps = opts.eps ?? 0;
  if (a.dim !== b.dim) throw new MetricInputError(`frechetDistance: dimensions differ (${a.dim} vs ${b.dim}); both statistics must come from the same feature extractor`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new MetricInputError(`frechetDistance: eps must be a finite number ≥ 0, got ${eps}`);
  requireGaussianStats('frechetDistance: a', a);
  requireGaussianStats('frechetDistance: b', b);
  const d = a.dim;
  let diff2 = 0;
  for (let i = 0; i < d; i++) diff2 += (a.mean[i]! - b.mean[i]!) ** 2;
  const s1 = eps > 0 ? addIdentity(a.cov, d, eps) : a.cov;
  const s2 = eps > 0 ? addIdentity(b.cov, d, eps) : b.cov;
  let factor = eps > 0 ? undefined : factorCache.get(a.cov);
  if (!factor) {
    factor = psdSqrtFactor(s1, d);
    if (eps === 0) factorCache.set(a.cov, factor);
  }
  return diff2 + trace(a.cov, d) + trace(b.cov, d) - 2 * traceSqrtProductFactored(factor, s2);
}

function addIdentity(s: Float64Array, d: number, eps: number): Float64Array {
  const out = Float64Array.from(s);
  for (let i = 0; i < d; i++) out[i * d + i] = out[i * d + i]! + eps;
  return out;
}
