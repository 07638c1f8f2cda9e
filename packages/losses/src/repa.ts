import * as tf from '@tensorflow/tfjs-core';
import { LossInputError } from './errors.js';

/**
 * Floor under each token's squared norm in the cosine, as torch's F.normalize (REPA's reference) floors the
 * norm: a zero token (e.g. a frozen random encoder's dead feature, or a projector output at init) gives
 * cos = 0 and a finite gradient instead of 0/0.
 */
export const TOKEN_COSINE_EPS = 1e-12;

/** Shapes [B, N, C] of two token sets, equal; throws LossInputError naming both otherwise. */
function checkTokens(where: string, a: tf.Tensor, b: tf.Tensor): void {
  if (a.rank !== 3 || !tf.util.arraysEqual(a.shape, b.shape)) {
    throw new LossInputError(`${where}: token sets must both be [B, N, C] and equal, got [${a.shape}] and [${b.shape}]`);
  }
}

/** cos(a[b, n], b[b, n]) per token: [B, N], each token's norm floored by TOKEN_COSINE_EPS. */
export function tokenCosine(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor2D {
  checkTokens('tokenCosine', a, b);
  return tf.tidy(() => {
    const dot = tf.sum(tf.mul(a, b), 2);
    const na = tf.sqrt(tf.add(tf.sum(tf.square(a), 2), TOKEN_COSINE_EPS));
    const nb = tf.sqrt(tf.add(tf.sum(tf.square(b), 2), TOKEN_COSINE_EPS));
    return tf.div(dot, tf.mul(na, nb)) as tf.Tensor2D;
  });
}

/**
 * REPA's alignment term (Yu et al. 2024, eq. 4): −mean over examples and patch tokens of
 * cos(h_φ(hidden)[b, n], encoder[b, n]). −1 when every projected token points along its teacher token.
 * The teacher side is a constant (cached features): no gradient is meant to reach it.
 */
export function repaAlignmentLoss(projected: tf.Tensor3D, teacher: tf.Tensor3D): tf.Scalar {
  checkTokens('repaAlignmentLoss', projected, teacher);
  return tf.tidy(() => tf.neg(tf.mean(tokenCosine(projected, teacher))) as tf.Scalar);
}

/**
 * iREPA's spatial normalisation of teacher tokens (Singh et al. 2025, "What matters for Representation
 * Alignment: Global Information or Spatial Structure?"): per example and channel, over the N tokens,
 * x ← (x − γ·mean_n x) / (std_n x + 1e-6), std the unbiased one (torch's Tensor.std, as the reference).
 * Removing each channel's per-image offset leaves the pattern across positions, which is what the paper
 * finds drives the gain. γ = 1 as in the paper's default.
 */
export function spatialNormalizeTokens(tokens: tf.Tensor3D, gamma = 1): tf.Tensor3D {
  if (tokens.rank !== 3 || tokens.shape[1] < 2) throw new LossInputError(`spatialNormalizeTokens: tokens must be [B, N ≥ 2, C], got [${tokens.shape}]`);
  const n = tokens.shape[1];
  return tf.tidy(() => {
    const mean = tf.mean(tokens, 1, true);
    const centred = tf.sub(tokens, mean);
    const std = tf.sqrt(tf.div(tf.sum(tf.square(centred), 1, true), n - 1));
    const shifted = gamma === 1 ? centred : tf.sub(tokens, tf.mul(mean, gamma));
    return tf.div(shifted, tf.add(std, 1e-6)) as tf.Tensor3D;
  });
}

/**
 * Average-pools tokens on a `from`×`from` row-major grid to `to`×`to` (from a multiple of to): how the
 * DiT's tokens meet an encoder's coarser grid (REPA instead resizes the encoder's input; cached tokens
 * have a fixed grid). [B, from², C] → [B, to², C]; the identity when from = to.
 */
export function poolTokenGrid(tokens: tf.Tensor3D, from: number, to: number): tf.Tensor3D {
  const [b, n, c] = tokens.shape;
  if (n !== from * from) throw new LossInputError(`poolTokenGrid: ${n} tokens are not a ${from}×${from} grid`);
  if (!(to > 0 && from % to === 0)) throw new LossInputError(`poolTokenGrid: a ${from}×${from} grid cannot be pooled to ${to}×${to} (${to} must divide ${from})`);
  if (from === to) return tokens.clone();
  const k = from / to;
  return tf.tidy(() => tf.reshape(tf.avgPool(tf.reshape(tokens, [b, from, from, c]) as tf.Tensor4D, k, k, 'valid'), [b, to * to, c]) as tf.Tensor3D);
}
