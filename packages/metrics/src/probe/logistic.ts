import { MetricInputError } from '../errors.js';
import type { FeatureMatrix } from '../features.js';
import { requireClassCount, requireFeatures, requireLabels, requirePositiveInteger, requirePositiveNumber, requireTwoClasses } from '../validate.js';
import { minimizeLbfgs } from '@difflab/core-tensor';

/** Multinomial logistic regression p(y = k | x) = softmax(x·W + b)_k. */
export interface LogisticModel {
  dim: number;
  numClasses: number;
  /** Row-major dim×numClasses. */
  weights: Float64Array;
  bias: Float64Array;
}

export interface LogisticFitOptions {
  /** Inverse L2 strength as in scikit-learn: minimises mean cross-entropy + ‖W‖²/(2·C·n); b is not penalised. */
  c: number;
  maxIter?: number;
  /** Gradient tolerance (max-abs), scikit-learn's `tol`. Default 1e-4. */
  tol?: number;
  /** Start point, e.g. the fit at a neighbouring C in a sweep. */
  init?: LogisticModel;
}

export interface LogisticFit {
  model: LogisticModel;
  loss: number;
  iterations: number;
  converged: boolean;
}

/** The same minimiser as scikit-learn's LogisticRegression(solver='lbfgs') with multinomial loss. */
export function fitLogisticRegression(x: FeatureMatrix, labels: ArrayLike<number>, numClasses: number, opts: LogisticFitOptions): LogisticFit {
  requireFeatures('fitLogisticRegression: x', x, 2, 'a classifier');
  requireClassCount('fitLogisticRegression: numClasses', numClasses);
  requireLabels('fitLogisticRegression: labels', labels, x.rows, numClasses);
  requireTwoClasses('fitLogisticRegression: labels', labels);
  requirePositiveNumber('fitLogisticRegression: C', opts.c);
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-4;
  requirePositiveInteger('fitLogisticRegression: maxIter', maxIter);
  requirePositiveNumber('fitLogisticRegression: tol', tol);
  const { rows: n, dim: d } = x;
  const k = numClasses;
  const xd = Float64Array.from(x.data);
  const lambda = 1 / (opts.c * n);
  const nw = d * k;
  const z = new Float64Array(k);
  const objective = (theta: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let r = 0; r < n; r++) {
      const row = r * d;
      for (let c = 0; c < k; c++) z[c] = theta[nw + c]!;
      for (let j = 0; j < d; j++) {
        const v = xd[row + j]!;
        if (v === 0) continue;
        const wj = j * k;
        for (let c = 0; c < k; c++) z[c] = z[c]! + v * theta[wj + c]!;
      }
      let zmax = -Infinity;
      for (let c = 0; c < k; c++) zmax = Math.max(zmax, z[c]!);
      let sum = 0;
      for (let c = 0; c < k; c++) {
        z[c] = Math.exp(z[c]! - zmax);
        sum += z[c]!;
      }
      const y = labels[r]!;
      // log p_y = (z_y − zmax) − log Σ; z now holds exp(z − zmax).
      loss -= Math.log(z[y]! / sum);
      for (let c = 0; c < k; c++) z[c] = (z[c]! / sum - (c === y ? 1 : 0)) / n;
      for (let j = 0; j < d; j++) {
        const v = xd[row + j]!;
        if (v === 0) continue;
        const wj = j * k;
        for (let c = 0; c < k; c++) grad[wj + c] = grad[wj + c]! + v * z[c]!;
      }
      for (let c = 0; c < k; c++) grad[nw + c] = grad[nw + c]! + z[c]!;
    }
    loss /= n;
    let w2 = 0;
    for (let i = 0; i < nw; i++) {
      w2 += theta[i]! * theta[i]!;
      grad[i] = grad[i]! + lambda * theta[i]!;
    }
    return loss + 0.5 * lambda * w2;
  };
  const theta0 = new Float64Array(nw + k);
  if (opts.init) {
    if (opts.init.dim !== d || opts.init.numClasses !== k) throw new MetricInputError(`fitLogisticRegression: init model is ${opts.init.dim}×${opts.init.numClasses}, expected ${d}×${k}`);
    theta0.set(opts.init.weights);
    theta0.set(opts.init.bias, nw);
  }
  // Stop on the gradient only, so `tol` alone sets how close to the unique minimiser we get.
  const res = minimizeLbfgs(objective, theta0, { maxIterations: maxIter, gradTol: tol, fTol: 0 });
  return {
    model: { dim: d, numClasses: k, weights: res.x.slice(0, nw), bias: res.x.slice(nw) },
    loss: res.f,
    iterations: res.iterations,
    converged: res.converged,
  };
}

/** Arg-max class per row (ties to the lower class index). */
export function predict(model: LogisticModel, x: FeatureMatrix): Int32Array {
  requireFeatures('predict: x', x);
  if (x.dim !== model.dim) throw new MetricInputError(`predict: features are ${x.dim}-d but the model expects ${model.dim}`);
  const { dim: d, numClasses: k, weights, bias } = model;
  const out = new Int32Array(x.rows);
  const z = new Float64Array(k);
  for (let r = 0; r < x.rows; r++) {
    z.set(bias);
    for (let j = 0; j < d; j++) {
      const v = x.data[r * d + j]!;
      for (let c = 0; c < k; c++) z[c] = z[c]! + v * weights[j * k + c]!;
    }
    let best = 0;
    for (let c = 1; c < k; c++) if (z[c]! > z[best]!) best = c;
    out[r] = best;
  }
  return out;
}

export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hit++;
  return hit / labels.length;
}
