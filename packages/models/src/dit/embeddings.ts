import * as tf from '@tensorflow/tfjs-core';

/**
 * Fixed 2-D sin-cos positional embedding as in DiT/MAE, row-major over the token grid.
 * Token n = i·gridSize + j (row i, column j) gets [sin(jω), cos(jω), sin(iω), cos(iω)],
 * ω_k = 10000^(−k/(dim/4)), k = 0..dim/4−1. Computed in float64.
 */
export function sincosPosEmbed2d(dim: number, gridSize: number): Float64Array {
  const quarter = dim / 4;
  const out = new Float64Array(gridSize * gridSize * dim);
  for (let i = 0; i < gridSize; i++) {
    for (let j = 0; j < gridSize; j++) {
      const row = (i * gridSize + j) * dim;
      for (let k = 0; k < quarter; k++) {
        const omega = Math.pow(10000, -k / quarter);
        out[row + k] = Math.sin(j * omega);
        out[row + quarter + k] = Math.cos(j * omega);
        out[row + 2 * quarter + k] = Math.sin(i * omega);
        out[row + 3 * quarter + k] = Math.cos(i * omega);
      }
    }
  }
  return out;
}

/**
 * Sinusoidal timestep features [cos(t·f_k), sin(t·f_k)], f_k = maxPeriod^(−k/half) (DiT/ADM order).
 * t may be fractional. Returns [B, dim].
 */
export function timestepFrequencies(t: tf.Tensor1D, dim: number, maxPeriod = 10000): tf.Tensor2D {
  return tf.tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = new Float32Array(half);
    for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(maxPeriod) * k) / half);
    const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half]));
    const emb = tf.concat([tf.cos(args), tf.sin(args)], 1);
    return (dim % 2 === 1 ? tf.pad(emb, [[0, 0], [0, 1]]) : emb) as tf.Tensor2D;
  });
}
