export { evaluate, DEFAULT_FEATURE_NET, type EvaluateOptions, type EvalResult } from './evaluate.js';
export { EvalError } from './errors.js';
export { writeEvalTable, type EvalMetricRow } from './eval-table.js';
export { generateSamples, EVAL_SAMPLE_SEED, type GeneratedSamples } from './generate.js';
export { fmnistReferenceStats, referenceStatsPath, sha256File, type ReferenceStats } from './reference.js';
export { loadRun, type LoadedRun, type WeightsKind } from './run-dir.js';
export { findRunByDir, logEvaluation, RUN_DIR_TAG, type TrackedEval } from './track.js';
export { probeRun, type ProbeRunOptions, type ProbeRunResult } from './probe/probe-run.js';
export { parseTimestepSpec, resolveTimestep, type TimestepSpec } from './probe/timestep.js';
export { pooledBlockFeatures, type HiddenStateOptions } from './probe/hidden-states.js';
export { formatProbeTable, type ProbeLayerRow } from './probe/probe-table.js';
export * from './fad/index.js';
export {
  StudyError,
  studyLayout,
  loadBaselineConfig,
  loadScoreSettings,
  loadVariantSettings,
  loadEvalSettings,
  scoreSchema,
  variantsSchema,
  evalSchema,
  type StudyLayout,
  type ScoreSettings,
  type VariantSettings,
  type Variant,
  type EvalSettings,
} from './pruning/study.js';
export { baselineStage, scoreStage, applyStage, retrainStage, evalStage, type StageOptions, type VariantMeta, type LdPrunerScores, type ScoredOperator } from './pruning/stages.js';
export { tableStage, assembleTable, readPruningRows, pruningRowRecord, paretoFront, finalQuality, type PruningRow, type PruningTable } from './pruning/table.js';
export { QUALITY_METRICS, modalityOf, openQualityScorer, type Modality, type QualityMetric, type QualityScorer, type QualityOptions } from './pruning/quality.js';
export { measureLatency, median, type LatencyResult } from './pruning/latency.js';
