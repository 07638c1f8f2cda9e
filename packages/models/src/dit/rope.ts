import * as tf from '@tensorflow/tfjs-core';
// A kernel name a backend may register to rotate in one pass each way (difflab's native backend does).
import { ROTARY_KERNEL } from '@difflab/core-tensor';

// 2-D axial rotary position embedding (Su et al., RoFormer; the 2-D axial layout of EVA-02's
// VisionRotaryEmbeddingFast, which LightningDiT uses). A rotation of each channel pair of the queries
// and keys by an angle proportional to the token's position makes q_m·k_n depend on the positions only
// through their difference, since R(a)ᵀR(b) = R(b − a).

/** Base of the rotary frequencies (RoFormer, EVA-02, LightningDiT). */
export const ROPE_THETA = 10000;

/**
 * Rotation angle of each channel pair of one attention head at every token of a gridSize×gridSize
 * grid: [N, headDim/2] row-major in float64, token n = i·gridSize + j (row i, column j: patchify's
 * order). Pairs p < headDim/4 (channels 0..headDim/2−1) turn with the row, the others with the column;
 * within each half pair p turns at ω_p = θ^(−4p/headDim), EVA's `1/θ^(arange(0, dim, 2)/dim)` for
 * dim = headDim/2. Positions are the integer grid indices (EVA with ft_seq_len = pt_seq_len).
 */
export function rope2dAngles(headDim: number, gridSize: number, theta = ROPE_THETA): Float64Array {
  const quarter = headDim / 4;
  const pairs = headDim / 2;
  const out = new Float64Array(gridSize * gridSize * pairs);
  for (let i = 0; i < gridSize; i++) {
    for (let j = 0; j < gridSize; j++) {
      const row = (i * gridSize + j) * pairs;
      for (let p = 0; p < quarter; p++) {
        const omega = Math.pow(theta, (-4 * p) / headDim);
        out[row + p] = i * omega;
        out[row + quarter + p] = j * omega;
      }
    }
  }
  return out;
}

/** Per channel pair: cos and sin of its angle, [tokens, pairs] float32 row-major. */
export interface RotaryTables {
  cos: Float32Array;
  sin: Float32Array;
  tokens: number;
  /** Channel pairs per token: half the width of the tensor the tables rotate. */
  pairs: number;
}

/**
 * Tables that rotate the queries and keys inside a fused qkv tensor [B, tokens, 3·d] (q, k, v, then
 * heads: PyTorch's layout) and leave v alone (angle 0). Every head gets the same rotation.
 * `extraTokens` rows after the grid (the in-context design's t and y tokens, which have no position)
 * are not rotated, as EVA does for its class tokens.
 */
export function qkvRotaryTables(hiddenSize: number, numHeads: number, gridSize: number, extraTokens = 0): RotaryTables {
  const headPairs = hiddenSize / numHeads / 2;
  const angles = rope2dAngles(2 * headPairs, gridSize); // (N, headDim/2)
  const n = gridSize * gridSize;
  const tokens = n + extraTokens;
  const pairs = (3 * hiddenSize) / 2;
  const cos = new Float32Array(tokens * pairs).fill(1);
  const sin = new Float32Array(tokens * pairs);
  for (let t = 0; t < n; t++) {
    for (let qk = 0; qk < 2 * numHeads; qk++) {
      // q's heads then k's heads: pairs [0, d) of the token's 3d/2
      for (let p = 0; p < headPairs; p++) {
        const a = angles[t * headPairs + p]!;
        cos[t * pairs + qk * headPairs + p] = Math.cos(a);
        sin[t * pairs + qk * headPairs + p] = Math.sin(a);
      }
    }
  }
  return { cos, sin, tokens, pairs };
}

/**
 * Rotates interleaved channel pairs (x0, x1) → (x0·cos a − x1·sin a, x1·cos a + x0·sin a), EVA's
 * x·cos + rotate_half(x)·sin, for x [B, tokens, 2·pairs] and tables [tokens, pairs]. The tables are
 * constants: they get no gradient.
 * One native kernel each way where the backend has it: the composed ops below are about ten passes and as
 * many tensors kept for the backward pass, a quarter of a small DiT's training step. The gradient needs no
 * saved activations, since a rotation's transpose is its inverse: dx is dy rotated by −a (the same kernel,
 * `inverse`). Elsewhere the composed tfjs ops, which are also the reference the kernel is tested against.
 */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  if (tf.getKernel(ROTARY_KERNEL, tf.getBackend()) === undefined) return composedRotary(x, cos, sin);
  // Only x is an input on the tape, so no table gradient is ever built; saving the tables keeps them alive
  // for the backward pass should the caller dispose them first.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([cos, sin]);
    return {
      value: tf.engine().runKernel(ROTARY_KERNEL, { x: xs, cos, sin }, { inverse: false }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(ROTARY_KERNEL, { x: dy, cos: saved[0]!, sin: saved[1]! }, { inverse: true }) as tf.Tensor,
    };
  });
  return op(x);
}

/**
 * applyRotary composed from tfjs ops. Evens and odds are split by one transpose to a leading pair axis and
 * contiguous unstacks (native kernels); tfjs's cpu `reverse` and `unstack` on an inner axis index element
 * by element and made a DiT-FMNIST-S/4 training step about 10× slower.
 */
function composedRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [b, t, w] = x.shape as [number, number, number];
    const split = tf.transpose(tf.reshape(x, [b, t, w / 2, 2]), [3, 0, 1, 2]); // (2, B, T, P)
    const [even, odd] = tf.unstack(split) as [tf.Tensor, tf.Tensor]; // (B, T, P) each
    const rotatedEven = tf.sub(tf.mul(even, cos), tf.mul(odd, sin));
    const rotatedOdd = tf.add(tf.mul(odd, cos), tf.mul(even, sin));
    return tf.reshape(tf.transpose(tf.stack([rotatedEven, rotatedOdd]), [1, 2, 3, 0]), [b, t, w]);
  });
}
