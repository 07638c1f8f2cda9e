import * as tf from '@tensorflow/tfjs-core';

// RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x²) + eps) over the last axis, without LayerNorm's
// centring. Composed from tfjs ops, so tfjs differentiates it; the DiT block's norm + modulate runs as one
// native kernel where the backend has it (normModulate in fused.ts), with these ops as its fallback and reference.

/** RMSNorm over the last axis without affine. */
export function rmsNorm(x: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
}

/** DiT's `modulate(norm(x), shift, scale)` with RMSNorm: rmsNorm(x)·(1 + scale) + shift, x [B, N, D], shift/scale [B, 1, D]. */
export function rmsNormModulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor, eps: number): tf.Tensor {
  return tf.add(tf.mul(rmsNorm(x, eps), tf.add(scale, 1)), shift);
}
