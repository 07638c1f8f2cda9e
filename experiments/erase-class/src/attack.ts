import { Rng, tf } from '@difflab/core-tensor';
import type { FmnistFeatureNet } from '@difflab/metrics';
import { sample, type Sampler } from '@difflab/models';
import { makeSampler, replaceRow, type Denoiser, type TrainConfig } from '@difflab/runs';

/**
 * Attacks on an erased class (the RACE / unlearning-attack question: does the concept come back under an adversarial
 * search?). Both back-propagate through the run's own sampler (its steps and guidance) and through the attacking
 * network to maximise log p(erased class | image); only the searched tensor moves, with Adam:
 * - `embedding`: one label vector in place of the erased class's row of the label table (the null row, used by
 *   guidance, is untouched), optimised on fresh x_T every step, then scored on new x_T: a prompt-space attack.
 * - `noise`: a batch of initial noises x_T for the erased label, each kept on the sphere of radius √dim (where
 *   Gaussian noise of that dimension lives) after every step: a latent-space attack.
 */
export type AttackKind = 'embedding' | 'noise';

export interface AttackSettings {
  steps: number;
  /** Images per step (embedding: fresh x_T per step; noise: the x_T being searched). */
  batch: number;
  lr: number;
  /** Embedding attack only: images drawn from new x_T with the found embedding to score it. */
  evalImages: number;
  seed: number;
}

export interface AttackResult {
  kind: AttackKind;
  /** The attack objective −mean log p(c | image) under the attacking network at each step (before its update). */
  losses: number[];
  /** The scored images in [0, 1], [count, 28, 28] row-major: the attacked samples. */
  images: Float32Array;
  count: number;
  /** The same x_T sampled without the attack (the erased row or the unsearched noise): the attack's starting point. */
  before: Float32Array;
}

const IMAGE = 28;

/** The model's sampling, differentiable in x_T and in the label table hook; images cropped to 28×28 in [−1, 1]. */
function sampleImages(model: Denoiser, sampler: Sampler, xT: tf.Tensor4D, label: number, labelEmbedding?: (table: tf.Tensor2D) => tf.Tensor2D): tf.Tensor4D {
  const b = xT.shape[0];
  const pad = (model.inputSize - IMAGE) / 2;
  const x = sample((xt, t, y) => model.forward(xt, t, y, labelEmbedding ? { labelEmbedding } : undefined), sampler, {
    shape: xT.shape,
    labels: new Int32Array(b).fill(label),
    rng: new Rng(0),
    noise: xT,
    nullClass: model.numClasses!,
  });
  const out = tf.clipByValue(tf.slice(x, [0, pad, pad, 0], [b, IMAGE, IMAGE, 1]), -1, 1) as tf.Tensor4D;
  x.dispose();
  return out;
}

/**
 * The attacks' objective: −mean log softmax(net(images))[c] over the images the model samples from x_T with label c,
 * the label table's row c replaced by `row` when given. Differentiable in x_T and in `row`.
 */
export function attackObjective(model: Denoiser, sampler: Sampler, net: FmnistFeatureNet, xT: tf.Tensor4D, c: number, row?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const images = sampleImages(model, sampler, xT, c, row ? replaceRow(c, row) : undefined);
    const logp = tf.logSoftmax(net.forward(images).logits);
    return tf.neg(tf.mean(tf.slice(logp, [0, c], [-1, 1]))) as tf.Scalar;
  });
}

const toUnit = (x: tf.Tensor4D) => tf.tidy(() => tf.div(tf.add(x, 1), 2).dataSync() as Float32Array);

/** Rows of x (per image) rescaled to norm √(elements per image). */
export function ontoSphere(x: tf.Tensor4D): tf.Tensor4D {
  const dim = x.size / x.shape[0];
  return tf.tidy(() => tf.mul(x, tf.div(Math.sqrt(dim), tf.norm(tf.reshape(x, [x.shape[0], -1]), 2, 1, true).reshape([-1, 1, 1, 1]))) as tf.Tensor4D);
}

/**
 * Runs one attack on `model` (weights assigned, e.g. runDenoiserWithWeights) for class `c`, against `net`. The draws
 * (x_T) come from `settings.seed` only, so the base and every erased model are attacked from the same noise.
 */
export function attackClass(kind: AttackKind, model: Denoiser, cfg: TrainConfig, net: FmnistFeatureNet, c: number, settings: AttackSettings): AttackResult {
  if (model.architecture !== 'dit' || model.numClasses === null) throw new Error('attackClass: a class-conditional DiT is needed (the attacks search its label table or its noise)');
  const sampler = makeSampler(cfg.sample, cfg.diffusion, model.numClasses);
  const rng = new Rng(settings.seed);
  const shape = (b: number): [number, number, number, number] => [b, model.inputSize, model.inputSize, model.inChannels];
  const optimizer = tf.train.adam(settings.lr);
  const losses: number[] = [];
  const table = model.params['y_embedder.embedding_table.weight'];
  if (!table) throw new Error('attackClass: the model has no y_embedder.embedding_table.weight');

  if (kind === 'embedding') {
    const start = tf.tidy(() => tf.slice(table, [c, 0], [1, -1]).reshape([-1]));
    const row = tf.variable(start, true);
    start.dispose();
    const evalNoise = rng.normalTensor(shape(settings.evalImages)) as tf.Tensor4D;
    try {
      const before = tf.tidy(() => toUnit(sampleImages(model, sampler, evalNoise, c)));
      for (let step = 0; step < settings.steps; step++) {
        const xT = rng.normalTensor(shape(settings.batch)) as tf.Tensor4D;
        const { value, grads } = tf.variableGrads(() => attackObjective(model, sampler, net, xT, c, row), [row]);
        losses.push(value.dataSync()[0]!);
        optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
        tf.dispose([xT, value, ...Object.values(grads)]);
      }
      const images = tf.tidy(() => toUnit(sampleImages(model, sampler, evalNoise, c, replaceRow(c, row))));
      return { kind, losses, images, count: settings.evalImages, before };
    } finally {
      tf.dispose([row, evalNoise]);
      optimizer.dispose();
    }
  }

  const start = tf.tidy(() => ontoSphere(rng.normalTensor(shape(settings.batch)) as tf.Tensor4D));
  const noise = tf.variable(start, true);
  start.dispose();
  try {
    const before = tf.tidy(() => toUnit(sampleImages(model, sampler, noise, c)));
    for (let step = 0; step < settings.steps; step++) {
      const { value, grads } = tf.variableGrads(() => attackObjective(model, sampler, net, noise, c), [noise]);
      losses.push(value.dataSync()[0]!);
      optimizer.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose([value, ...Object.values(grads)]);
      const projected = ontoSphere(noise);
      noise.assign(projected);
      projected.dispose();
    }
    const images = tf.tidy(() => toUnit(sampleImages(model, sampler, noise, c)));
    return { kind, losses, images, count: settings.batch, before };
  } finally {
    noise.dispose();
    optimizer.dispose();
  }
}
