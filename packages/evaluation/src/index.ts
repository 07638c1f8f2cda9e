export { evaluate, DEFAULT_FEATURE_NET, type EvaluateOptions, type EvalResult } from './evaluate.js';
export { classifyImages, requireFeatureNet, scoreSamples, type SampleScores, type ScoreOptions } from './score.js';
export { EvalError } from './errors.js';
export { writeEvalTable, type EvalMetricRow } from './eval-table.js';
export { generateSamples, EVAL_SAMPLE_SEED, type GeneratedSamples } from './generate.js';
export { fmnistReferenceStats, referenceStatsPath, sha256File, type ReferenceStats } from './reference.js';
export { findRunByDir, logEvaluation, RUN_DIR_TAG, type TrackedEval } from './track.js';
export * from './fad/index.js';
export { featuresOf, samplesOfClasses, scoreClassSubset, splitImagesOfClasses, type ClassSubsetScores } from './class-subset.js';
