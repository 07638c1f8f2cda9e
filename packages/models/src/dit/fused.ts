import * as tf from '@tensorflow/tfjs-core';
// Kernel names a backend may register to run these ops in one pass (difflab's native backend does).
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  GATED_RESIDUAL_GRAD_KERNEL,
  GATED_RESIDUAL_KERNEL,
  LAYER_NORM_MODULATE_GRAD_KERNEL,
  LAYER_NORM_MODULATE_KERNEL,
  LINEAR_GRAD_KERNEL,
  LINEAR_KERNEL,
} from '@difflab/core-tensor';
import { rmsNormModulate } from './rmsnorm.js';

// Why these ops exist: tfjs keeps every forward intermediate and every gradient until the backward
// pass ends, so a chain of small broadcasting ops costs memory per op as well as one pass each. Each
// op here is one node on the tape, keeps only what its gradient needs, and frees its backward
// intermediates as it goes.

/** Whether the active backend registers `name` (the native fused kernels; elsewhere the composed tfjs ops run). */
export const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined;

/** Layer norm over the last axis without affine, composed from tfjs ops (centred once and reused). */
export function layerNormComposed(x: tf.Tensor, eps: number): tf.Tensor {
  const centred = tf.sub(x, tf.mean(x, -1, true));
  return tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), eps)));
}

/**
 * DiT's `modulate(norm(x), shift, scale)` = norm(x)·(1 + scale) + shift for x [B, N, D] and shift, scale
 * [B, 1, D], norm a layer norm or RMSNorm without affine. One native kernel each way where the backend has
 * them (RMSNorm is the kernel's uncentred mode; the gradient keeps x, scale and the per-row mean and 1/σ);
 * elsewhere the composed tfjs ops.
 */
export function normModulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor, eps: number, norm: 'layernorm' | 'rmsnorm'): tf.Tensor {
  const center = norm !== 'rmsnorm';
  if (!hasKernel(LAYER_NORM_MODULATE_KERNEL)) {
    return center ? tf.add(tf.mul(layerNormComposed(x, eps), tf.add(scale, 1)), shift) : rmsNormModulate(x, shift, scale, eps);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, sh, sc, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x: xs, shift: sh, scale: sc }, { epsilon: eps, center }) as tf.Tensor[];
    save([xs, sc, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, ssc, smean, srstd] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const [dx, dscale, dshift] = tf.engine().runKernel(LAYER_NORM_MODULATE_GRAD_KERNEL, { dy, x: sx, mean: smean, rstd: srstd, scale: ssc }, { center }) as tf.Tensor[];
        return [dx!, dshift!, dscale!];
      },
    };
  });
  return op(x, shift, scale);
}

/**
 * x·weight + bias on the last axis of x of any rank (weight [in, out], bias [out]). Where the backend has
 * the native linear kernels, one kernel each way (the same products and bias sum as tf.fused.matMul, so
 * bit-identical, without the ~10 reshapes per layer that the 2-D view, tf.fused.matMul's 3-D view and
 * their gradients add to the tape); elsewhere tf.fused.matMul on the 2-D view.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  if (!hasKernel(LINEAR_KERNEL)) {
    const out = weight.shape[1]!;
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
    const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: weight as tf.Tensor2D, ...(bias ? { bias } : {}) });
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), out]);
  }
  const hasBias = bias !== undefined;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xs, ws] = args as [tf.Tensor, tf.Tensor];
    save([xs, ws]);
    const inputs: tf.NamedTensorMap = hasBias ? { x: xs, weight: ws, bias: args[2] as tf.Tensor } : { x: xs, weight: ws };
    return {
      value: tf.engine().runKernel(LINEAR_KERNEL, inputs) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(LINEAR_GRAD_KERNEL, { dy, x: saved[0]!, weight: saved[1]! }, { hasBias }) as tf.Tensor[],
    };
  });
  return hasBias ? op(x, weight, bias) : op(x, weight);
}

/** Softmax gradient over the last axis from the softmax output y: y·(dy − Σ dy·y). */
function softmaxGrad(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)));
}

/**
 * Multi-head self-attention core: qkv [B, N, 3·d] (PyTorch's qkv layout: q, k, v then heads) →
 * softmax(q·kᵀ/√hd)·v with heads merged back, [B, N, d]. The backward pass keeps qkv and the
 * attention probabilities only. On a backend with the native kernels each head is read in place from
 * qkv; elsewhere the head split is composed from tfjs ops and recomputed in the backward pass instead
 * of keeping the split heads, the scaled queries and the scores.
 */
export function selfAttentionCore(qkv: tf.Tensor, heads: number): tf.Tensor {
  return hasKernel(ATTENTION_KERNEL) ? nativeAttention(qkv, heads) : composedAttention(qkv, heads);
}

function nativeAttention(qkv: tf.Tensor, heads: number): tf.Tensor {
  const attrs = { numHeads: heads };
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [out, probs] = tf.engine().runKernel(ATTENTION_KERNEL, { qkv: x }, attrs) as tf.Tensor[];
    save([x, probs!]);
    return {
      value: out!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, qkv: saved[0]!, probs: saved[1]! }, attrs) as tf.Tensor,
    };
  });
  return op(qkv);
}

function composedAttention(qkv: tf.Tensor, heads: number): tf.Tensor {
  const [b, n, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, hd = d / heads, s = 1 / Math.sqrt(hd);
  // [B, N, 3, H, hd] → [3, B, H, N, hd]: one transpose, then contiguous slices.
  const split = (t: tf.Tensor): tf.Tensor[] => tf.unstack(tf.transpose(tf.reshape(t, [b, n, 3, heads, hd]), [2, 0, 3, 1, 4]));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [q, k, v] = split(x) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const probs = tf.softmax(tf.matMul(tf.mul(q, s) as tf.Tensor4D, k, false, true));
    save([x, probs]);
    const out = tf.reshape(tf.transpose(tf.matMul(probs, v), [0, 2, 1, 3]), [b, n, d]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, p] = saved as [tf.Tensor, tf.Tensor4D];
          const [q2, k2, v2] = split(sx) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
          const dyh = tf.transpose(tf.reshape(dy, [b, n, heads, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
          const dv = tf.matMul(p, dyh, true, false);
          const dScores = softmaxGrad(p, tf.matMul(dyh, v2, false, true)) as tf.Tensor4D;
          const dq = tf.mul(tf.matMul(dScores, k2), s);
          const dk = tf.matMul(dScores, tf.mul(q2, s) as tf.Tensor4D, true, false);
          const stacked = tf.concat([dq, dk, dv].map((g) => tf.reshape(g, [1, b, heads, n, hd])), 0);
          return tf.reshape(tf.transpose(stacked, [1, 3, 0, 2, 4]), [b, n, d3]);
        }),
    };
  });
  return op(qkv);
}

/**
 * h + gate·x for h, x [B, N, D] and gate [B, 1, D] (adaLN-Zero's gated residual) as one tape node
 * keeping gate and x; one native kernel each way where the backend has them.
 */
export const gatedResidual: (h: tf.Tensor, gate: tf.Tensor, x: tf.Tensor) => tf.Tensor = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [h, gate, x, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([gate, x]);
    const native = hasKernel(GATED_RESIDUAL_KERNEL);
    return {
      value: native ? (tf.engine().runKernel(GATED_RESIDUAL_KERNEL, { h, gate, x }) as tf.Tensor) : tf.add(h, tf.mul(gate, x)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [g, sx] = saved as [tf.Tensor, tf.Tensor];
          const [dx, dgate] = native
            ? (tf.engine().runKernel(GATED_RESIDUAL_GRAD_KERNEL, { dy, gate: g, x: sx }) as tf.Tensor[])
            : [tf.mul(dy, g), tf.sum(tf.mul(dy, sx), 1, true)];
          return [tf.clone(dy), dgate!, dx!];
        }),
    };
  },
);
