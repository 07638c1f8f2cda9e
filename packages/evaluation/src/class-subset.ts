import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadFashionMnist, type ImageSplit } from '@difflab/data';
import { extractFeatures, frechetDistance, gaussianStats, loadStats, precisionRecall, saveStats, FmnistFeatureNet, type FeatureMatrix, type GaussianStats } from '@difflab/metrics';
import { EvalError } from './errors.js';
import type { GeneratedSamples } from './generate.js';
import { imageBatches, realSample, type RealSample } from './real-sample.js';
import { PR_K, agreement, classifyImages, requireFeatureNet } from './score.js';
import { sha256File } from './reference.js';

const PIXELS = 784;

/** What one feature network says of the samples of some classes, against the real images of those classes only. */
export interface ClassSubsetScores {
  classes: number[];
  /** Samples scored (of the listed classes) = real training images of the floor and of precision/recall. */
  n: number;
  /** FID-FMNIST against the test images of `classes` only. */
  fid: number;
  /** FID of n real training images of `classes` (the first n/|classes| of each, split order) against the same reference. */
  fidFloor: number;
  precision: number;
  recall: number;
  /** Fraction of samples the feature network classifies as their label. */
  classAccuracy: number;
  /** Test images in the reference. */
  referenceImages: number;
}

/** The samples whose label is one of `classes`, in their order. Refuses unconditional samples. */
export function samplesOfClasses(samples: GeneratedSamples, classes: readonly number[]): GeneratedSamples & { labels: Int32Array } {
  if (samples.labels === null) throw new EvalError('samplesOfClasses: the samples are unconditional (labels null); class subsets need class-conditional samples');
  const keep: number[] = [];
  for (let i = 0; i < samples.count; i++) if (classes.includes(samples.labels[i]!)) keep.push(i);
  const images = new Float32Array(keep.length * PIXELS);
  keep.forEach((from, to) => images.set(samples.images.subarray(from * PIXELS, (from + 1) * PIXELS), to * PIXELS));
  return { images, labels: Int32Array.from(keep, (i) => samples.labels![i]!), count: keep.length };
}

/**
 * Images of `classes` from a split in [0, 1]: the first `perClass` of each (split order, class-major in the listed
 * order; realSample's pick), or all of them when perClass is undefined (split order).
 */
export function splitImagesOfClasses(split: ImageSplit, classes: readonly number[], perClass?: number): RealSample {
  if (perClass !== undefined) return realSample(perClass, classes, split);
  const pixels = split.height * split.width;
  const order: number[] = [];
  for (let i = 0; i < split.count; i++) if (classes.includes(split.labels[i]!)) order.push(i);
  const images = new Float32Array(order.length * pixels);
  order.forEach((from, to) => {
    for (let p = 0; p < pixels; p++) images[to * pixels + p] = split.images[from * pixels + p]! / 255;
  });
  return { images, labels: Int32Array.from(order, (i) => split.labels[i]!), count: order.length };
}

/** Features of [count, 28, 28, 1] images in [0, 1]. */
export async function featuresOf(net: FmnistFeatureNet, images: Float32Array, count: number, batchSize = 100): Promise<FeatureMatrix> {
  return extractFeatures(net, imageBatches(images, count, batchSize));
}

const statsOf = (f: FeatureMatrix): GaussianStats => gaussianStats(f.data, f.rows, f.dim);

/**
 * Scores the samples of `classes` as scoreSamples scores all of them, but against those classes' real images only:
 * FID against the test images of `classes` (cached next to the feature network, named by its hash and the
 * classes), its floor at the same N from the first N/|classes| training images of each class, precision/recall
 * against those, class accuracy. Needed where a model is judged on some classes only (the old classes of an
 * adapted model): the 10-class reference would count the missing class as a fault of every sample.
 * The samples of `classes` must be class-balanced (as generateSamples draws them).
 */
export async function scoreClassSubset(
  samples: GeneratedSamples,
  featureNetPath: string,
  classes: readonly number[],
  opts: { batchSize?: number; log?: (line: string) => void } = {},
): Promise<ClassSubsetScores> {
  const batchSize = opts.batchSize ?? 100;
  if (classes.length === 0 || new Set(classes).size !== classes.length || classes.some((c) => !Number.isInteger(c) || c < 0 || c > 9)) {
    throw new EvalError(`classes must be distinct Fashion-MNIST labels 0..9, got [${classes.join(', ')}]`);
  }
  const sub = samplesOfClasses(samples, classes);
  const perClass = sub.count / classes.length;
  const counts = classes.map((c) => sub.labels.filter((l) => l === c).length);
  if (counts.some((k) => k !== perClass) || perClass < 2) {
    throw new EvalError(`the samples of classes [${classes.join(', ')}] must be class-balanced with ≥ 2 per class (got ${counts.join(', ')}); draw them with generateSamples`);
  }
  const path = requireFeatureNet(featureNetPath);
  const sha = sha256File(path);
  const net = await FmnistFeatureNet.load(path);
  try {
    const data = loadFashionMnist();
    const statsPath = join(dirname(path), `fmnist-test-classes-${[...classes].sort((a, b) => a - b).join('')}-stats-${sha.slice(0, 16)}.npz`);
    let reference: GaussianStats;
    if (existsSync(statsPath)) reference = loadStats(statsPath);
    else {
      const test = splitImagesOfClasses(data.test, classes);
      reference = statsOf(await featuresOf(net, test.images, test.count, batchSize));
      await saveStats(statsPath, reference);
      opts.log?.(`reference statistics of the test images of classes [${classes.join(', ')}] (${test.count}) computed into ${statsPath}`);
    }
    const real = splitImagesOfClasses(data.train, classes, perClass);
    const gen = await featuresOf(net, sub.images, sub.count, batchSize);
    const realF = await featuresOf(net, real.images, real.count, batchSize);
    const { precision, recall } = precisionRecall(realF, gen, { k: PR_K });
    return {
      classes: [...classes],
      n: sub.count,
      fid: frechetDistance(reference, statsOf(gen)),
      fidFloor: frechetDistance(reference, statsOf(realF)),
      precision,
      recall,
      classAccuracy: agreement(classifyImages(net, sub.images, sub.count, batchSize), sub.labels),
      referenceImages: reference.count ?? Number.NaN,
    };
  } finally {
    net.dispose();
  }
}
