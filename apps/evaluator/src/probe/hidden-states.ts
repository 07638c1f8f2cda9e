import { type Rng, tf } from '@difflab/core-tensor';
import { makeBatch, type ImageSplit } from '@difflab/data';
import { meanPoolTokens, type FeatureMatrix } from '@difflab/metrics';
import { addNoise, type DiT, type NoiseSchedule } from '@difflab/models';

export interface HiddenStateOptions {
  schedule: NoiseSchedule;
  timestep: number;
  /** Block indices whose outputs are kept, in the order returned. */
  layers: number[];
  /** Pixels of -1 around each 28×28 image, as in training (data.pad32 → 2). */
  padding: number;
  /** Source of the forward-process noise: each example draws its H·W normals in turn. */
  noise: Rng;
  batchSize: number;
}

/**
 * Mean-pooled block outputs of the DiT on x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε for examples `indices` of
 * `split`, with every label the null class: the probe then reads what the network extracts from
 * the noisy image, not the class embedding (so the model needs one: classDropoutProb > 0). One
 * [indices.length × hiddenSize] matrix per layer.
 */
export function pooledBlockFeatures(dit: DiT, split: ImageSplit, indices: Int32Array, opts: HiddenStateOptions): FeatureMatrix[] {
  const { hiddenSize: d, numClasses } = dit.config;
  const n = indices.length;
  const out = opts.layers.map(() => new Float64Array(n * d));
  const slot = new Map(opts.layers.map((layer, k) => [layer, k]));
  for (let at = 0; at < n; at += opts.batchSize) {
    const batch = makeBatch(split, indices.subarray(at, Math.min(n, at + opts.batchSize)), { padding: opts.padding });
    const [b, h, w] = batch.shape;
    const noise = new Float32Array(b * h * w);
    for (let i = 0; i < b; i++) noise.set(opts.noise.normalArray(h * w), i * h * w);
    tf.tidy(() => {
      const x0 = tf.tensor4d(batch.x, batch.shape);
      const xt = addNoise(opts.schedule, x0, tf.tensor4d(noise, batch.shape), new Array<number>(b).fill(opts.timestep)) as tf.Tensor4D;
      const t = tf.fill([b], opts.timestep, 'float32') as tf.Tensor1D;
      const y = tf.fill([b], numClasses, 'int32') as tf.Tensor1D;
      dit.forward(xt, t, y, {
        onBlock: (index, tokens) => {
          const k = slot.get(index);
          if (k === undefined) return;
          const [, tokenCount] = tokens.shape;
          out[k]!.set(meanPoolTokens(tokens.dataSync(), b, tokenCount, d).data as Float64Array, at * d);
        },
      });
    });
  }
  return out.map((data) => ({ rows: n, dim: d, data }));
}
