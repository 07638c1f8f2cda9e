import * as tf from '@tensorflow/tfjs-core';
import { LossInputError } from './errors.js';

/**
 * ε-prediction MSE, the mean over all elements of (ε̂ − ε)². With a learned-sigma model output
 * (2C channels) only the first C channels (ε̂) enter.
 */
export function epsilonMse(output: tf.Tensor4D, noise: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(tf.sub(epsilonPart(output, noise), noise))) as tf.Scalar);
}

/** The ε̂ channels of a C- or 2C-channel model output, validated against the noise shape. */
export function epsilonPart(output: tf.Tensor4D, noise: tf.Tensor4D): tf.Tensor4D {
  const c = noise.shape[3];
  const same = output.shape.slice(0, 3).every((v, i) => v === noise.shape[i]);
  if (!same || (output.shape[3] !== c && output.shape[3] !== 2 * c)) {
    throw new LossInputError(
      `model output [${output.shape}] must match noise [${noise.shape}] with ${c} or ${2 * c} channels`,
    );
  }
  return output.shape[3] === c ? output : (tf.slice(output, [0, 0, 0, 0], [-1, -1, -1, c]) as tf.Tensor4D);
}
