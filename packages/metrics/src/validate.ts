import { eigvalsh } from '@difflab/core-tensor';
import { MetricInputError } from './errors.js';
import type { FeatureMatrix } from './features.js';
import type { GaussianStats } from './fid/moments.js';

/**
 * The input checks of every metric, in one place. Each check takes the name of the input as the
 * caller's user knows it — a parameter (`frechetDistance: b: cov`), a file and array
 * (`stats.npz: 'sigma'`) or a flag (`--a x.npy`) — and its error starts with that name and ends
 * with the fix. Library functions call these at their boundary with parameter names; commands
 * call them first with file and flag names, so the user reads the name they typed.
 */

/** Largest |Σ_ij − Σ_ji| accepted, relative to the largest |Σ_ij|: the same bound as core-tensor's `eigh`. */
export const SYMMETRY_TOLERANCE = 1e-8;

/**
 * Smallest eigenvalue accepted for a covariance, as a fraction of the largest |eigenvalue|: λ_min ≥
 * −PSD_TOLERANCE·λ_max. Round-off leaves PSD covariances with slightly negative eigenvalues
 * (measured, rank-deficient N < D: −1e-15 relative in float64, −4e-12 once rounded to float32, at
 * D = 2048), and a covariance accumulated in float32 by another tool can be off by ~√N·2⁻²⁴ per
 * entry; 1e-4 leaves a wide margin for all of these, while −I, a precision matrix or a difference
 * of covariances fails it by orders of magnitude.
 */
export const PSD_TOLERANCE = 1e-4;

/** Training rows a linear probe needs of every class it is scored on. */
export const MIN_TRAIN_ROWS_PER_CLASS = 2;

const DEFAULT_FINITE_FIX = 'remove or replace the NaN/Inf values (e.g. np.nan_to_num, or drop those rows) before computing metrics';

/** Index of the first NaN/±Inf in `values`, or −1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** Where index `i` of a row-major array with `cols` columns sits, as a message names it. */
function position(i: number, cols: number | undefined): string {
  return cols === undefined || cols < 1 ? `index ${i}` : `row ${Math.floor(i / cols)}, column ${i % cols}`;
}

/** Every value is finite; the error names the input and the first bad index (row and column when `cols` is given). */
export function requireFinite(input: string, values: ArrayLike<number>, cols?: number, fix = DEFAULT_FINITE_FIX): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new MetricInputError(`${input}: value at ${position(i, cols)} is ${values[i]}; ${fix}`);
}

/** A well-formed rows×dim matrix of finite values with at least `minRows` rows (`why` says what needs them). */
export function requireFeatures(input: string, x: FeatureMatrix, minRows = 1, why = 'this metric'): void {
  if (!Number.isInteger(x.rows) || !Number.isInteger(x.dim) || x.rows < 0 || x.dim < 1 || x.data.length !== x.rows * x.dim) {
    throw new MetricInputError(`${input}: features claim ${x.rows}×${x.dim} but hold ${x.data.length} values; pass rows × dim values, row-major`);
  }
  requireRows(input, x.rows, minRows, why);
  requireFinite(input, x.data, x.dim);
}

/** At least `minRows` rows (samples). */
export function requireRows(input: string, rows: number, minRows: number, why: string): void {
  if (rows < minRows) {
    throw new MetricInputError(`${input}: has ${rows} row${rows === 1 ? '' : 's'}; ${why} needs at least ${minRows} — give more samples`);
  }
}

/** Two feature sets of one width (one extractor's layer). */
export function requireSameWidth(inputA: string, a: { dim: number }, inputB: string, b: { dim: number }, why: string): void {
  if (a.dim !== b.dim) throw new MetricInputError(`${inputA} has ${a.dim} features per row and ${inputB} ${b.dim}; ${why}`);
}

/** A positive integer such as an iteration count or a batch size. */
export function requirePositiveInteger(input: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw new MetricInputError(`${input} must be a positive integer, got ${value}`);
}

/** A finite number > 0 such as a tolerance or a regularisation strength. */
export function requirePositiveNumber(input: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new MetricInputError(`${input} must be a finite number > 0, got ${value}`);
}

/** A neighbourhood size k for `rows` samples: k ∈ [minK, rows − 1] (a sample is not its own neighbour). */
export function requireNeighbours(input: string, k: number, rows: number, minK: number): void {
  if (!Number.isInteger(k) || k < minK || k > rows - 1) {
    const fix = k > rows - 1 ? ' — k is at most rows − 1 (a sample is not its own neighbour): lower it or give more rows' : '';
    throw new MetricInputError(`${input} must be an integer in [${minK}, ${rows - 1}] for ${rows} samples, got ${k}${fix}`);
  }
}

// Covariances already checked (or built as Gram matrices, PSD by construction): the eigenvalue test
// costs an O(d³) eigendecomposition, which a sweep against one reference should pay once.
const knownPsd = new WeakSet<object>();

/** Records that `cov` is a covariance by construction (a scatter matrix), so `requireCovariance` skips its eigenvalues. */
export function markPositiveSemidefinite(cov: Float64Array): void {
  knownPsd.add(cov);
}

/**
 * A dim×dim covariance: finite, symmetric within SYMMETRY_TOLERANCE, positive semi-definite
 * within PSD_TOLERANCE (smallest eigenvalue of the float64 `eigvalsh` ≥ −PSD_TOLERANCE·largest).
 */
export function requireCovariance(input: string, cov: ArrayLike<number>, dim: number): void {
  if (cov.length !== dim * dim) throw new MetricInputError(`${input}: has ${cov.length} entries, a ${dim}×${dim} covariance has ${dim * dim}; check that mean and covariance come from the same features`);
  requireFinite(input, cov, dim, 'a covariance must be finite — recompute it from finite features');
  let maxAbs = 0;
  let maxAsym = 0;
  let at = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      maxAbs = Math.max(maxAbs, Math.abs(cov[i * dim + j]!));
      const asym = Math.abs(cov[i * dim + j]! - cov[j * dim + i]!);
      if (asym > maxAsym) [maxAsym, at] = [asym, i * dim + j];
    }
  }
  if (maxAsym > SYMMETRY_TOLERANCE * maxAbs) {
    const [i, j] = [Math.floor(at / dim), at % dim];
    throw new MetricInputError(
      `${input}: not symmetric — entry (${i}, ${j}) is ${cov[i * dim + j]} but (${j}, ${i}) is ${cov[j * dim + i]} (tolerance ${SYMMETRY_TOLERANCE} × largest entry); a covariance is symmetric — check that this array is the covariance (np.cov), stored row-major`,
    );
  }
  if (typeof cov === 'object' && knownPsd.has(cov as object)) return;
  const values = eigvalsh(cov, dim);
  let largest = 0;
  for (const v of values) largest = Math.max(largest, Math.abs(v));
  const smallest = values[0] ?? 0;
  if (smallest < -PSD_TOLERANCE * largest) {
    throw new MetricInputError(
      `${input}: not positive semi-definite — smallest eigenvalue ${smallest.toPrecision(4)}, largest |eigenvalue| ${largest.toPrecision(4)} (a covariance has none below −${PSD_TOLERANCE} × largest); check that this array is a covariance (np.cov of the features), not a precision matrix or a difference`,
    );
  }
  knownPsd.add(cov as object);
}

/** Mean and covariance that describe one Gaussian: sizes agree, values finite, covariance symmetric PSD. */
export function requireGaussianStats(input: string, s: GaussianStats, names = { mean: 'mean', cov: 'cov' }): void {
  if (!Number.isInteger(s.dim) || s.dim < 1) throw new MetricInputError(`${input}: dim must be a positive integer, got ${s.dim}`);
  if (s.mean.length !== s.dim) throw new MetricInputError(`${input}: ${names.mean} has ${s.mean.length} entries, expected ${s.dim}; check that mean and covariance come from the same features`);
  requireFinite(`${input}: ${names.mean}`, s.mean, undefined, 'recompute the statistics from finite features');
  requireCovariance(`${input}: ${names.cov}`, s.cov, s.dim);
}

/** Labels of one split, named as the user knows them. */
export interface NamedLabels {
  input: string;
  labels: ArrayLike<number>;
}

/**
 * `rows` labels, each an integer in [0, numClasses) — or, when the number of classes is inferred
 * from the labels (numClasses undefined), each an integer ≥ 0.
 */
export function requireLabels(input: string, labels: ArrayLike<number>, rows: number, numClasses?: number): void {
  if (labels.length !== rows) throw new MetricInputError(`${input}: ${labels.length} labels for ${rows} feature rows; give one label per row, in the same order`);
  const limit = numClasses ?? Number.MAX_SAFE_INTEGER;
  for (let i = 0; i < rows; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= limit) {
      const expected = numClasses === undefined ? 'a class index (an integer ≥ 0)' : `an integer in [0, ${numClasses}) — labels must be class indices 0..${numClasses - 1}`;
      throw new MetricInputError(`${input}: label ${i} is ${y}, expected ${expected}`);
    }
  }
}

/** The number of classes labels imply: the largest label + 1 (labels already checked by `requireLabels`). */
export function inferredClassCount(...labelSets: ArrayLike<number>[]): number {
  let max = -1;
  for (const labels of labelSets) for (let i = 0; i < labels.length; i++) max = Math.max(max, labels[i]!);
  return max + 1;
}

/** How many labels of each class (a map, so a stray huge label allocates nothing). */
function classCounts(labels: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
  return counts;
}

/** A classifier's number of classes: an integer ≥ 2. */
export function requireClassCount(input: string, numClasses: number): void {
  if (!Number.isInteger(numClasses) || numClasses < 2) throw new MetricInputError(`${input} must be an integer ≥ 2 (a classifier needs two classes), got ${numClasses}`);
}

/** Training labels of at least 2 classes (scikit-learn's rule for a classifier); returns the count per class. */
export function requireTwoClasses(input: string, labels: ArrayLike<number>): Map<number, number> {
  const counts = classCounts(labels);
  if (counts.size < 2) {
    const n = labels.length;
    const only = counts.size === 1 ? `, all of class ${[...counts.keys()][0]}` : '';
    throw new MetricInputError(
      `${input}: ${n} training row${n === 1 ? '' : 's'}${only}; a classifier needs rows of at least 2 classes (a probe: at least ${MIN_TRAIN_ROWS_PER_CLASS} rows of each) — add training rows of other classes`,
    );
  }
  return counts;
}

export interface ProbeLabelOptions {
  /**
   * Every class in [0, numClasses) must have training rows, not only those that occur: set when
   * numClasses was inferred from the labels, so a gap (1-based or sparse class ids) is reported
   * instead of fitted.
   */
  everyClass?: boolean;
}

/**
 * Labels a probe can learn from: at least 2 classes in training, and at least
 * MIN_TRAIN_ROWS_PER_CLASS training rows of every class that occurs in any split (or, with
 * `everyClass`, of every class in [0, numClasses)). Labels are assumed in range (`requireLabels`).
 */
export function requireProbeClasses(train: NamedLabels, others: NamedLabels[], numClasses: number, opts: ProbeLabelOptions = {}): void {
  const counts = requireTwoClasses(train.input, train.labels);
  const fix = `every class needs at least ${MIN_TRAIN_ROWS_PER_CLASS} training rows — add training rows`;
  const check = (c: number, why: string) => {
    const n = counts.get(c) ?? 0;
    if (n >= MIN_TRAIN_ROWS_PER_CLASS) return;
    const gap = opts.everyClass && n === 0 ? '; class ids must be 0..K−1 without gaps (subtract 1 from 1-based labels, or renumber sparse ids)' : '';
    throw new MetricInputError(`${train.input}: class ${c} has ${n} training row${n === 1 ? '' : 's'} (${why}); ${fix} of class ${c}${gap}`);
  };
  // Stops at the first short class, so even a label of 1e9 costs at most one pass over the training classes.
  if (opts.everyClass) for (let c = 0; c < numClasses; c++) check(c, `labels run 0..${numClasses - 1}`);
  for (const c of counts.keys()) check(c, 'it occurs in training');
  for (const o of others) for (const c of classCounts(o.labels).keys()) check(c, `it occurs in ${o.input}`);
}
