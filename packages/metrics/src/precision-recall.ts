import { MetricInputError } from './errors.js';
import type { FeatureMatrix } from './features.js';
import { requireFeatures } from './validate.js';

// Improved precision and recall (Kynkäänniemi et al. 2019). Each set's manifold is the union of
// hyperspheres around its samples, the radius of a sample being the distance to its k-th nearest
// neighbour within its own set. Precision is the fraction of generated samples inside the real
// manifold (quality); recall is the fraction of real samples inside the generated manifold
// (coverage), so a generator that collapses onto a few good samples keeps precision and loses recall.
//
// As the reference code (kynkaat/improved-precision-and-recall-metric): squared Euclidean distances
// compared with `≤` (a sample on a sphere's surface is inside); the k-th neighbour is the (k+1)-th
// smallest distance with the sample itself (distance 0) counted, so duplicates count as neighbours.
// Unlike the reference (float32, ‖a‖² − 2a·b + ‖b‖²), distances are float64 sums of squared
// differences: exactly 0 for identical rows and bitwise symmetric, so ties on a surface resolve the
// same whichever set a pair is read from.

export interface PrecisionRecallOptions {
  /** Neighbourhood size k ≥ 1 (the paper's default 3); each set needs at least k + 1 samples. */
  k?: number;
  /** Rows per distance block; memory is blockRows × (largest set) float64. Default 256 (20 MB at 10,000 samples). */
  blockRows?: number;
}

export interface PrecisionRecall {
  /** Fraction of generated samples inside at least one real sample's k-NN hypersphere. */
  precision: number;
  /** Fraction of real samples inside at least one generated sample's k-NN hypersphere. */
  recall: number;
  k: number;
  realCount: number;
  generatedCount: number;
}

const DEFAULT_K = 3;
const DEFAULT_BLOCK_ROWS = 256;

interface Rows {
  n: number;
  dim: number;
  data: Float64Array;
}

function asRows(where: string, x: FeatureMatrix): Rows {
  requireFeatures(where, x);
  return { n: x.rows, dim: x.dim, data: Float64Array.from(x.data) };
}

/**
 * out[r·b.n + j] = ‖a_(start+r) − b_j‖² for `rows` rows of a from `start`, every row of b. Two rows of
 * a against two rows of b per pass (each loaded value used twice); each entry is summed in feature
 * order, so its value does not depend on the blocking.
 */
function squaredDistances(a: Rows, start: number, rows: number, b: Rows, out: Float64Array): void {
  const d = a.dim, A = a.data, B = b.data, nb = b.n;
  let r = 0;
  for (; r + 1 < rows; r += 2) {
    const a0 = (start + r) * d, a1 = a0 + d;
    let j = 0;
    for (; j + 1 < nb; j += 2) {
      const b0 = j * d, b1 = b0 + d;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let t = 0; t < d; t++) {
        const x0 = A[a0 + t]!, x1 = A[a1 + t]!, y0 = B[b0 + t]!, y1 = B[b1 + t]!;
        const e00 = x0 - y0, e01 = x0 - y1, e10 = x1 - y0, e11 = x1 - y1;
        s00 += e00 * e00;
        s01 += e01 * e01;
        s10 += e10 * e10;
        s11 += e11 * e11;
      }
      out[r * nb + j] = s00;
      out[r * nb + j + 1] = s01;
      out[(r + 1) * nb + j] = s10;
      out[(r + 1) * nb + j + 1] = s11;
    }
    if (j < nb) {
      out[r * nb + j] = rowDistance(A, a0, B, j * d, d);
      out[(r + 1) * nb + j] = rowDistance(A, a1, B, j * d, d);
    }
  }
  if (r < rows) {
    const a0 = (start + r) * d;
    for (let j = 0; j < nb; j++) out[r * nb + j] = rowDistance(A, a0, B, j * d, d);
  }
}

function rowDistance(A: Float64Array, a: number, B: Float64Array, b: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const e = A[a + t]! - B[b + t]!;
    s += e * e;
  }
  return s;
}

function checkOptions(where: string, k: number, blockRows: number, sizes: [string, number][]): void {
  if (!Number.isInteger(k) || k < 1) throw new MetricInputError(`${where}: k must be a positive integer, got ${k}`);
  if (!Number.isInteger(blockRows) || blockRows < 1) throw new MetricInputError(`${where}: blockRows must be a positive integer, got ${blockRows}`);
  for (const [name, n] of sizes) {
    if (n < k + 1) throw new MetricInputError(`${where}: ${name} has ${n} samples; k = ${k} needs at least ${k + 1} (each sample's k-th neighbour excludes itself)`);
  }
}

/** Squared k-NN radii of every row of x within x (self counted as the 0-th neighbour). */
function squaredRadii(x: Rows, k: number, blockRows: number): Float64Array {
  const radii = new Float64Array(x.n);
  const block = new Float64Array(Math.min(blockRows, x.n) * x.n);
  const smallest = new Float64Array(k + 1); // the k + 1 smallest of a row, ascending
  for (let start = 0; start < x.n; start += blockRows) {
    const rows = Math.min(blockRows, x.n - start);
    squaredDistances(x, start, rows, x, block);
    for (let r = 0; r < rows; r++) {
      smallest.fill(Infinity);
      const row = r * x.n;
      for (let j = 0; j < x.n; j++) {
        const v = block[row + j]!;
        if (v >= smallest[k]!) continue;
        let p = k;
        while (p > 0 && smallest[p - 1]! > v) {
          smallest[p] = smallest[p - 1]!;
          p--;
        }
        smallest[p] = v;
      }
      radii[start + r] = smallest[k]!;
    }
  }
  return radii;
}

/**
 * k-NN radius of every sample: the Euclidean distance to its k-th nearest neighbour in the same set,
 * itself excluded (a duplicate of it counts as a neighbour at distance 0). Float64, batched.
 */
export function knnRadii(x: FeatureMatrix, k = DEFAULT_K, blockRows = DEFAULT_BLOCK_ROWS): Float64Array {
  const rows = asRows('knnRadii', x);
  checkOptions('knnRadii', k, blockRows, [['the set', rows.n]]);
  return squaredRadii(rows, k, blockRows).map(Math.sqrt);
}

/**
 * Improved precision and recall of `generated` against `real` feature matrices (rows = samples,
 * same width; the sets may differ in size). Float64 distances in blocks of `blockRows` rows, so
 * 10,000 × 10,000 needs tens of megabytes; the cost is (n_r² + n_g² + n_r·n_g)·dim multiply-adds.
 */
export function precisionRecall(real: FeatureMatrix, generated: FeatureMatrix, opts: PrecisionRecallOptions = {}): PrecisionRecall {
  const k = opts.k ?? DEFAULT_K;
  const blockRows = opts.blockRows ?? DEFAULT_BLOCK_ROWS;
  const r = asRows('precisionRecall (real)', real);
  const g = asRows('precisionRecall (generated)', generated);
  if (r.dim !== g.dim) {
    throw new MetricInputError(`precisionRecall: real features have width ${r.dim} but generated have ${g.dim}; extract both with the same network`);
  }
  checkOptions('precisionRecall', k, blockRows, [['the real set', r.n], ['the generated set', g.n]]);
  const realRadii = squaredRadii(r, k, blockRows); // (N_r,)
  const genRadii = squaredRadii(g, k, blockRows); // (N_g,)

  // One pass over the generated × real distances serves both directions.
  const generatedInReal = new Uint8Array(g.n);
  const realInGenerated = new Uint8Array(r.n);
  const block = new Float64Array(Math.min(blockRows, g.n) * r.n);
  for (let start = 0; start < g.n; start += blockRows) {
    const rows = Math.min(blockRows, g.n - start);
    squaredDistances(g, start, rows, r, block); // (rows, N_r)
    for (let q = 0; q < rows; q++) {
      const gi = start + q, gr = genRadii[gi]!, row = q * r.n;
      let inside = 0;
      for (let i = 0; i < r.n; i++) {
        const dist = block[row + i]!;
        if (dist <= realRadii[i]!) inside = 1;
        if (dist <= gr) realInGenerated[i] = 1;
      }
      generatedInReal[gi] = inside;
    }
  }
  const mean = (flags: Uint8Array) => flags.reduce((s, v) => s + v, 0) / flags.length;
  return { precision: mean(generatedInReal), recall: mean(realInGenerated), k, realCount: r.n, generatedCount: g.n };
}
