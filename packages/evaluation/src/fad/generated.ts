import { Rng, tf } from '@difflab/core-tensor';
import { sample } from '@difflab/models';
import { EvalError } from '../errors.js';
import { EVAL_SAMPLE_SEED } from '../generate.js';
import { loadRun, makeSampler, runDenoiserWithWeights, type WeightsKind } from '@difflab/runs';
import { fadOfSpectrograms, type SpectrogramFadReference } from './spectrogram-fad.js';

export interface RunSpectrogramFad {
  fad: number;
  count: number;
  step: number;
  checkpointDir: string;
}

/**
 * FAD of a training run's spectrograms: `count` samples from the latest checkpoint with the run's
 * sampler settings (digits in turn for a conditional model; noise from EVAL_SAMPLE_SEED, so every checkpoint is scored on
 * the same draws) against the reference's test voices. The model must make 64 × 64 × 1 images.
 */
export async function fadOfRun(runDir: string, ref: SpectrogramFadReference, opts: { count: number; batchSize: number; weights: WeightsKind }): Promise<RunSpectrogramFad> {
  const run = await loadRun(runDir, opts.weights);
  const model = runDenoiserWithWeights(run.config, run.weights);
  try {
    const { height, width } = ref.data.test;
    if (model.inputSize !== height || model.inputSize !== width || model.inChannels !== 1) {
      throw new EvalError(`${runDir}: the model makes ${model.inputSize}×${model.inputSize}×${model.inChannels} images; spectrogram FAD needs ${height}×${width}×1 (a UNet-SpokenDigits-* preset)`);
    }
    const sampler = makeSampler(run.config.sample, run.config.diffusion, model.numClasses);
    const rng = new Rng(EVAL_SAMPLE_SEED);
    const size = height * width;
    const images = new Float32Array(opts.count * size);
    for (let at = 0; at < opts.count; at += opts.batchSize) {
      const b = Math.min(opts.batchSize, opts.count - at);
      // A digit-conditional model is sampled with every digit in turn, guided as the run's grids are.
      const labels = Int32Array.from({ length: b }, (_, j) => (model.numClasses === null ? 0 : (at + j) % model.numClasses));
      const nullClass = model.numClasses === null ? {} : { nullClass: model.numClasses };
      const x = sample((xt, t, y) => model.forward(xt, t, y), sampler, { shape: [b, height, width, 1], labels, rng, ...nullClass });
      images.set(tf.tidy(() => tf.clipByValue(x, -1, 1).dataSync() as Float32Array), at * size);
      x.dispose();
    }
    const fad = await fadOfSpectrograms(images, { embedder: ref.embedder, normalization: ref.data.normalization, reference: ref.stats });
    return { fad, count: opts.count, step: run.step, checkpointDir: run.checkpointDir };
  } finally {
    model.dispose();
    tf.dispose(Object.values(run.weights));
  }
}
