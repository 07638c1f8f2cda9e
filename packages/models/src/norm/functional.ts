import * as tf from '@tensorflow/tfjs-core';
import { ModelInputError } from '../errors.js';

// Channels-last throughout: x is [N, ...spatial, C] (NHWC for images, [N, C] for vectors).

/** (x − mean)·rsqrt(var + eps) with the biased variance over `axes`, centring once. */
function standardize(x: tf.Tensor, axes: number[], eps: number): tf.Tensor {
  const centred = tf.sub(x, tf.mean(x, axes, true));
  return tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), axes, true), eps)));
}

function affine(x: tf.Tensor, weight?: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const scaled = weight ? tf.mul(x, weight) : x;
  return bias ? tf.add(scaled, bias) : scaled;
}

function channelsOf(x: tf.Tensor, what: string): number {
  if (x.rank < 2) throw new ModelInputError(`${what} input must have rank ≥ 2 ([N, ..., C]), got [${x.shape.join(', ')}]`);
  return x.shape[x.rank - 1]!;
}

/**
 * GroupNorm (Wu & He): channels split into `groups` contiguous groups; each example's group is
 * standardised over its spatial positions and channels. groups = C is InstanceNorm, groups = 1 is
 * LayerNorm over (spatial, C) with a per-channel affine.
 */
export function groupNorm(x: tf.Tensor, groups: number, eps: number, weight?: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const c = channelsOf(x, 'GroupNorm');
    if (!Number.isInteger(groups) || groups <= 0 || c % groups !== 0) {
      throw new ModelInputError(`GroupNorm groups (${groups}) must be a positive divisor of the channel count ${c}`);
    }
    const n = x.shape[0]!;
    const grouped = tf.reshape(x, [n, -1, groups, c / groups]);
    return affine(tf.reshape(standardize(grouped, [1, 3], eps), x.shape), weight, bias);
  });
}

/** LayerNorm over the last `normalizedDims` axes (PyTorch's normalized_shape = x.shape.slice(-normalizedDims)). */
export function layerNorm(x: tf.Tensor, normalizedDims: number, eps: number, weight?: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    if (!Number.isInteger(normalizedDims) || normalizedDims < 1 || normalizedDims > x.rank) {
      throw new ModelInputError(`LayerNorm normalizes 1..${x.rank} trailing axes of [${x.shape.join(', ')}], got ${normalizedDims}`);
    }
    const axes = Array.from({ length: normalizedDims }, (_, i) => x.rank - normalizedDims + i);
    return affine(standardize(x, axes, eps), weight, bias);
  });
}

/** InstanceNorm: each example's channel standardised over its spatial positions. */
export function instanceNorm(x: tf.Tensor, eps: number, weight?: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    channelsOf(x, 'InstanceNorm');
    if (x.rank < 3) throw new ModelInputError(`InstanceNorm input must have spatial axes ([N, ..., C]), got [${x.shape.join(', ')}]`);
    const axes = Array.from({ length: x.rank - 2 }, (_, i) => i + 1);
    return affine(standardize(x, axes, eps), weight, bias);
  });
}

/** BatchNorm statistics of a batch: per-channel mean and biased variance over every axis but the last. */
export function batchMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  channelsOf(x, 'BatchNorm');
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** (x − mean)/sqrt(variance + eps)·weight + bias with given per-channel statistics. */
export function batchNormWith(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  eps: number,
  weight?: tf.Tensor,
  bias?: tf.Tensor,
): tf.Tensor {
  return tf.tidy(() => affine(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), weight, bias));
}
