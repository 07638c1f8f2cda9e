import * as tf from '@tensorflow/tfjs-core';

/**
 * Scales gradients so their global L2 norm is at most maxNorm, as torch.nn.utils.clip_grad_norm_:
 * coef = maxNorm / (norm + 1e-6), applied only when coef < 1. Returns new tensors (the caller
 * disposes both the inputs and the outputs) and the norm before clipping. A non-finite norm is
 * returned as is, so the caller can stop training.
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: number } {
  if (!(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be positive, got ${maxNorm}`);
  const names = Object.keys(grads);
  const norm =
    names.length === 0
      ? 0
      : tf.tidy(() => tf.sqrt(tf.addN(names.map((n) => tf.sum(tf.square(grads[n]!))))).dataSync()[0]!);
  const coef = maxNorm / (norm + 1e-6);
  const out: Record<string, tf.Tensor> = {};
  for (const n of names) out[n] = coef < 1 ? tf.mul(grads[n]!, coef) : tf.clone(grads[n]!);
  return { grads: out, norm };
}
