export { ConfigError, formatIssues, loadConfigFile, parseConfig } from './config-file.js';
export {
  applyOverrides,
  DATASET_CLASSES,
  loadTrainConfig,
  loadTrainConfigWithOverrides,
  parseOverrides,
  parseTrainConfig,
  trainConfigSchema,
  type ConfigOverride,
  type TrainConfig,
  type TrainConfigInput,
} from './config.js';
export { createDenoiser, parseModelConfig, resolveModelConfig, type Denoiser, type DenoiserForwardOptions, type ResolvedUNet } from './model.js';
export { ditModelSchema, modelConfigSchema, pruningSpecSchema, unetModelSchema, UNET_PRESETS, type DiTModelConfig, type ModelConfig, type ModelConfigInput, type UNetModelConfig } from './model-config.js';
export {
  CHECKPOINT_FILES,
  CheckpointError,
  CheckpointFiles,
  CorruptCheckpointError,
  latestCheckpointDir,
  loadCheckpoint,
  removeAbandonedCheckpointTemps,
  saveCheckpoint,
  type Checkpoint,
  type LoadCheckpointOptions,
  type TrainerState,
} from './checkpoint.js';
export { DIGEST_FILE, formatDigests, parseDigests, sha256Hex } from './checkpoint-digest.js';
export { acquireRunLock, RUN_LOCK_FILE, RunLockedError, type AcquireRunLockOptions, type RunLock, type RunLockHolder } from './run-lock.js';
export { heldOutLoss, DEFAULT_HELDOUT } from './heldout-loss.js';
export { encodeImageGrid, writeImageGrid } from './image-grid.js';
export { withWeights, writeClassGrid } from './sample-grid.js';
export { MetricsTable, type MetricsRow } from './metrics-table.js';
export { formatDuration, formatNumber, Progress, startPhase, type Phase } from './progress.js';
export { type RunSink, type RunStart, type RunStatus, type ArtifactKind } from './run-sink.js';
export { TrackerSink, type TrackerSinkOptions } from './tracker-sink.js';
export { readTrackerRecord, TRACKER_RECORD_FILE, writeTrackerRecord, type TrackerRecord } from './tracker-record.js';
export { makeSampler, processFor, samplerConfigFor, scheduleFor } from './diffusion-setup.js';
export { datasetFor, selectTrainRows, scaleUint8Split, FloatBatchIterator, sequentialFloatBatches, type FloatImageSplit, type FloatBatch, type TrainingData } from './dataset.js';
export { initialWeights, loadSourceRun, loadTeacher, readSourceRun, type SourceRun, type Teacher } from './init.js';
export {
  ADAPTER_FILE,
  createFineTuneDenoiser,
  fineTuneBaseNow,
  fineTuneMetadata,
  fineTuneParams,
  fineTuneSpec,
  newClassParamName,
  replaceRow,
  verifyFineTuneBase,
  writeAdapterFile,
  type FineTuneBase,
  type FineTuneInfo,
  type FineTuneSection,
} from './finetune.js';
export { createRunDenoiser, runDenoiserWithWeights } from './run-denoiser.js';
export { loadRun, RunDirError, type LoadedRun, type WeightsKind } from './run-dir.js';
