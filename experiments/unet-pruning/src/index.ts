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
} from './study.js';
export { baselineStage, scoreStage, applyStage, retrainStage, evalStage, type StageOptions, type VariantMeta, type LdPrunerScores, type ScoredOperator } from './stages.js';
export { tableStage, assembleTable, readPruningRows, pruningRowRecord, paretoFront, finalQuality, type PruningRow, type PruningTable } from './table.js';
export { QUALITY_METRICS, modalityOf, openQualityScorer, type Modality, type QualityMetric, type QualityScorer, type QualityOptions } from './quality.js';
export { measureLatency, median, type LatencyResult } from './latency.js';
