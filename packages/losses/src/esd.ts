import * as tf from '@tensorflow/tfjs-core';
import { epsilonPart } from './epsilon.js';
import { LossInputError } from './errors.js';

/** Identity whose gradient is zero: ESD's target comes from the frozen model and must stay fixed. */
const stopGradientOp = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/**
 * ESD's target (Gandikota et al. 2023, "Erasing Concepts from Diffusion Models", eq. 2 turned into a
 * regression target): ε*(c) − η·(ε*(c) − ε*(∅)), the frozen model's conditional prediction pushed away from
 * the concept by η times its classifier-free guidance direction. η = 0 is ε*(c); η = 1 is ε*(∅).
 * Affine in the outputs, so it applies alike to ε̂, v̂ or a flow velocity.
 */
export function esdTarget(cond: tf.Tensor4D, uncond: tf.Tensor4D, eta: number): tf.Tensor4D {
  if (!(eta >= 0) || !Number.isFinite(eta)) throw new LossInputError(`ESD eta (the negative-guidance scale) must be a finite number ≥ 0, got ${eta}`);
  if (!tf.util.arraysEqual(cond.shape, uncond.shape)) {
    throw new LossInputError(`ESD: conditional [${cond.shape}] and unconditional [${uncond.shape}] outputs of the frozen model differ in shape`);
  }
  return tf.tidy(() => tf.sub(cond, tf.mul(tf.sub(cond, uncond), eta)) as tf.Tensor4D);
}

/**
 * ESD's loss: the mean over elements of (ε̂_θ(x_t, c, t) − sg(esdTarget(cond, uncond, eta)))², sg a stop-gradient.
 * `output` is the trained model's at the concept's label; `cond`, `uncond` the frozen model's at the same x_t, t
 * and labels c and ∅, with C channels. A 2C-channel (learned-sigma) output contributes its first C channels.
 */
export function esdLoss(output: tf.Tensor4D, cond: tf.Tensor4D, uncond: tf.Tensor4D, eta: number): tf.Scalar {
  return tf.tidy(() => {
    const target = stopGradientOp(esdTarget(cond, uncond, eta)) as tf.Tensor4D;
    return tf.mean(tf.square(tf.sub(epsilonPart(output, target), target))) as tf.Scalar;
  });
}
