import * as tf from '@tensorflow/tfjs-core';

// SwiGLU MLP (Shazeer 2020, "GLU Variants Improve Transformer"), as LightningDiT's SwiGLUFFN:
// w3(silu(w1·x) ⊙ w2·x), each linear with bias. Weights are stored [in, out] like every DiT linear.

/** A linear layer's weight [in, out] and bias [out]. */
export interface Dense {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/** x·W + b on the last axis of x of any rank, one fused kernel. */
export function dense(x: tf.Tensor, { weight, bias }: Dense): tf.Tensor {
  const out = weight.shape[1]!;
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
  const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: weight as tf.Tensor2D, bias });
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), out]);
}

/** silu(a) ⊙ gate = a·sigmoid(a)·gate. */
export function swigluGate(a: tf.Tensor, gate: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(a, tf.sigmoid(a)), gate);
}

/** w3(silu(w1·x) ⊙ w2·x) for x [..., d]: w1 and w2 [d, h], w3 [h, d]. */
export function swigluMlp(x: tf.Tensor, w1: Dense, w2: Dense, w3: Dense): tf.Tensor {
  return tf.tidy(() => dense(swigluGate(dense(x, w1), dense(x, w2)), w3));
}
