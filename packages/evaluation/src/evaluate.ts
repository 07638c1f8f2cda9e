import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf } from '@difflab/core-tensor';
import type { Tracker } from '@difflab/tracking';
import { Progress, formatDuration, writeImageGrid } from '@difflab/runs';
import { EvalError } from './errors.js';
import { writeEvalTable, type EvalMetricRow } from './eval-table.js';
import { generateSamples, type GeneratedSamples } from './generate.js';
import { requireFeatureNet, scoreSamples, type SampleScores } from './score.js';
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

export interface EvalResult extends SampleScores {
  runDir: string;
  step: number;
  weights: WeightsKind;
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
  const featureNet = requireFeatureNet(opts.featureNet ?? DEFAULT_FEATURE_NET);
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

  const scores = await scoreSamples(samples, featureNet, { batchSize, log, ...(opts.referenceImages === undefined ? {} : { referenceImages: opts.referenceImages }) });
  const { fid, fidFloor, precision, recall, classAccuracy, realDataFloor, featureNetSha256 } = scores;

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
  return { ...scores, runDir, step: run.step, weights: weightsKind, samples, tablePath, samplesPath, tracked };
}

function samplerLabel(cfg: TrainConfig): string {
  const c = samplerConfigFor(cfg.sample, cfg.diffusion, 10);
  return `${c.kind} ${c.steps} steps, guidance ${cfg.sample.cfgScale}`;
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
