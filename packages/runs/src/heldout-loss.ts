import { Rng, tf } from '@difflab/core-tensor';
import { type DenoiseFn, type NoiseSchedule, addNoise } from '@difflab/models';
import { epsilonMse } from '@difflab/losses';
import { sequentialFloatBatches, type FloatImageSplit } from './dataset.js';

export interface HeldOutLossOptions {
  /** How many test images, taken in file order. */
  examples: number;
  /** Fractions of T at which the loss is measured (e.g. 0.1 → t = 0.1·T). */
  timestepFractions: number[];
  batchSize: number;
  /** Seed of the fixed noise: the same for every run so losses compare across runs. */
  noiseSeed: number;
}

export const DEFAULT_HELDOUT: HeldOutLossOptions = {
  examples: 1000,
  timestepFractions: [0.05, 0.25, 0.5, 0.75, 0.95],
  batchSize: 100,
  noiseSeed: 20240101,
};

/**
 * ε-prediction MSE on held-out images at fixed timesteps and fixed noise. Unlike the training
 * loss (random t, random noise), it is a deterministic function of the weights, so runs of
 * different sizes and lengths can be compared and fitted.
 */
export function heldOutLoss(
  model: DenoiseFn,
  split: FloatImageSplit,
  schedule: NoiseSchedule,
  opts: HeldOutLossOptions,
): { mean: number; perTimestep: { t: number; loss: number }[] } {
  const ts = opts.timestepFractions.map((f) => Math.min(schedule.numTimesteps - 1, Math.round(f * schedule.numTimesteps)));
  const sums = new Float64Array(ts.length);
  const rng = new Rng(opts.noiseSeed);
  let seen = 0;
  for (const batch of sequentialFloatBatches(split, opts.batchSize)) {
    if (seen >= opts.examples) break;
    const n = Math.min(batch.shape[0], opts.examples - seen);
    const [, h, w, c] = batch.shape;
    ts.forEach((t, k) => {
      const noiseArr = rng.normalArray(n * h * w * c);
      const loss = tf.tidy(() => {
        const x0 = tf.tensor4d(batch.x.subarray(0, n * h * w * c), [n, h, w, c]);
        const y = tf.tensor1d(batch.y.subarray(0, n), 'int32');
        const noise = tf.tensor4d(noiseArr, [n, h, w, c]);
        const xt = addNoise(schedule, x0, noise, new Int32Array(n).fill(t)) as tf.Tensor4D;
        return epsilonMse(model(xt, tf.fill([n], t, 'float32') as tf.Tensor1D, y), noise);
      });
      sums[k] += loss.dataSync()[0]! * n;
      loss.dispose();
    });
    seen += n;
  }
  const perTimestep = ts.map((t, k) => ({ t, loss: sums[k]! / seen }));
  return { mean: perTimestep.reduce((s, p) => s + p.loss, 0) / ts.length, perTimestep };
}
