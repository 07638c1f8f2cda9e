import { Rng, tf } from '@difflab/core-tensor';
import { sample } from '@difflab/models';
import { makeSampler, runDenoiserWithWeights, type TrainConfig } from '@difflab/runs';
import { EvalError } from './errors.js';

/** Fixed seed of the evaluation noise: every run and checkpoint is scored on the same x_T draws. */
export const EVAL_SAMPLE_SEED = 20240202;

/** Fashion-MNIST's 28×28 images; runs trained with data.pad32 are cropped back to them. */
const IMAGE_SIZE = 28;

export interface GeneratedSamples {
  /** [count, 28, 28, 1] row-major, in [0, 1]. */
  images: Float32Array;
  /** The conditioning label of each sample; null for an unconditional model. */
  labels: Int32Array | null;
  count: number;
}

/**
 * Samples `perClass` images of each class (class-major order) with the run's sampler settings
 * and guidance scale; an unconditional model gives 10·perClass images. One noise stream seeded
 * by EVAL_SAMPLE_SEED runs through the batches in order, so the samples are a deterministic
 * function of the weights, the config, perClass and batchSize. `weights` are the run's trained tensors by
 * name (loadRun's): for a fine-tune run its adapter's, applied to the base its config's init.from names.
 */
export function generateSamples(
  cfg: TrainConfig,
  weights: Record<string, tf.Tensor>,
  perClass: number,
  batchSize: number,
  onBatch?: (done: number, total: number) => void,
): GeneratedSamples {
  // A fine-tune run's config rebuilds its base (init.from) and adapter; `weights` are then the adapter's tensors.
  const model = runDenoiserWithWeights(cfg, weights);
  try {
    const pad = (model.inputSize - IMAGE_SIZE) / 2;
    if (model.inChannels !== 1 || pad < 0 || !Number.isInteger(pad)) {
      throw new EvalError(`the feature network scores 28×28×1 images; this model makes ${model.inputSize}×${model.inputSize}×${model.inChannels}`);
    }
    const classes = model.numClasses ?? 10;
    const count = classes * perClass;
    const labels = Int32Array.from({ length: count }, (_, i) => (model.numClasses === null ? 0 : Math.floor(i / perClass)));
    const images = new Float32Array(count * IMAGE_SIZE * IMAGE_SIZE);
    const sampler = makeSampler(cfg.sample, cfg.diffusion, model.numClasses);
    const rng = new Rng(EVAL_SAMPLE_SEED);
    for (let at = 0; at < count; at += batchSize) {
      const b = Math.min(batchSize, count - at);
      const x = sample((xt, t, y) => model.forward(xt, t, y), sampler, {
        shape: [b, model.inputSize, model.inputSize, 1],
        labels: labels.subarray(at, at + b),
        rng,
        ...(model.numClasses === null ? {} : { nullClass: model.numClasses }),
      });
      const unit = tf.tidy(() => tf.clipByValue(tf.div(tf.add(tf.slice(x, [0, pad, pad, 0], [b, IMAGE_SIZE, IMAGE_SIZE, 1]), 1), 2), 0, 1));
      images.set(unit.dataSync() as Float32Array, at * IMAGE_SIZE * IMAGE_SIZE);
      tf.dispose([x, unit]);
      onBatch?.(at + b, count);
    }
    return { images, labels: model.numClasses === null ? null : labels, count };
  } finally {
    model.dispose();
  }
}
