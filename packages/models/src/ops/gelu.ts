import * as tf from '@tensorflow/tfjs-core';
// Kernel names a backend may register to run GELU in one pass (difflab's native backend does);
// on any other backend the op is composed from primitive tfjs ops.
import { GELU_TANH_GRAD_KERNEL, GELU_TANH_KERNEL } from '@difflab/core-tensor';

// 0.5·x·(1 + tanh(z)) = x·sigmoid(2z), 2z = x·(A + B·x²).
const A = 2 * Math.sqrt(2 / Math.PI);
const B = A * 0.044715;

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

function forward(x: tf.Tensor): tf.Tensor {
  if (hasKernel(GELU_TANH_KERNEL)) return tf.engine().runKernel(GELU_TANH_KERNEL, { x }) as tf.Tensor;
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, tf.add(tf.mul(tf.square(x), B), A)))));
}

/** dy · d/dx[x·σ(u)] = dy · (σ + x·σ·(1 − σ)·u'), u = x·(A + B·x²), u' = A + 3B·x². */
function backward(dy: tf.Tensor, x: tf.Tensor): tf.Tensor {
  if (hasKernel(GELU_TANH_GRAD_KERNEL)) return tf.engine().runKernel(GELU_TANH_GRAD_KERNEL, { dy, x }) as tf.Tensor;
  return tf.tidy(() => {
    const x2 = tf.square(x);
    const s = tf.sigmoid(tf.mul(x, tf.add(tf.mul(x2, B), A)));
    const du = tf.add(tf.mul(x2, 3 * B), A);
    const local = tf.add(s, tf.mul(tf.mul(x, tf.mul(s, tf.sub(1, s))), du));
    return tf.mul(dy, local);
  });
}

/**
 * GELU with the tanh approximation (PyTorch's `gelu(approximate='tanh')`, as DiT's MLP uses) as one
 * op with its own gradient: the backward pass keeps only the input, where the composed form keeps
 * every intermediate (seven tensors of the input's size).
 */
export const geluTanh: (x: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
  save([x]);
  return { value: forward(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(dy, saved[0]!) };
});
