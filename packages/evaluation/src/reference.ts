import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tf } from '@difflab/core-tensor';
import { loadFashionMnist, sequentialBatches, type ImageSplit } from '@difflab/data';
import { extractorStats, loadStats, saveStats, type FmnistFeatureNet, type GaussianStats } from '@difflab/metrics';

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * Where the statistics of the reference images live: next to the feature network, named by the
 * hash of its weight file, so a retrained network never reuses stale statistics and every run of
 * a sweep reuses the same file.
 */
export function referenceStatsPath(featureNetPath: string, featureNetSha256: string, limit: number | undefined): string {
  const subset = limit === undefined ? '' : `-first${limit}`;
  return join(dirname(featureNetPath), `fmnist-test${subset}-stats-${featureNetSha256.slice(0, 16)}.npz`);
}

export interface ReferenceStats {
  stats: GaussianStats;
  path: string;
  /** False when this call computed the statistics (and wrote the file). */
  reused: boolean;
}

function* unitBatches(split: ImageSplit, count: number, batchSize: number): Generator<tf.Tensor4D> {
  const head: ImageSplit = { ...split, count, images: split.images.subarray(0, count * split.height * split.width), labels: split.labels.subarray(0, count) };
  // The data package scales to [−1, 1]; the feature network takes [0, 1].
  for (const b of sequentialBatches(head, batchSize)) yield tf.tidy(() => tf.div(tf.add(tf.tensor4d(b.x, b.shape), 1), 2) as tf.Tensor4D);
}

/** FID reference: the Fashion-MNIST test split (or its first `limit` images) in the feature network's space, cached as .npz. */
export async function fmnistReferenceStats(net: FmnistFeatureNet, path: string, limit: number | undefined, batchSize: number): Promise<ReferenceStats> {
  if (existsSync(path)) return { stats: loadStats(path), path, reused: true };
  const test = loadFashionMnist().test;
  const stats = await extractorStats(net, unitBatches(test, Math.min(limit ?? test.count, test.count), batchSize));
  await saveStats(path, stats);
  return { stats, path, reused: false };
}
