import { Rng, tf } from '@difflab/core-tensor';
import { type DenoiseFn, type DiffusionProcess, FLOW_TIME_SCALE, addNoise, flowInterpolate } from '@difflab/models';
import { epsilonMse, flowVelocity, vTarget } from '@difflab/losses';
import { sequentialFloatBatches, type FloatImageSplit } from './dataset.js';

export interface HeldOutLossOptions {
  /** How many test images, taken in file order. */
  examples: number;
  /** ddpm: fractions of T at which the loss is measured (e.g. 0.1 → t = round(0.1·T)); flow: the times t themselves. */
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
 * The training target of `process` (the samplers' DiffusionProcess, e.g. runs' processFor(cfg.diffusion)),
 * as an MSE on held-out images at fixed times and fixed noise: ε-MSE (ddpm, ε-prediction),
 * v-MSE with v = √ᾱ_t·ε − √(1−ᾱ_t)·x (ddpm, v-prediction), or velocity MSE with v = ε − x at
 * x_t = (1 − t)·x + t·ε, t = each fraction, fed to the model as FLOW_TIME_SCALE·t (flow). The noise is
 * the same for every process: per batch, per fraction, one rng.normalArray from `noiseSeed`. Unlike the
 * training loss (random t, random noise), it is a deterministic function of the weights, so runs of
 * different sizes and lengths can be compared and fitted. perTimestep[k].t is the integer timestep
 * (ddpm) or the time t (flow).
 */
export function heldOutLoss(
  model: DenoiseFn,
  split: FloatImageSplit,
  process: DiffusionProcess,
  opts: HeldOutLossOptions,
): { mean: number; perTimestep: { t: number; loss: number }[] } {
  const ts =
    process.kind === 'flow'
      ? [...opts.timestepFractions]
      : opts.timestepFractions.map((f) => Math.min(process.schedule.numTimesteps - 1, Math.round(f * process.schedule.numTimesteps)));
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
        if (process.kind === 'flow') {
          const xt = flowInterpolate(x0, noise, new Float64Array(n).fill(t));
          const out = model(xt, tf.fill([n], FLOW_TIME_SCALE * t, 'float32') as tf.Tensor1D, y);
          return tf.mean(tf.square(tf.sub(out, flowVelocity(x0, noise)))) as tf.Scalar;
        }
        const steps = new Int32Array(n).fill(t);
        const xt = addNoise(process.schedule, x0, noise, steps) as tf.Tensor4D;
        const out = model(xt, tf.fill([n], t, 'float32') as tf.Tensor1D, y);
        if (process.prediction === 'v') return tf.mean(tf.square(tf.sub(out, vTarget(process.schedule, x0, noise, steps)))) as tf.Scalar;
        return epsilonMse(out, noise);
      });
      sums[k] += loss.dataSync()[0]! * n;
      loss.dispose();
    });
    seen += n;
  }
  const perTimestep = ts.map((t, k) => ({ t, loss: sums[k]! / seen }));
  return { mean: perTimestep.reduce((s, p) => s + p.loss, 0) / ts.length, perTimestep };
}
