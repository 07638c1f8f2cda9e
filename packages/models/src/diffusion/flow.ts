import * as tf from '@tensorflow/tfjs-core';

/**
 * Rectified flow (SiT's linear interpolant): x_t = (1 − t)·x + t·ε for t ∈ [0, 1], t = 0 the data and
 * t = 1 pure noise, with the velocity target v = dx_t/dt = ε − x. The network sees FLOW_TIME_SCALE·t so
 * that its sinusoidal timestep embedding spans the same range as for a 1000-step DDPM model.
 */
export const FLOW_TIME_SCALE = 1000;

/** x_t = (1 − t)·x + t·ε with one t per example (t: [B]). */
export function flowInterpolate(x: tf.Tensor4D, noise: tf.Tensor4D, t: ArrayLike<number>): tf.Tensor4D {
  return tf.tidy(() => {
    const tt = tf.tensor4d(Float32Array.from(t), [t.length, 1, 1, 1]);
    return tf.add(tf.mul(x, tf.sub(1, tt)), tf.mul(noise, tt)) as tf.Tensor4D;
  });
}
