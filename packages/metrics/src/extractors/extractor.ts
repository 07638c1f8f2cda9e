import { tf } from '@difflab/core-tensor';
import { MetricInputError } from '../errors.js';
import type { FeatureMatrix } from '../features.js';
import { StreamingMoments, type GaussianStats } from '../fid/moments.js';

/**
 * A network that maps images to feature vectors: Inception-v3 pool3 for FID, the project's
 * Fashion-MNIST network for FID-FMNIST, or any user network with the same contract.
 */
export interface FeatureExtractor {
  readonly name: string;
  /** Width of each feature vector. */
  readonly dim: number;
  /** NHWC float32 images in [0, 1] (1 or 3 channels) → [N, dim] features. The caller owns the result. */
  extract(images: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export type ImageBatches = Iterable<tf.Tensor4D> | AsyncIterable<tf.Tensor4D>;

/** Streams batches through an extractor into float64 mean/covariance; batches are disposed after use. */
export async function extractorStats(extractor: FeatureExtractor, batches: ImageBatches): Promise<GaussianStats> {
  const moments = new StreamingMoments(extractor.dim);
  for await (const images of batches) {
    const feats = extractor.extract(images);
    images.dispose();
    const [rows] = feats.shape;
    moments.update(await feats.data(), rows);
    feats.dispose();
  }
  return moments.stats();
}

/** All features of the batches in memory (for CKNNA, CKA, mutual-kNN and probing). */
export async function extractFeatures(extractor: FeatureExtractor, batches: ImageBatches): Promise<FeatureMatrix> {
  const parts: Float32Array[] = [];
  let rows = 0;
  for await (const images of batches) {
    const feats = extractor.extract(images);
    images.dispose();
    parts.push((await feats.data()) as Float32Array);
    rows += feats.shape[0];
    feats.dispose();
  }
  if (rows === 0) throw new MetricInputError(`extractFeatures: no images given to ${extractor.name}`);
  const data = new Float32Array(rows * extractor.dim);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { rows, dim: extractor.dim, data };
}
