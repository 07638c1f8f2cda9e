import * as tf from '@tensorflow/tfjs-core';
import type { NoiseSchedule } from '@difflab/models';
import { LossInputError } from './errors.js';

/** Identity whose gradient is zero: the L_vlb term must train only the variance (improved DDPM §3.1). */
const stopGradientOp = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));
const stopGradient = <T extends tf.Tensor>(x: T): T => stopGradientOp(x) as T;

function perExample(values: number[]): tf.Tensor {
  return tf.tensor4d(Float32Array.from(values), [values.length, 1, 1, 1]);
}

/** Standard normal CDF, the tanh approximation used by ADM's discretized likelihood. */
function approxStdNormalCdf(x: tf.Tensor): tf.Tensor {
  const z = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.add(tf.tanh(z), 1), 0.5);
}

/**
 * log-likelihood of x ∈ [−1, 1] under N(mean, e^{2·logScale}) discretised to 256 bins of width 2/255,
 * open-ended at the edge bins (DDPM's decoder L_0).
 */
export function discretizedGaussianLogLikelihood(x: tf.Tensor, mean: tf.Tensor, logScale: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const centered = tf.sub(x, mean);
    const invStd = tf.exp(tf.neg(logScale));
    const cdfPlus = approxStdNormalCdf(tf.mul(invStd, tf.add(centered, 1 / 255)));
    const cdfMin = approxStdNormalCdf(tf.mul(invStd, tf.sub(centered, 1 / 255)));
    const logCdfPlus = tf.log(tf.maximum(cdfPlus, 1e-12));
    const logOneMinusCdfMin = tf.log(tf.maximum(tf.sub(1, cdfMin), 1e-12));
    const logProbMid = tf.log(tf.maximum(tf.sub(cdfPlus, cdfMin), 1e-12));
    return tf.where(tf.less(x, -0.999), logCdfPlus, tf.where(tf.greater(x, 0.999), logOneMinusCdfMin, logProbMid));
  });
}

/**
 * Improved-DDPM variational term L_vlb in bits per dimension, one value per example [B]: the KL
 * between q(x_{t−1} | x_t, x_0) and the model's p(x_{t−1} | x_t) for t > 0, the decoder NLL at t = 0.
 * The model mean uses ε̂ under stop-gradient, so only the variance channels v receive gradient;
 * model log-variance = ((v+1)/2)·log β_t + ((1−v)/2)·log β̃_t.
 */
export function vlbTerm(
  schedule: NoiseSchedule,
  output: tf.Tensor4D,
  x0: tf.Tensor4D,
  xt: tf.Tensor4D,
  t: ArrayLike<number>,
): tf.Tensor1D {
  const c = x0.shape[3];
  if (output.shape[3] !== 2 * c) {
    throw new LossInputError(`L_vlb needs a learned-sigma output with ${2 * c} channels, got ${output.shape[3]}`);
  }
  return tf.tidy(() => {
    const ts = Array.from(t);
    const pick = (a: Float64Array) => perExample(ts.map((i) => a[i]!));
    const [epsRaw, v] = tf.split(output, 2, 3) as [tf.Tensor4D, tf.Tensor4D];
    const eps = stopGradient(epsRaw);
    const ac = ts.map((i) => schedule.alphasCumprod[i]!);
    const x0Hat = tf.sub(tf.mul(xt, perExample(ac.map((a) => Math.sqrt(1 / a)))), tf.mul(eps, perExample(ac.map((a) => Math.sqrt(1 / a - 1)))));
    const c1 = pick(schedule.posteriorMeanCoef1);
    const c2 = pick(schedule.posteriorMeanCoef2);
    const trueMean = tf.add(tf.mul(c1, x0), tf.mul(c2, xt));
    const modelMean = tf.add(tf.mul(c1, x0Hat), tf.mul(c2, xt));
    const trueLogVar = pick(schedule.posteriorLogVarianceClipped);
    const frac = tf.div(tf.add(v, 1), 2);
    const modelLogVar = tf.add(
      tf.mul(frac, perExample(ts.map((i) => Math.log(schedule.betas[i]!)))),
      tf.mul(tf.sub(1, frac), trueLogVar),
    );
    const kl = tf.mul(
      tf.add(
        tf.add(tf.sub(tf.sub(modelLogVar, trueLogVar), 1), tf.exp(tf.sub(trueLogVar, modelLogVar))),
        tf.mul(tf.square(tf.sub(trueMean, modelMean)), tf.exp(tf.neg(modelLogVar))),
      ),
      0.5,
    );
    const nll = tf.neg(discretizedGaussianLogLikelihood(x0, modelMean, tf.mul(modelLogVar, 0.5)));
    const atZero = tf.tensor1d(ts.map((i) => i === 0), 'bool');
    const perDim = (z: tf.Tensor) => tf.div(tf.mean(z, [1, 2, 3]), Math.LN2);
    return tf.where(atZero, perDim(nll), perDim(kl)) as tf.Tensor1D;
  });
}
