export { ConfigError, loadTrainConfig, parseTrainConfig, trainConfigSchema, type TrainConfig, type TrainConfigInput } from './config.js';
export { NonFiniteLossError, train, learningRate, type TrainOptions, type TrainResult } from './train.js';
export { createDenoiser, resolveModelConfig, type Denoiser } from './model.js';
export { CheckpointError, latestCheckpointDir, loadCheckpoint } from './checkpoint.js';
export { heldOutLoss, DEFAULT_HELDOUT } from './heldout-loss.js';
export { encodeImageGrid, writeImageGrid } from './image-grid.js';
export { type RunSink, type RunStatus, type ArtifactKind } from './run-sink.js';
export { TrackerSink } from './tracker-sink.js';
export { makeSampler, scheduleFor } from './diffusion-setup.js';
