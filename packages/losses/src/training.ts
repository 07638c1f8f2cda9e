import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { type DenoiseFn, type NoiseSchedule, addNoise } from '@difflab/models';
import { epsilonMse } from './epsilon.js';
import { LossInputError } from './errors.js';
import { vlbTerm } from './vlb.js';

export interface DiffusionLossOptions {
  /**
   * Weight λ of the improved-DDPM L_vlb term (needs a learned-sigma model). DiT trains with
   * L_simple + L_vlb, i.e. λ = 1 with L_vlb in bits/dim; default 0 (ε-MSE only).
   */
  vlbWeight?: number;
}

export interface DiffusionLossTerms {
  /** mse + λ·vlb (just mse when λ = 0). */
  total: tf.Scalar;
  /** L_simple: ‖ε̂ − ε‖², mean over elements. */
  mse: tf.Scalar;
  /** L_vlb in bits/dim, mean over the batch; absent when λ = 0. */
  vlb?: tf.Scalar;
}

/**
 * One Monte-Carlo draw of the diffusion training loss: t ~ U{0..T−1} per example, then
 * ε ~ N(0, I) (drawn from `rng` in that order), x_t = addNoise(x0, ε, t), loss = ‖ε̂(x_t, t, y) − ε‖²
 * averaged, plus λ·L_vlb. Pure in the model's variables: use inside tf.variableGrads.
 */
export function diffusionTrainingLoss(
  model: DenoiseFn,
  x0: tf.Tensor4D,
  y: tf.Tensor1D,
  rng: Rng,
  schedule: NoiseSchedule,
  opts: DiffusionLossOptions = {},
): tf.Scalar {
  return tf.tidy(() => diffusionLossTerms(model, x0, y, rng, schedule, opts).total);
}

/** diffusionTrainingLoss with its terms apart (the same draws, the same total). */
export function diffusionLossTerms(
  model: DenoiseFn,
  x0: tf.Tensor4D,
  y: tf.Tensor1D,
  rng: Rng,
  schedule: NoiseSchedule,
  opts: DiffusionLossOptions = {},
): DiffusionLossTerms {
  const b = x0.shape[0];
  if (y.rank !== 1 || y.shape[0] !== b) {
    throw new LossInputError(`labels y must have shape [${b}] to match x0 [${x0.shape}], got [${y.shape}]`);
  }
  const lambda = opts.vlbWeight ?? 0;
  if (!(lambda >= 0)) throw new LossInputError(`vlbWeight must be ≥ 0, got ${opts.vlbWeight}`);
  const t = Int32Array.from({ length: b }, () => rng.int(schedule.numTimesteps));
  return tf.tidy(() => {
    const noise = rng.normalTensor(x0.shape) as tf.Tensor4D;
    const xt = addNoise(schedule, x0, noise, t) as tf.Tensor4D;
    const out = model(xt, tf.tensor1d(Float32Array.from(t)), y);
    const mse = epsilonMse(out, noise);
    if (lambda === 0) return { total: mse, mse };
    const vlb = tf.mean(vlbTerm(schedule, out, x0, xt, t)) as tf.Scalar;
    return { total: tf.add(mse, tf.mul(vlb, lambda)) as tf.Scalar, mse, vlb };
  });
}
