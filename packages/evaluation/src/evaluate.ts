import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf } from '@difflab/core-tensor';
import { extractFeatures, frechetDistance, gaussianStats, precisionRecall, FmnistFeatureNet, type FeatureMatrix, type FeatureNetReport } from '@difflab/metrics';
import type { Tracker } from '@difflab/tracking';
import { Progress, formatDuration, writeImageGrid } from '@difflab/runs';
import { EvalError } from './errors.js';
import { writeEvalTable, type EvalMetricRow } from './eval-table.js';
import { generateSamples, type GeneratedSamples } from './generate.js';
import { fmnistReferenceStats, referenceStatsPath, sha256File } from './reference.js';
import { imageBatches, realSample } from './real-sample.js';
import { loadRun, samplerConfigFor, type TrainConfig, type WeightsKind } from '@difflab/runs';
import { logEvaluation, type TrackedEval } from './track.js';

/** The artifact of `nx run fmnist-featurenet:train`, found from this file so any working directory works. */
export const DEFAULT_FEATURE_NET = resolve(dirname(fileURLToPath(import.meta.url)), '../../../experiments/fmnist-featurenet/artifacts/fmnist-featurenet.safetensors');

export interface EvaluateOptions {
  /** Default DEFAULT_FEATURE_NET. */
  featureNet?: string;
  /** Default 100 (unconditional models: 10× this many images). */
  samplesPerClass?: number;
  /** Default 'ema', as DiT samples. */
  weights?: WeightsKind;
  /** Log to this tracker; omitted = not tracked. */
  tracker?: Tracker;
  /** Images per sampling and feature batch; default 100. */
  batchSize?: number;
  /** FID reference = the first this many test images; default the whole test split (10 000). */
  referenceImages?: number;
  log?: (line: string) => void;
  /** Where the sampling progress line (images, rate, ETA) goes; default stderr. */
  progressStream?: NodeJS.WriteStream;
}

export interface EvalResult {
  runDir: string;
  step: number;
  weights: WeightsKind;
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
  samples: GeneratedSamples;
  tablePath: string;
  samplesPath: string;
  tracked: TrackedEval | null;
}

const FMNIST_TRAIN = 60_000;
const FMNIST_TEST = 10_000;
/** The PNG shows at most this many samples per class: enough to judge, small enough to open. */
const GRID_COLUMNS = 10;
/** Neighbourhood size of precision and recall: the paper's default. */
const PR_K = 3;

/**
 * Scores a training run's latest checkpoint: generates samples with the run's own sampler
 * settings, computes FID-FMNIST and the class accuracy of conditional samples, writes
 * `<runDir>/eval/metrics.parquet` and `eval/samples.png`, and logs both metrics to the tracker.
 */
export async function evaluate(runDirArg: string, opts: EvaluateOptions = {}): Promise<EvalResult> {
  const runDir = resolve(runDirArg);
  const weightsKind = opts.weights ?? 'ema';
  const perClass = opts.samplesPerClass ?? 100;
  const batchSize = opts.batchSize ?? 100;
  const log = opts.log ?? (() => undefined);
  if (weightsKind !== 'ema' && weightsKind !== 'raw') throw new EvalError(`weights must be 'ema' or 'raw', got '${String(weightsKind)}'`);
  for (const [name, v] of [['samplesPerClass', perClass], ['batchSize', batchSize], ['referenceImages', opts.referenceImages ?? 1]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new EvalError(`${name} must be a positive integer, got ${v}`);
  }
  const featureNet = resolve(opts.featureNet ?? DEFAULT_FEATURE_NET);
  if (!existsSync(featureNet)) {
    throw new EvalError(`feature network ${featureNet} not found; make it with: npx nx run fmnist-featurenet:train (or pass --feature-net PATH)`);
  }
  // The backend first: tensors made before it would sit on tfjs's default cpu backend and be copied over.
  await initBackend();
  const run = await loadRun(runDir, weightsKind);

  const timed = <T>(label: string, f: () => T): T => {
    const t0 = performance.now();
    log(`${label}…`);
    const out = f();
    log(`${label}: done in ${formatDuration((performance.now() - t0) / 1000)}`);
    return out;
  };
  let samples: GeneratedSamples;
  // Conditional or not, an evaluation draws 10 · perClass images (generateSamples); the line counts images.
  const sampling = new Progress(10 * perClass, 0, batchSize, opts.progressStream);
  try {
    samples = timed(`sampling ${perClass} images per class from step ${run.step} (${weightsKind} weights, ${samplerLabel(run.config)})`, () =>
      generateSamples(run.config, run.weights, perClass, batchSize, (done) => sampling.update(done, {})),
    );
  } finally {
    tf.dispose(Object.values(run.weights));
  }

  const featureNetSha256 = sha256File(featureNet);
  const net = await FmnistFeatureNet.load(featureNet);
  try {
    const statsPath = referenceStatsPath(featureNet, featureNetSha256, opts.referenceImages);
    const reference = await fmnistReferenceStats(net, statsPath, opts.referenceImages, 500);
    log(`reference statistics ${reference.reused ? 'reused from' : 'computed into'} ${statsPath}`);
    const real = realSample(samples.count / 10);
    const generatedFeatures = await extractFeatures(net, imageBatches(samples.images, samples.count, batchSize));
    const realFeatures = await extractFeatures(net, imageBatches(real.images, real.count, batchSize));
    const fid = frechetDistance(reference.stats, statsOf(generatedFeatures));
    const fidFloor = frechetDistance(reference.stats, statsOf(realFeatures));
    const { precision, recall } = timed(`precision and recall (k = ${PR_K}, ${samples.count} vs ${real.count} images)`, () =>
      precisionRecall(realFeatures, generatedFeatures, { k: PR_K }),
    );
    const classAccuracy = samples.labels === null ? null : classAgreement(net, samples, samples.labels, batchSize);
    const realDataFloor = readFloor(featureNet);

    const evalDir = join(runDir, 'eval');
    mkdirSync(evalDir, { recursive: true });
    const common = { weights: weightsKind, step: run.step, feature_net_sha256: featureNetSha256 } as const;
    const n = samples.count;
    const rows: EvalMetricRow[] = [
      { name: 'fid_fmnist', value: fid, n_samples: n, ...common },
      { name: 'precision', value: precision, n_samples: n, ...common },
      { name: 'recall', value: recall, n_samples: n, ...common },
      { name: 'fid_fmnist_floor', value: fidFloor, n_samples: n, ...common, weights: 'real-data' },
    ];
    if (classAccuracy !== null) rows.push({ name: 'class_accuracy', value: classAccuracy, n_samples: n, ...common });
    if (realDataFloor) {
      const real = { ...common, weights: 'real-data' } as const;
      rows.push({ name: 'fid_fmnist_train_vs_test', value: realDataFloor.fidTrainVsTest, n_samples: FMNIST_TRAIN, ...real });
      rows.push({ name: 'class_accuracy_real_test', value: realDataFloor.testAccuracy, n_samples: FMNIST_TEST, ...real });
    }
    const tablePath = join(evalDir, 'metrics.parquet');
    await writeEvalTable(tablePath, rows);
    const samplesPath = join(evalDir, 'samples.png');
    writeSampleGrid(samplesPath, samples, perClass);

    const metrics: Record<string, number> = { fid_fmnist: fid, fid_fmnist_floor: fidFloor, precision, recall };
    if (classAccuracy !== null) metrics.class_accuracy = classAccuracy;
    const tracked = opts.tracker
      ? await logEvaluation(opts.tracker, { runDir, experimentName: run.config.name, step: run.step, metrics, tablePath })
      : null;
    return {
      runDir,
      step: run.step,
      weights: weightsKind,
      featureNet,
      featureNetSha256,
      n,
      fid,
      fidFloor,
      precision,
      recall,
      classAccuracy,
      realDataFloor,
      reference: { path: reference.path, reused: reference.reused, images: reference.stats.count ?? null },
      samples,
      tablePath,
      samplesPath,
      tracked,
    };
  } finally {
    net.dispose();
  }
}

function statsOf(f: FeatureMatrix) {
  return gaussianStats(f.data, f.rows, f.dim);
}

function samplerLabel(cfg: TrainConfig): string {
  const c = samplerConfigFor(cfg.sample, cfg.diffusion, 10);
  return `${c.kind} ${c.steps} steps, guidance ${cfg.sample.cfgScale}`;
}

function classAgreement(net: FmnistFeatureNet, s: GeneratedSamples, labels: Int32Array, batchSize: number): number {
  let hits = 0;
  let at = 0;
  for (const images of imageBatches(s.images, s.count, batchSize)) {
    const predicted = net.classify(images);
    images.dispose();
    for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[at + i]) hits++;
    at += predicted.length;
  }
  return hits / s.count;
}

function readFloor(featureNet: string): EvalResult['realDataFloor'] {
  const path = join(dirname(featureNet), 'report.json');
  if (!existsSync(path)) return null;
  const report = JSON.parse(readFileSync(path, 'utf8')) as Partial<FeatureNetReport>;
  if (typeof report.fidTrainVsTest !== 'number' || typeof report.testAccuracy !== 'number') return null;
  return { fidTrainVsTest: report.fidTrainVsTest, testAccuracy: report.testAccuracy };
}

function writeSampleGrid(path: string, s: GeneratedSamples, perClass: number): void {
  const shown = Math.min(perClass, GRID_COLUMNS);
  const rows = s.count / perClass;
  const data = new Float32Array(rows * shown * 784);
  for (let r = 0; r < rows; r++) {
    const from = r * perClass * 784;
    // The grid takes [-1, 1] pixels.
    data.set(s.images.subarray(from, from + shown * 784).map((v) => 2 * v - 1), r * shown * 784);
  }
  writeImageGrid(path, { data, n: rows * shown, height: 28, width: 28, channels: 1 }, shown);
}
