import { MetricInputError } from '../errors.js';
import { gram, type FeatureMatrix } from '../features.js';
import { requireFeatures, requireNeighbours, requirePositiveNumber, requireRows } from '../validate.js';
import { hsicBiased, hsicUnbiased } from './hsic.js';

/** The reference's guard against division by zero; kept so values match it to float tolerance. */
const DENOMINATOR_EPS = 1e-6;

export interface CkaOptions {
  /** 'linear' is the reference's 'ip' (K = X·Xᵀ); 'rbf' is exp(−‖xi − xj‖²/(2σ²)). Default 'linear'. */
  kernel?: 'linear' | 'rbf';
  /** σ of the RBF kernel (reference default 1). */
  rbfSigma?: number;
  /** Unbiased HSIC (Song et al.) instead of the biased tr(KHLH). Default false. */
  unbiased?: boolean;
}

/** Two representations of the same inputs: finite, the same number of rows, at least `minRows` (`why` says what needs them). */
export function checkPair(where: string, a: FeatureMatrix, b: FeatureMatrix, minRows: number, why: string): void {
  requireFeatures(`${where}: a`, a, 0);
  requireFeatures(`${where}: b`, b, 0);
  if (a.rows !== b.rows) throw new MetricInputError(`${where}: a has ${a.rows} samples and b ${b.rows}; both must describe the same inputs in the same order`);
  requireRows(`${where}: a`, a.rows, minRows, why);
}

/**
 * Centered kernel alignment HSIC(K,L)/(√(HSIC(K,K)·HSIC(L,L)) + 1e-6) between two feature sets
 * of the same n inputs (AlignmentMetrics.cka / unbiased_cka in the reference).
 */
export function cka(a: FeatureMatrix, b: FeatureMatrix, opts: CkaOptions = {}): number {
  const unbiased = opts.unbiased ?? false;
  checkPair('cka', a, b, unbiased ? 4 : 2, unbiased ? 'CKA with unbiased HSIC' : 'CKA');
  const kernel = opts.kernel ?? 'linear';
  const sigma = opts.rbfSigma ?? 1;
  if (kernel === 'rbf') requirePositiveNumber('cka: rbfSigma', sigma);
  const kmat = (x: FeatureMatrix) => (kernel === 'linear' ? gram(x) : rbfKernel(x, sigma));
  const k = kmat(a);
  const l = kmat(b);
  const hsic = unbiased ? hsicUnbiased : hsicBiased;
  const n = a.rows;
  return hsic(k, l, n) / (Math.sqrt(hsic(k, k, n) * hsic(l, l, n)) + DENOMINATOR_EPS);
}

function rbfKernel(x: FeatureMatrix, sigma: number): Float64Array {
  const { rows: n, dim: d, data } = x;
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let d2 = 0;
      for (let t = 0; t < d; t++) d2 += (data[i * d + t]! - data[j * d + t]!) ** 2;
      k[i * n + j] = k[j * n + i] = Math.exp(-d2 / (2 * sigma * sigma));
    }
  }
  return k;
}

export interface CknnaOptions {
  /** Neighbours per sample, 2 ≤ topk ≤ n − 1 (the paper uses 10). */
  topk: number;
  /** Unbiased HSIC and self excluded from the neighbours (reference default true). */
  unbiased?: boolean;
}

/**
 * CKNNA (Huh et al. 2024): CKA restricted to pairs that are mutual top-k neighbours under both
 * linear kernels. With mask_ij = [j ∈ topk_K(i)]·[j ∈ topk_L(i)] it is
 *   HSIC(mask∘K, mask∘L)/(√(HSIC(mask_K∘K, mask_K∘K)·HSIC(mask_L∘L, mask_L∘L)) + 1e-6),
 * following the reference `cknna` exactly (ties between equal kernel values go to the lower index).
 * With topk = n − 1 and unbiased HSIC it equals unbiased linear CKA.
 */
export function cknna(a: FeatureMatrix, b: FeatureMatrix, opts: CknnaOptions): number {
  const unbiased = opts.unbiased ?? true;
  checkPair('cknna', a, b, unbiased ? 4 : 3, unbiased ? 'CKNNA with unbiased HSIC' : 'CKNNA (k ≥ 2 neighbours)');
  const n = a.rows;
  const { topk } = opts;
  requireNeighbours('cknna: topk', topk, n, 2);
  const k = gram(a);
  const l = gram(b);
  const maskK = topkMask(k, n, topk, unbiased);
  const maskL = topkMask(l, n, topk, unbiased);
  const hsic = unbiased ? hsicUnbiased : hsicBiased;
  const similarity = (mask: Uint8Array, x: Float64Array, y: Float64Array) => {
    const mx = x.map((v, i) => mask[i]! * v);
    const my = y.map((v, i) => mask[i]! * v);
    return hsic(mx, my, n);
  };
  const both = maskK.map((v, i) => v & maskL[i]!);
  return similarity(both, k, l) / (Math.sqrt(similarity(maskK, k, k) * similarity(maskL, l, l)) + DENOMINATOR_EPS);
}

/** Row-wise top-k of a kernel matrix as a 0/1 mask; `excludeSelf` drops the diagonal first (the reference's −inf fill). */
export function topkMask(k: Float64Array, n: number, topk: number, excludeSelf: boolean): Uint8Array {
  const mask = new Uint8Array(n * n);
  const idx = Array.from({ length: n }, (_, j) => j);
  for (let i = 0; i < n; i++) {
    const row = i * n;
    const candidates = excludeSelf ? idx.filter((j) => j !== i) : idx.slice();
    candidates.sort((p, q) => k[row + q]! - k[row + p]! || p - q);
    for (let t = 0; t < topk; t++) mask[row + candidates[t]!] = 1;
  }
  return mask;
}
