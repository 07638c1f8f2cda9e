import * as tf from '@tensorflow/tfjs-core';

/**
 * NHWC [B, H, W, C] → tokens [B·N, p·p·C], tokens row-major over the (H/p)×(W/p) grid and each
 * patch vector ordered (row-in-patch, column-in-patch, channel).
 */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    const r = tf.reshape(x, [b, h / p, p, w / p, p, c]);
    return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [b * (h / p) * (w / p), p * p * c]);
  });
}

/** Inverse of patchify for a [B·N, p·p·C] (or [B, N, p·p·C]) token tensor. */
export function unpatchify(tokens: tf.Tensor, batch: number, gridSize: number, p: number, c: number): tf.Tensor4D {
  return tf.tidy(() => {
    const r = tf.reshape(tokens, [batch, gridSize, gridSize, p, p, c]);
    return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [batch, gridSize * p, gridSize * p, c]) as tf.Tensor4D;
  });
}
