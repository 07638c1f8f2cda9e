import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { type DenoiseFn, type NoiseSchedule, addNoise } from '@difflab/models';
import { LossInputError } from './errors.js';

/**
 * The v-prediction target (Salimans & Ho 2022) v = √ᾱ_t·ε − √(1−ᾱ_t)·x0, t one integer per example.
 * Its inverse is ε = √(1−ᾱ_t)·x_t + √ᾱ_t·v and x0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v.
 */
export function vTarget(schedule: NoiseSchedule, x0: tf.Tensor, noise: tf.Tensor, t: ArrayLike<number>): tf.Tensor {
  if (!tf.util.arraysEqual(x0.shape, noise.shape)) {
    throw new LossInputError(`vTarget: noise [${noise.shape}] must have the shape of x0 [${x0.shape}]`);
  }
  if (t.length !== x0.shape[0]) throw new LossInputError(`vTarget: ${t.length} timesteps for a batch of ${x0.shape[0]}`);
  return tf.tidy(() => {
    const shape = [t.length, ...new Array<number>(x0.rank - 1).fill(1)];
    const ac = Array.from(t, (v) => schedule.alphasCumprod[v]!);
    const a = tf.tensor(Float32Array.from(ac, Math.sqrt), shape);
    const s = tf.tensor(Float32Array.from(ac, (v) => Math.sqrt(1 - v)), shape);
    return tf.sub(tf.mul(a, noise), tf.mul(s, x0));
  });
}

export interface VPredictionLossTerms {
  /** The loss the step differentiates: the v-MSE. */
  total: tf.Scalar;
  /** ‖v̂ − v‖², mean over elements. */
  mse: tf.Scalar;
}

/**
 * One Monte-Carlo draw of the v-prediction loss, with the draws of diffusionLossTerms: t ~ U{0..T−1}
 * per example, then ε ~ N(0, I), from `rng` in that order; x_t = addNoise(x0, ε, t),
 * loss = mean((v̂(x_t, t, y) − v)²) with v = √ᾱ_t·ε − √(1−ᾱ_t)·x0. Pure in the model's variables.
 */
export function vPredictionLossTerms(model: DenoiseFn, x0: tf.Tensor4D, y: tf.Tensor1D, rng: Rng, schedule: NoiseSchedule): VPredictionLossTerms {
  const b = x0.shape[0];
  if (y.rank !== 1 || y.shape[0] !== b) {
    throw new LossInputError(`labels y must have shape [${b}] to match x0 [${x0.shape}], got [${y.shape}]`);
  }
  const t = Int32Array.from({ length: b }, () => rng.int(schedule.numTimesteps));
  return tf.tidy(() => {
    const noise = rng.normalTensor(x0.shape) as tf.Tensor4D;
    const xt = addNoise(schedule, x0, noise, t) as tf.Tensor4D;
    const target = vTarget(schedule, x0, noise, t);
    const out = model(xt, tf.tensor1d(Float32Array.from(t)), y);
    if (!tf.util.arraysEqual(out.shape, target.shape)) {
      throw new LossInputError(`model output [${out.shape}] must match the v target [${target.shape}] (a v-prediction model has no variance channels)`);
    }
    const mse = tf.mean(tf.square(tf.sub(out, target))) as tf.Scalar;
    return { total: mse, mse };
  });
}
