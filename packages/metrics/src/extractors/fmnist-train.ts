import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backendInfo, Rng, tf, writeFileAtomic } from '@difflab/core-tensor';
import { loadFashionMnist, sequentialBatches, type ImageSplit } from '@difflab/data';
import { MetricInputError } from '../errors.js';
import { frechetDistance } from '../fid/frechet.js';
import type { GaussianStats } from '../fid/moments.js';
import { saveStats } from '../fid/stats-file.js';
import { extractorStats } from './extractor.js';
import { fmnistAccuracy, FmnistFeatureNet, trainFmnistFeatureNet, type TrainFeatureNetOptions } from './fmnist-net.js';

export type FeatureNetConfig = Omit<TrainFeatureNetOptions, 'log' | 'logEvery'>;

/** What the train target records next to the weights. */
export interface FeatureNetReport {
  config: FeatureNetConfig;
  backend: string;
  trainSeconds: number;
  testAccuracy: number;
  /** FID-FMNIST of the real training set against the real test set: the best a generator can hope for. */
  fidTrainVsTest: number;
  /** FID-FMNIST of uniform-noise images against the real test set. */
  fidNoiseVsTest: number;
}

export function readFeatureNetConfig(path: string): FeatureNetConfig {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const num = (k: string, what: string, ok: (v: number) => boolean) => {
    const v = raw[k];
    if (typeof v !== 'number' || !ok(v)) throw new MetricInputError(`${path}: '${k}' must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  };
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  return {
    epochs: num('epochs', 'a positive integer', positiveInt),
    batchSize: num('batchSize', 'a positive integer', positiveInt),
    lr: num('lr', 'a number > 0', (v) => v > 0),
    weightDecay: num('weightDecay', 'a number ≥ 0', (v) => v >= 0),
    seed: num('seed', 'a non-negative integer', (v) => Number.isInteger(v) && v >= 0),
  };
}

function* imageBatches(split: ImageSplit, batchSize: number): Generator<tf.Tensor4D> {
  // The data package scales to [−1, 1]; extractors take [0, 1].
  for (const b of sequentialBatches(split, batchSize)) yield tf.tidy(() => tf.div(tf.add(tf.tensor4d(b.x, b.shape), 1), 2) as tf.Tensor4D);
}

function* noiseBatches(count: number, batchSize: number, seed: number): Generator<tf.Tensor4D> {
  const rng = new Rng(seed);
  for (let at = 0; at < count; at += batchSize) yield rng.uniformTensor([Math.min(batchSize, count - at), 28, 28, 1], 0, 1) as tf.Tensor4D;
}

/**
 * Trains the network, then writes `<outDir>/fmnist-featurenet.safetensors`, the reference
 * statistics of the real splits in its feature space (`fmnist-test-stats.npz`,
 * `fmnist-train-stats.npz`, for FID-FMNIST of generated samples) and `report.json` (test
 * accuracy, FID floor and noise ceiling).
 */
export async function runFeatureNetTraining(config: FeatureNetConfig, outDir: string, log: (line: string) => void): Promise<FeatureNetReport> {
  const data = loadFashionMnist();
  const started = performance.now();
  const net = await trainFmnistFeatureNet(data.train, { ...config, log, logEvery: 100 });
  const trainSeconds = (performance.now() - started) / 1000;
  const testAccuracy = fmnistAccuracy(net, data.test);
  log(`test accuracy ${(100 * testAccuracy).toFixed(2)}%`);
  const stats = async (batches: Iterable<tf.Tensor4D>): Promise<GaussianStats> => extractorStats(net, batches);
  const test = await stats(imageBatches(data.test, 500));
  const train = await stats(imageBatches(data.train, 500));
  const noise = await stats(noiseBatches(data.test.count, 500, config.seed + 2));
  const report: FeatureNetReport = {
    config,
    backend: backendInfo()?.name ?? tf.getBackend(),
    trainSeconds,
    testAccuracy,
    fidTrainVsTest: frechetDistance(test, train),
    fidNoiseVsTest: frechetDistance(test, noise),
  };
  log(`FID-FMNIST train vs test ${report.fidTrainVsTest.toFixed(3)}, noise vs test ${report.fidNoiseVsTest.toFixed(1)}`);
  await net.save(join(outDir, 'fmnist-featurenet.safetensors'), { testAccuracy: String(testAccuracy), seed: String(config.seed) });
  await saveStats(join(outDir, 'fmnist-test-stats.npz'), test);
  await saveStats(join(outDir, 'fmnist-train-stats.npz'), train);
  await writeFileAtomic(join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  net.dispose();
  return report;
}
