import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { type DenoiseFn, FLOW_TIME_SCALE, flowInterpolate } from '@difflab/models';
import { LossInputError } from './errors.js';

/** How a rectified-flow loss draws t ∈ [0, 1] per example. */
export interface FlowTimeSampling {
  /** 'uniform': t ~ U[0, 1). 'logit-normal': t = sigmoid(n), n ~ N(mean, std²) (SD3, LightningDiT). Default 'uniform'. */
  timeSampling?: 'uniform' | 'logit-normal';
  /** logit-normal only: mean of logit(t). Default 0. */
  timeMean?: number;
  /** logit-normal only: standard deviation of logit(t). Default 1. */
  timeStd?: number;
}

export interface FlowLossOptions extends FlowTimeSampling {
  /** Weight w of the velocity-direction term mean_i(1 − cos(v̂_i, v_i)) (FasterDiT, LightningDiT). Default 0. */
  velocityDirectionWeight?: number;
}

export interface FlowLossTerms {
  /** mse + w·direction (just mse when w = 0). */
  total: tf.Scalar;
  /** ‖v̂ − v‖², mean over all elements. */
  mse: tf.Scalar;
  /** mean over the batch of 1 − cos(v̂_i, v_i); absent when w = 0. */
  direction?: tf.Scalar;
}

/**
 * Draws n flow times from `rng`: n × rng.uniform() for 'uniform', n × rng.normal() for 'logit-normal'
 * (t = 1 / (1 + exp(−(mean + std·n)))), in float64. Logit-normal t lies in (0, 1); uniform t in [0, 1).
 */
export function sampleFlowTimes(rng: Rng, n: number, opts: FlowTimeSampling = {}): Float64Array {
  const kind = opts.timeSampling ?? 'uniform';
  const t = new Float64Array(n);
  if (kind === 'uniform') {
    for (let i = 0; i < n; i++) t[i] = rng.uniform();
    return t;
  }
  if (kind !== 'logit-normal') throw new LossInputError(`timeSampling must be 'uniform' or 'logit-normal', got '${String(kind)}'`);
  const mean = opts.timeMean ?? 0;
  const std = opts.timeStd ?? 1;
  if (!Number.isFinite(mean)) throw new LossInputError(`timeMean must be finite, got ${opts.timeMean}`);
  if (!(std > 0 && Number.isFinite(std))) throw new LossInputError(`timeStd must be > 0, got ${opts.timeStd}`);
  for (let i = 0; i < n; i++) t[i] = 1 / (1 + Math.exp(-(mean + std * rng.normal())));
  return t;
}

/**
 * Floor added to each per-element mean square before its square root in the cosine. The cosine is
 * undefined at a zero vector, and a DiT's zero-initialised final layer outputs v̂ ≡ 0 at step 0: without
 * the floor the term and its gradient are 0/0 = NaN there, which would stop the run on its first step.
 * With it, cos(0, v) = 0 (the term is 1) and the gradient is finite (bounded by ~1/√δ; gradient clipping
 * caps it). It is far below any real mean square (float32 data and velocities of order 1), so it does
 * not change the value elsewhere: the result at v̂ = c·v is 1 − cos = 0 to float32 rounding.
 */
export const COSINE_EPS = 1e-12;

/**
 * cos(a_i, b_i) per example, over all of an example's elements: mean(a·b) / (√(mean(a²) + δ)·√(mean(b²) + δ))
 * with δ = COSINE_EPS (means instead of sums keep δ's meaning independent of the image size).
 */
export function cosinePerExample(a: tf.Tensor, b: tf.Tensor): tf.Tensor1D {
  if (!tf.util.arraysEqual(a.shape, b.shape) || a.rank < 1) {
    throw new LossInputError(`cosine: shapes [${a.shape}] and [${b.shape}] must be equal, batch first`);
  }
  return tf.tidy(() => {
    const n = a.shape[0]!;
    const a2 = tf.reshape(a, [n, -1]);
    const b2 = tf.reshape(b, [n, -1]);
    const dot = tf.mean(tf.mul(a2, b2), 1);
    const na = tf.sqrt(tf.add(tf.mean(tf.square(a2), 1), COSINE_EPS));
    const nb = tf.sqrt(tf.add(tf.mean(tf.square(b2), 1), COSINE_EPS));
    return tf.div(dot, tf.mul(na, nb)) as tf.Tensor1D;
  });
}

/** FasterDiT's velocity-direction loss: the batch mean of 1 − cos(v̂_i, v_i), 0 for v̂ = c·v (c > 0), 1 orthogonal, 2 opposite. */
export function velocityDirectionLoss(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sub(1, cosinePerExample(pred, target))) as tf.Scalar);
}

/** The rectified-flow target v = dx_t/dt = ε − x. */
export function flowVelocity(x0: tf.Tensor4D, noise: tf.Tensor4D): tf.Tensor4D {
  return tf.sub(noise, x0) as tf.Tensor4D;
}

/**
 * One Monte-Carlo draw of the rectified-flow loss: t per example from `timeSampling` (sampleFlowTimes),
 * then ε ~ N(0, I) (rng.normalTensor), both from `rng` in that order; x_t = (1 − t)·x + t·ε,
 * v̂ = model(x_t, FLOW_TIME_SCALE·t, y), mse = mean((v̂ − (ε − x))²), direction = mean_i(1 − cos(v̂_i, v_i)),
 * total = mse + w·direction. Pure in the model's variables: use inside tf.variableGrads. Draws the model
 * makes itself (e.g. CFG label dropout) come after these.
 */
export function flowLossTerms(model: DenoiseFn, x0: tf.Tensor4D, y: tf.Tensor1D, rng: Rng, opts: FlowLossOptions = {}): FlowLossTerms {
  const b = x0.shape[0];
  if (y.rank !== 1 || y.shape[0] !== b) {
    throw new LossInputError(`labels y must have shape [${b}] to match x0 [${x0.shape}], got [${y.shape}]`);
  }
  const w = opts.velocityDirectionWeight ?? 0;
  if (!(w >= 0 && Number.isFinite(w))) throw new LossInputError(`velocityDirectionWeight must be ≥ 0, got ${opts.velocityDirectionWeight}`);
  const t = sampleFlowTimes(rng, b, opts);
  return tf.tidy(() => {
    const noise = rng.normalTensor(x0.shape) as tf.Tensor4D;
    const xt = flowInterpolate(x0, noise, t);
    const target = flowVelocity(x0, noise);
    const out = model(xt, tf.tensor1d(Float32Array.from(t, (v) => FLOW_TIME_SCALE * v)), y);
    if (!tf.util.arraysEqual(out.shape, target.shape)) {
      throw new LossInputError(`model output [${out.shape}] must match the velocity target [${target.shape}]`);
    }
    const mse = tf.mean(tf.square(tf.sub(out, target))) as tf.Scalar;
    if (w === 0) return { total: mse, mse };
    const direction = velocityDirectionLoss(out, target);
    return { total: tf.add(mse, tf.mul(direction, w)) as tf.Scalar, mse, direction };
  });
}
