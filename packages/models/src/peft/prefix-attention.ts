import * as tf from '@tensorflow/tfjs-core';

/**
 * Multi-head self-attention with learned key/value prefixes (prefix tuning), composed from tfjs ops:
 * qkv [B, T, 3d] (PyTorch's layout: q, k, v, then heads; already rotated by RoPE where enabled, the
 * prefix keys are not), prefixK, prefixV [L, d] (column h·hd + j = head h, channel j) →
 *   softmax(q·[P_k; K]ᵀ/√hd)·[P_v; V]  per head, heads merged: [B, T, d].
 * With L = 0 it is the plain attention of `selfAttentionCore`, evaluated with the same composed ops as
 * its tfjs fallback (tf.mul(q, 1/√hd), matMul, softmax, matMul).
 */
export function prefixedSelfAttention(qkv: tf.Tensor, prefixK: tf.Tensor, prefixV: tf.Tensor, heads: number): tf.Tensor {
  return tf.tidy(() => {
    const [b, n, d3] = qkv.shape as [number, number, number];
    const d = d3 / 3;
    const hd = d / heads;
    const len = prefixK.shape[0]!;
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, heads, hd]), [2, 0, 3, 1, 4])) as tf.Tensor4D[]; // (B, H, T, hd)
    const perHead = (p: tf.Tensor): tf.Tensor4D =>
      tf.tile(tf.transpose(tf.reshape(p, [1, len, heads, hd]), [0, 2, 1, 3]), [b, 1, 1, 1]) as tf.Tensor4D; // (B, H, L, hd)
    const keys = tf.concat([perHead(prefixK), k!], 2); // (B, H, L+T, hd)
    const values = tf.concat([perHead(prefixV), v!], 2);
    const probs = tf.softmax(tf.matMul(tf.mul(q!, 1 / Math.sqrt(hd)) as tf.Tensor4D, keys, false, true)); // (B, H, T, L+T)
    return tf.reshape(tf.transpose(tf.matMul(probs, values), [0, 2, 1, 3]), [b, n, d]);
  });
}
