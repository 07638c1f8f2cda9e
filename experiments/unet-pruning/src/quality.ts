import { join } from 'node:path';
import type { Tracker } from '@difflab/tracking';
import type { TrainConfig } from '@difflab/runs';
import { writeEvalTable } from '@difflab/evaluation';
import { evaluate } from '@difflab/evaluation';
import { fadOfRun } from '@difflab/evaluation';
import { DEFAULT_SPOKEN_DIGITS_EMBEDDER, loadSpectrogramFadReference } from '@difflab/evaluation';
import { sha256File } from '@difflab/evaluation';
import type { WeightsKind } from '@difflab/runs';
import { logEvaluation } from '@difflab/evaluation';
import { StudyError } from './study.js';

/**
 * The study's modality follows from the baseline's `data.dataset` (already validated by the trainer
 * config), so a preset cannot train on one modality and be scored with the other's metric.
 */
export type Modality = 'image' | 'audio';
export const modalityOf = (cfg: TrainConfig): Modality => (cfg.data.dataset === 'spoken-digits-mel' ? 'audio' : 'image');

export interface QualityMetric {
  /** Prefix of the metric's fields in eval rows and table.parquet (`fid_pruned`, `fad_pruned`, …) and of the plot files. */
  key: 'fid' | 'fad';
  /** Column and axis label. */
  label: string;
  /** What the study generates, for the table's title. */
  subject: string;
  /** How the metric is computed, for the table's notes. */
  reference: string;
}

export const QUALITY_METRICS: Readonly<Record<Modality, QualityMetric>> = {
  image: { key: 'fid', label: 'FID-FMNIST', subject: 'Fashion-MNIST', reference: 'against the Fashion-MNIST test split (repo feature net)' },
  audio: {
    key: 'fad',
    label: 'FAD',
    subject: 'spoken-digits log-mel spectrograms',
    reference: 'against the test voices’ spectrograms (spoken-digits embedder; values comparable only with each other)',
  },
};

export const metricByKey = (key: string): QualityMetric | undefined => Object.values(QUALITY_METRICS).find((m) => m.key === key);

export interface QualityScorer {
  metric: QualityMetric;
  /** The metric of a run directory's latest checkpoint, sampled with `weights`. */
  score(runDir: string, weights: WeightsKind): Promise<{ value: number; samples: number }>;
  dispose(): void;
}

export interface QualityOptions {
  /** 10 × this many samples per model (ten classes / digits). */
  samplesPerClass: number;
  batchSize: number;
  /** Tracker experiment of FAD runs without a training run to attach to (FID uses the run's config name). */
  experimentName: string;
  tracker?: Tracker;
  /** Image: the FID feature network (default fmnist-featurenet's artifact). */
  featureNet?: string;
  /** Audio: the FAD embedder (default spoken-digits' artifact). */
  embedder?: string;
  log?: (line: string) => void;
}

/**
 * Opens the quality metric of `cfg`'s modality. Loads what it needs up front (for FAD the corpus, the
 * embedder and the test voices' statistics, once for every model), so a missing artifact fails first.
 */
export async function openQualityScorer(cfg: TrainConfig, opts: QualityOptions): Promise<QualityScorer> {
  const modality = modalityOf(cfg);
  const metric = QUALITY_METRICS[modality];
  const log = opts.log ?? (() => undefined);
  const misplaced = modality === 'image' ? (opts.embedder !== undefined ? '--embedder' : null) : opts.featureNet !== undefined ? '--feature-net' : null;
  if (misplaced) {
    throw new StudyError(`${misplaced} does not apply: this ${modality} study is scored by ${metric.label}; use ${modality === 'image' ? '--feature-net' : '--embedder'}`);
  }
  if (modality === 'image') {
    return {
      metric,
      score: async (runDir, weights) => {
        log(`${metric.label} of ${runDir}`);
        const r = await evaluate(runDir, { samplesPerClass: opts.samplesPerClass, batchSize: opts.batchSize, weights, tracker: opts.tracker, featureNet: opts.featureNet });
        return { value: r.fid, samples: r.samples.count };
      },
      dispose: () => undefined,
    };
  }
  const embedder = opts.embedder ?? DEFAULT_SPOKEN_DIGITS_EMBEDDER;
  const ref = await loadSpectrogramFadReference({ weights: embedder, log, ...(cfg.data.dir === undefined ? {} : { dir: cfg.data.dir }) });
  const embedderSha256 = sha256File(embedder);
  return {
    metric,
    score: async (runDir, weights) => {
      log(`${metric.label} of ${runDir}`);
      const count = 10 * opts.samplesPerClass;
      const r = await fadOfRun(runDir, ref, { count, batchSize: opts.batchSize, weights });
      // As evaluate() does for FID: a table in the run directory, logged to the run's tracker entry.
      const tablePath = join(runDir, 'eval', 'metrics.parquet');
      await writeEvalTable(tablePath, [{ name: 'fad_spoken_digits', value: r.fad, n_samples: count, weights, step: r.step, feature_net_sha256: embedderSha256 }]);
      if (opts.tracker) await logEvaluation(opts.tracker, { runDir, experimentName: opts.experimentName, step: r.step, metrics: { fad_spoken_digits: r.fad }, tablePath });
      return { value: r.fad, samples: count };
    },
    dispose: () => ref.embedder.dispose(),
  };
}
