import * as tf from '@tensorflow/tfjs-core';
import { SWIGLU_GATE_GRAD_KERNEL, SWIGLU_GATE_KERNEL } from '@difflab/core-tensor';
import { hasKernel, linear } from './fused.js';

// SwiGLU MLP (Shazeer 2020, "GLU Variants Improve Transformer"), as LightningDiT's SwiGLUFFN:
// w3(silu(w1·x) ⊙ w2·x), each linear with bias. Weights are stored [in, out] like every DiT linear.

/** A linear layer's weight [in, out] and bias [out]. */
export interface Dense {
  weight: tf.Tensor;
  bias: tf.Tensor;
}

/**
 * silu(a) ⊙ gate = a·sigmoid(a)·gate. Where the backend has the native SwiGLU gate kernels (and a, gate
 * have one shape), one kernel each way keeping a and gate, bit-identical to the composed ops (three
 * forward kernels and eight gradient kernels over the MLP's widest activation); elsewhere the tfjs ops.
 */
export function swigluGate(a: tf.Tensor, gate: tf.Tensor): tf.Tensor {
  if (!tf.util.arraysEqual(a.shape, gate.shape) || !hasKernel(SWIGLU_GATE_KERNEL)) {
    return tf.mul(tf.mul(a, tf.sigmoid(a)), gate);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [as, gs, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([as, gs]);
    return {
      value: tf.engine().runKernel(SWIGLU_GATE_KERNEL, { a: as, gate: gs }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(SWIGLU_GATE_GRAD_KERNEL, { dy, a: saved[0]!, gate: saved[1]! }) as tf.Tensor[],
    };
  });
  return op(a, gate);
}

/** w3(silu(w1·x) ⊙ w2·x) for x [..., d]: w1 and w2 [d, h], w3 [h, d]. */
export function swigluMlp(x: tf.Tensor, w1: Dense, w2: Dense, w3: Dense): tf.Tensor {
  const dense = (h: tf.Tensor, { weight, bias }: Dense) => linear(h, weight, bias);
  return tf.tidy(() => dense(swigluGate(dense(x, w1), dense(x, w2)), w3));
}
