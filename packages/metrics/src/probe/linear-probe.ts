import { MetricInputError } from '../errors.js';
import type { FeatureMatrix } from '../features.js';
import { requireClassCount, requireFeatures, requireLabels, requirePositiveInteger, requirePositiveNumber, requireProbeClasses, requireSameWidth } from '../validate.js';
import { accuracy, fitLogisticRegression, predict, type LogisticModel } from './logistic.js';

/** Labelled features of one split. */
export interface ProbeSplit {
  features: FeatureMatrix;
  labels: ArrayLike<number>;
}

export interface LinearProbeOptions {
  numClasses: number;
  /** scikit-learn C values to sweep (inverse L2 strength); the best on validation is kept. */
  cGrid?: number[];
  maxIter?: number;
  tol?: number;
}

export interface LinearProbeResult {
  bestC: number;
  /** Validation top-1 per C, in sweep order. */
  sweep: { c: number; valAccuracy: number; iterations: number; converged: boolean }[];
  valAccuracy: number;
  testAccuracy: number;
  model: LogisticModel;
  standardizer: Standardizer;
}

export const DEFAULT_C_GRID = [1e-3, 1e-2, 1e-1, 1, 10, 100];

/** Per-feature mean and scale fitted on the training split (scikit-learn's StandardScaler). */
export interface Standardizer {
  mean: Float64Array;
  scale: Float64Array;
}

export function fitStandardizer(x: FeatureMatrix): Standardizer {
  requireFeatures('fitStandardizer: x', x);
  const { rows: n, dim: d, data } = x;
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j] += data[r * d + j]! / n;
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) scale[j] += (data[r * d + j]! - mean[j]!) ** 2 / n;
  // Population std; constant features keep scale 1 as in scikit-learn.
  for (let j = 0; j < d; j++) scale[j] = scale[j]! > 0 ? Math.sqrt(scale[j]!) : 1;
  return { mean, scale };
}

export function standardize(s: Standardizer, x: FeatureMatrix): FeatureMatrix {
  requireFeatures('standardize: x', x);
  const d = x.dim;
  if (d !== s.mean.length) throw new MetricInputError(`standardize: features are ${d}-d but the standardizer was fitted on ${s.mean.length}-d`);
  const out = new Float64Array(x.rows * d);
  for (let r = 0; r < x.rows; r++) for (let j = 0; j < d; j++) out[r * d + j] = (x.data[r * d + j]! - s.mean[j]!) / s.scale[j]!;
  return { rows: x.rows, dim: d, data: out };
}

/** Mean over tokens: (rows × tokens × dim) → (rows × dim), REPA's pooling of a transformer layer. */
export function meanPoolTokens(data: ArrayLike<number>, rows: number, tokens: number, dim: number): FeatureMatrix {
  if (data.length !== rows * tokens * dim) throw new MetricInputError(`meanPoolTokens: expected ${rows}×${tokens}×${dim} = ${rows * tokens * dim} values, got ${data.length}`);
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++)
    for (let t = 0; t < tokens; t++) {
      const base = (r * tokens + t) * dim;
      for (let j = 0; j < dim; j++) out[r * dim + j] += data[base + j]! / tokens;
    }
  return { rows, dim, data: out };
}

/**
 * Linear probing as in REPA: standardise with training statistics, fit multinomial logistic
 * regression on train for each C (warm-started from the previous C, ascending), keep the C with
 * the best validation top-1 (the smallest on ties), report its test top-1.
 */
export function linearProbe(train: ProbeSplit, val: ProbeSplit, test: ProbeSplit, opts: LinearProbeOptions): LinearProbeResult {
  const k = opts.numClasses;
  requireClassCount('linearProbe: numClasses', k);
  const splits = [['train', train], ['val', val], ['test', test]] as const;
  for (const [name, s] of splits) {
    requireFeatures(`linearProbe: ${name}.features`, s.features, name === 'train' ? 2 : 1, `the ${name} split of a probe`);
    requireLabels(`linearProbe: ${name}.labels`, s.labels, s.features.rows, k);
    requireSameWidth(`linearProbe: ${name}.features`, s.features, 'train.features', train.features, 'every split must hold the same layer\'s features');
  }
  requireProbeClasses(
    { input: 'linearProbe: train.labels', labels: train.labels },
    splits.slice(1).map(([name, s]) => ({ input: `${name}.labels`, labels: s.labels })),
    k,
  );
  const grid = [...(opts.cGrid ?? DEFAULT_C_GRID)].sort((a, b) => a - b);
  if (grid.length === 0) throw new MetricInputError('linearProbe: cGrid is empty; give at least one C, e.g. [0.01, 0.1, 1, 10]');
  for (const c of grid) requirePositiveNumber('linearProbe: each C of cGrid', c);
  requirePositiveInteger('linearProbe: maxIter', opts.maxIter ?? 1000);
  requirePositiveNumber('linearProbe: tol', opts.tol ?? 1e-4);
  const standardizer = fitStandardizer(train.features);
  const xs = standardize(standardizer, train.features);
  const xv = standardize(standardizer, val.features);
  const sweep: LinearProbeResult['sweep'] = [];
  let best: { c: number; acc: number; model: LogisticModel } | undefined;
  let init: LogisticModel | undefined;
  for (const c of grid) {
    const fit = fitLogisticRegression(xs, train.labels, k, { c, maxIter: opts.maxIter, tol: opts.tol, init });
    init = fit.model;
    const acc = accuracy(predict(fit.model, xv), val.labels);
    sweep.push({ c, valAccuracy: acc, iterations: fit.iterations, converged: fit.converged });
    if (!best || acc > best.acc) best = { c, acc, model: fit.model };
  }
  const testAccuracy = accuracy(predict(best!.model, standardize(standardizer, test.features)), test.labels);
  return { bestC: best!.c, sweep, valAccuracy: best!.acc, testAccuracy, model: best!.model, standardizer };
}
