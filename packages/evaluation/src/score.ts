import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { extractFeatures, frechetDistance, gaussianStats, precisionRecall, FmnistFeatureNet, type FeatureMatrix, type FeatureNetReport } from '@difflab/metrics';
import { formatDuration } from '@difflab/runs';
import { EvalError } from './errors.js';
import type { GeneratedSamples } from './generate.js';
import { fmnistReferenceStats, referenceStatsPath, sha256File } from './reference.js';
import { imageBatches, realSample } from './real-sample.js';

/** Neighbourhood size of precision and recall: the paper's default. */
export const PR_K = 3;

export interface ScoreOptions {
  /** Images per feature batch; default 100. */
  batchSize?: number;
  /** FID reference = the first this many test images; default the whole test split (10 000). */
  referenceImages?: number;
  log?: (line: string) => void;
}

/** What one feature network says of a set of samples. */
export interface SampleScores {
  featureNet: string;
  featureNetSha256: string;
  /** Samples scored (= the real images of the floor and of precision/recall). */
  n: number;
  /** FID-FMNIST of the samples against the reference. */
  fid: number;
  /**
   * FID-FMNIST of n real training images (class-balanced as the samples) against the same reference:
   * what a perfect generator scores at this n, since FID is biased upwards at small n.
   */
  fidFloor: number;
  /** Improved precision and recall (Kynkäänniemi et al. 2019, k = 3) of the samples against the same n real images. */
  precision: number;
  recall: number;
  /** Fraction of conditional samples the feature network classifies as their label; null for unconditional models. */
  classAccuracy: number | null;
  /** From the feature network's report.json when present: real train-vs-test FID and its test accuracy. */
  realDataFloor: { fidTrainVsTest: number; testAccuracy: number } | null;
  reference: { path: string; reused: boolean; images: number | null };
}

/** The feature network's absolute path; refused, before any work, when it is not there. */
export function requireFeatureNet(path: string): string {
  const featureNet = resolve(path);
  if (!existsSync(featureNet)) {
    throw new EvalError(`feature network ${featureNet} not found; make it with: npx nx run fmnist-featurenet:train (or pass --feature-net PATH)`);
  }
  return featureNet;
}

/**
 * Scores samples with one Fashion-MNIST feature network: FID-FMNIST and its floor at the same N, precision,
 * recall and the class accuracy of conditional samples. `evaluate()` calls it with the default network; a
 * study calls it again on the same samples with an independently trained one, so a gain that only one
 * network sees shows as such.
 */
export async function scoreSamples(samples: GeneratedSamples, featureNetPath: string, opts: ScoreOptions = {}): Promise<SampleScores> {
  const batchSize = opts.batchSize ?? 100;
  const log = opts.log ?? (() => undefined);
  const featureNet = requireFeatureNet(featureNetPath);
  const featureNetSha256 = sha256File(featureNet);
  const net = await FmnistFeatureNet.load(featureNet);
  try {
    const statsPath = referenceStatsPath(featureNet, featureNetSha256, opts.referenceImages);
    const reference = await fmnistReferenceStats(net, statsPath, opts.referenceImages, 500);
    log(`reference statistics ${reference.reused ? 'reused from' : 'computed into'} ${statsPath}`);
    const real = realSample(samples.count / 10);
    const generatedFeatures = await extractFeatures(net, imageBatches(samples.images, samples.count, batchSize));
    const realFeatures = await extractFeatures(net, imageBatches(real.images, real.count, batchSize));
    const t0 = performance.now();
    const { precision, recall } = precisionRecall(realFeatures, generatedFeatures, { k: PR_K });
    log(`precision and recall (k = ${PR_K}, ${samples.count} vs ${real.count} images): done in ${formatDuration((performance.now() - t0) / 1000)}`);
    return {
      featureNet,
      featureNetSha256,
      n: samples.count,
      fid: frechetDistance(reference.stats, statsOf(generatedFeatures)),
      fidFloor: frechetDistance(reference.stats, statsOf(realFeatures)),
      precision,
      recall,
      classAccuracy: samples.labels === null ? null : agreement(classifyImages(net, samples.images, samples.count, batchSize), samples.labels),
      realDataFloor: readFloor(featureNet),
      reference: { path: reference.path, reused: reference.reused, images: reference.stats.count ?? null },
    };
  } finally {
    net.dispose();
  }
}

function statsOf(f: FeatureMatrix) {
  return gaussianStats(f.data, f.rows, f.dim);
}

/** Fraction of predictions equal to the labels. */
export function agreement(predicted: Int32Array, labels: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) hits++;
  return hits / predicted.length;
}

/** Predicted class of each image ([count, 28, 28, 1] in [0, 1]). */
export function classifyImages(net: FmnistFeatureNet, images: Float32Array, count: number, batchSize = 100): Int32Array {
  const out = new Int32Array(count);
  let at = 0;
  for (const batch of imageBatches(images, count, batchSize)) {
    out.set(net.classify(batch), at);
    at += batch.shape[0];
    batch.dispose();
  }
  return out;
}

function readFloor(featureNet: string): SampleScores['realDataFloor'] {
  const path = join(dirname(featureNet), 'report.json');
  if (!existsSync(path)) return null;
  const report = JSON.parse(readFileSync(path, 'utf8')) as Partial<FeatureNetReport>;
  if (typeof report.fidTrainVsTest !== 'number' || typeof report.testAccuracy !== 'number') return null;
  return { fidTrainVsTest: report.fidTrainVsTest, testAccuracy: report.testAccuracy };
}
