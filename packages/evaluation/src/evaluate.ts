import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf } from '@difflab/core-tensor';
import { extractorStats, frechetDistance, FmnistFeatureNet, type FeatureNetReport } from '@difflab/metrics';
import type { Tracker } from '@difflab/tracking';
import { writeImageGrid } from '@difflab/runs';
import { EvalError } from './errors.js';
import { writeEvalTable, type EvalMetricRow } from './eval-table.js';
import { generateSamples, type GeneratedSamples } from './generate.js';
import { fmnistReferenceStats, referenceStatsPath, sha256File } from './reference.js';
import { loadRun, type WeightsKind } from '@difflab/runs';
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
}

export interface EvalResult {
  runDir: string;
  step: number;
  weights: WeightsKind;
  featureNet: string;
  featureNetSha256: string;
  /** FID-FMNIST of the samples against the reference. */
  fid: number;
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

  log(`sampling ${perClass} images per class from step ${run.step} (${weightsKind} weights, ${run.config.sample.sampler} ${run.config.sample.steps} steps, guidance ${run.config.sample.cfgScale})`);
  let samples: GeneratedSamples;
  try {
    samples = generateSamples(run.config, run.weights, perClass, batchSize);
  } finally {
    tf.dispose(Object.values(run.weights));
  }

  const featureNetSha256 = sha256File(featureNet);
  const net = await FmnistFeatureNet.load(featureNet);
  try {
    const statsPath = referenceStatsPath(featureNet, featureNetSha256, opts.referenceImages);
    const reference = await fmnistReferenceStats(net, statsPath, opts.referenceImages, 500);
    log(`reference statistics ${reference.reused ? 'reused from' : 'computed into'} ${statsPath}`);
    const fid = frechetDistance(reference.stats, await extractorStats(net, sampleBatches(samples, batchSize)));
    const classAccuracy = samples.labels === null ? null : classAgreement(net, samples, samples.labels, batchSize);
    const realDataFloor = readFloor(featureNet);

    const evalDir = join(runDir, 'eval');
    mkdirSync(evalDir, { recursive: true });
    const common = { weights: weightsKind, step: run.step, feature_net_sha256: featureNetSha256 } as const;
    const rows: EvalMetricRow[] = [{ name: 'fid_fmnist', value: fid, n_samples: samples.count, ...common }];
    if (classAccuracy !== null) rows.push({ name: 'class_accuracy', value: classAccuracy, n_samples: samples.count, ...common });
    if (realDataFloor) {
      const real = { ...common, weights: 'real-data' } as const;
      rows.push({ name: 'fid_fmnist_train_vs_test', value: realDataFloor.fidTrainVsTest, n_samples: FMNIST_TRAIN, ...real });
      rows.push({ name: 'class_accuracy_real_test', value: realDataFloor.testAccuracy, n_samples: FMNIST_TEST, ...real });
    }
    const tablePath = join(evalDir, 'metrics.parquet');
    await writeEvalTable(tablePath, rows);
    const samplesPath = join(evalDir, 'samples.png');
    writeSampleGrid(samplesPath, samples, perClass);

    const metrics: Record<string, number> = { fid_fmnist: fid };
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
      fid,
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

function* sampleBatches(s: GeneratedSamples, batchSize: number): Generator<tf.Tensor4D> {
  for (let at = 0; at < s.count; at += batchSize) {
    const b = Math.min(batchSize, s.count - at);
    yield tf.tensor4d(s.images.subarray(at * 784, (at + b) * 784), [b, 28, 28, 1]);
  }
}

function classAgreement(net: FmnistFeatureNet, s: GeneratedSamples, labels: Int32Array, batchSize: number): number {
  let hits = 0;
  let at = 0;
  for (const images of sampleBatches(s, batchSize)) {
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
