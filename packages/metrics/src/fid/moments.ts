import { matmulTransB } from '@difflab/core-tensor';
import { MetricInputError } from '../errors.js';
import { markPositiveSemidefinite, requireFinite } from '../validate.js';

/** Mean and covariance of a feature distribution, in float64 (what pytorch-fid saves as mu, sigma). */
export interface GaussianStats {
  dim: number;
  mean: Float64Array;
  /** Row-major dim×dim, unbiased (divides by count − 1, like `np.cov`). */
  cov: Float64Array;
  /** Number of samples behind the estimate; unknown for statistics made elsewhere. */
  count?: number;
}

/**
 * Streaming mean and covariance of feature rows in float64, the same up to round-off however the
 * rows are batched: each batch's own mean and centred scatter are merged with Chan et al.'s
 * pairwise update, so 50k×2048 features never sit in memory together and no E[xxᵀ] − μμᵀ
 * cancellation occurs.
 */
export class StreamingMoments {
  readonly dim: number;
  private n = 0;
  private readonly mean: Float64Array;
  /** Σ (x − mean)(x − mean)ᵀ, kept exactly symmetric. */
  private readonly scatter: Float64Array;

  constructor(dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new MetricInputError(`StreamingMoments: dim must be a positive integer, got ${dim}`);
    this.dim = dim;
    this.mean = new Float64Array(dim);
    this.scatter = new Float64Array(dim * dim);
  }

  get count(): number {
    return this.n;
  }

  /** Adds `rows` feature vectors stored row-major in `data` (rows × dim). */
  update(data: ArrayLike<number>, rows: number): void {
    const d = this.dim;
    if (!Number.isInteger(rows) || rows < 0 || data.length !== rows * d) {
      throw new MetricInputError(`StreamingMoments.update: expected ${rows}×${d} = ${rows * d} values, got ${data.length}; features must be ${d}-dimensional`);
    }
    if (rows === 0) return;
    requireFinite('StreamingMoments.update: features', data, d);
    const bm = new Float64Array(d);
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) bm[j] += data[r * d + j]!;
    for (let j = 0; j < d; j++) bm[j] = bm[j]! / rows;
    // Centred batch, transposed (dim × rows) so each scatter entry is a contiguous dot product.
    const ct = new Float64Array(d * rows);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) {
        ct[j * rows + r] = data[r * d + j]! - bm[j]!;
      }
    }
    const s = this.scatter;
    matmulTransB(ct, ct, d, d, rows, { symmetric: true, out: s });
    // Merge (n, mean, S) with (rows, bm, Sb): S += Sb + δδᵀ·n·rows/(n + rows).
    const total = this.n + rows;
    const w = (this.n * rows) / total;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = bm[j]! - this.mean[j]!;
    if (this.n > 0) {
      for (let i = 0; i < d; i++) {
        const wi = w * delta[i]!;
        for (let j = i; j < d; j++) s[i * d + j] = s[j * d + i] = s[i * d + j]! + wi * delta[j]!;
      }
    }
    for (let j = 0; j < d; j++) this.mean[j] = this.mean[j]! + (delta[j]! * rows) / total;
    this.n = total;
  }

  /** Mean and unbiased covariance of everything added so far. */
  stats(): GaussianStats {
    const d = this.dim;
    if (this.n < 2) throw new MetricInputError(`StreamingMoments.stats: need at least 2 samples for a covariance, have ${this.n}`);
    const f = 1 / (this.n - 1);
    const cov = this.scatter.map((v) => v * f);
    // A scatter matrix is a Gram matrix: PSD by construction, so FID need not test its eigenvalues.
    markPositiveSemidefinite(cov);
    return { dim: d, mean: Float64Array.from(this.mean), cov, count: this.n };
  }
}

/** Statistics of one in-memory feature matrix (rows × dim). */
export function gaussianStats(data: ArrayLike<number>, rows: number, dim: number): GaussianStats {
  const m = new StreamingMoments(dim);
  m.update(data, rows);
  return m.stats();
}
