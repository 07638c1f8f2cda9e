import { Rng, tf } from '@difflab/core-tensor';
import { sample } from '@difflab/models';
import { makeSampler } from './diffusion-setup.js';
import type { Denoiser } from './model.js';
import type { TrainConfig } from './config.js';
import { writeImageGrid } from './image-grid.js';

/** Fixed seed of the sampling noise, so grids from different steps and runs are comparable. */
const SAMPLE_SEED = 1234;

/**
 * Samples `perClass` images of every class (one class per grid row) with the run's sampler
 * (classifier-free guidance at sample.cfgScale) and writes them as a PNG grid; an unconditional model fills 10 rows without guidance.
 */
export function writeClassGrid(path: string, model: Denoiser, diffusion: TrainConfig['diffusion'], cfg: TrainConfig['sample']): void {
  const { numClasses, inputSize, inChannels } = model;
  const rows = numClasses ?? 10;
  const labels = Array.from({ length: rows * cfg.perClass }, (_, i) => (numClasses === null ? 0 : Math.floor(i / cfg.perClass)));
  const x = sample((xt, t, y) => model.forward(xt, t, y), makeSampler(cfg, diffusion, numClasses), {
    shape: [labels.length, inputSize, inputSize, inChannels],
    labels,
    rng: new Rng(SAMPLE_SEED),
    ...(numClasses === null ? {} : { nullClass: numClasses }),
  });
  const data = x.dataSync() as Float32Array;
  x.dispose();
  writeImageGrid(path, { data, n: labels.length, height: inputSize, width: inputSize, channels: inChannels as 1 | 3 }, cfg.perClass);
}

/** Runs fn with the model's weights temporarily replaced (e.g. by the EMA), then restores them. */
export function withWeights<T>(model: Denoiser, weights: Record<string, tf.Tensor>, fn: () => T): T {
  const saved = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, tf.clone(v)]));
  try {
    for (const [k, v] of Object.entries(weights)) model.params[k]!.assign(v);
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      model.params[k]!.assign(v);
      v.dispose();
    }
  }
}
