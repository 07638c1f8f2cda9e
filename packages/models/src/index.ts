export { ModelConfigError, ModelInputError } from './errors.js';
export {
  type DiTBlock,
  type DiTConfig,
  type DiTMlp,
  type DiTNorm,
  DIT_BLOCKS,
  DIT_CONFIGS,
  DIT_MLPS,
  DIT_NORMS,
  ditConfig,
  validateDiTConfig,
} from './dit/config.js';
export { type DiT, type DiTAdaptation, type DiTAttentionPrefix, type DiTForwardOptions, createDiT } from './dit/dit.js';
export { type DiTCount, countDiT } from './dit/count.js';
export { patchify, unpatchify } from './dit/patchify.js';
export { sincosPosEmbed2d, timestepFrequencies } from './dit/embeddings.js';
export { type RotaryTables, ROPE_THETA, applyRotary, qkvRotaryTables, rope2dAngles } from './dit/rope.js';
export { rmsNorm, rmsNormModulate } from './dit/rmsnorm.js';
export { type Dense, swigluMlp } from './dit/swiglu.js';
export {
  type NoiseSchedule,
  addNoise,
  cosineSchedule,
  linearSchedule,
  scheduleFromBetas,
} from './diffusion/schedule.js';
export {
  type DDIMOptions,
  type DenoiseFn,
  type DiffusionProcess,
  type Evaluate,
  type FlowSamplerKind,
  type Prediction,
  type SampleOptions,
  type Sampler,
  type SamplerConfig,
  type SamplerKind,
  type SamplerOptions,
  DDIMSampler,
  DDPMSampler,
  FlowSampler,
  PROCESS_SAMPLERS,
  SAMPLER_KINDS,
  createSampler,
  sample,
  spacedTimesteps,
  withGuidance,
} from './diffusion/samplers.js';
export { type SpacedSchedule, respaceSchedule } from './diffusion/respace.js';
export { FLOW_TIME_SCALE, flowInterpolate } from './diffusion/flow.js';
export {
  type BatchNormOptions,
  type GroupNormOptions,
  type InstanceNormOptions,
  type LayerNormOptions,
  type NormModule,
  BatchNorm,
  GroupNorm,
  InstanceNorm,
  LayerNorm,
} from './norm/modules.js';
export { batchMoments, batchNormWith, groupNorm, instanceNorm, layerNorm } from './norm/functional.js';
export {
  type SdStyleOptions,
  type UNetConditioning,
  type UNetConfig,
  type UNetStep,
  cloneUNetConfig,
  sdStyleUNetConfig,
  unetPlan,
  validateUNetConfig,
} from './unet/config.js';
export {
  type UNetInit,
  type UNetParamSpec,
  unetParamSpecs,
  unetParamsFromPyTorch,
  unetParamsToPyTorch,
} from './unet/params.js';
export { type UNet, type UNetForwardOptions, createUNet } from './unet/unet.js';
export { type UNetCount, type UNetCountOptions, countUNet } from './unet/count.js';
export {
  type UNetBlockPart,
  type UNetBlockRemoval,
  type UNetPruningSpec,
  applyPruning,
  pruneNameMap,
  pruneParams,
} from './unet/prune.js';
export { BK_SDM_SPECS, UNET_CONFIGS, unetConfig } from './unet/presets.js';
export { AUDIO_UNET_CONFIGS, audioUNetConfig } from './unet/audio-presets.js';
export { type StagePair, type UNetFeatures, type UNetStage, forwardWithFeatures, stagePairs, unetStages } from './unet/features.js';
export {
  type OperatorKind,
  type PruningOperator,
  type UNetModification,
  modifiedUNet,
  specFitsWeights,
  unetOperators,
  withModification,
} from './pruning/operators.js';
export {
  type BlockCandidate,
  type BlockImportanceResult,
  type BlockImportanceRow,
  type DenoisingProxyOptions,
  bkSdmCandidates,
  blockImportance,
  denoisingProxy,
} from './pruning/block-importance.js';
export {
  type LatentStats,
  type LdCombine,
  type LdDistance,
  type LdPrunerOptions,
  type LdPrunerRanking,
  type LdPrunerRow,
  type LdScoreOptions,
  type PrunedUNet,
  latentStats,
  ldPrunerRanking,
  ldPrunerScore,
  pruneLowest,
  rescoreLdPruner,
  sampleLatents,
} from './pruning/ld-pruner.js';
export { geluTanh } from './ops/gelu.js';
export {
  type LayerPattern,
  type PeftAdapter,
  type PeftMethod,
  PeftConfigError,
  linearLayers,
} from './peft/adapter.js';
export { type LoraAdapter, type LoraOptions, LORA_DEFAULT_TARGETS, createLora } from './peft/lora.js';
export { type HoulsbyAdapter, type HoulsbyOptions, createHoulsbyAdapters } from './peft/houlsby.js';
export { type PrefixAdapter, type PrefixOptions, createPrefixTuning } from './peft/prefix.js';
export { type SvdiffAdapter, type SvdiffOptions, type SvdiffSpectrum, SVDIFF_DEFAULT_TARGETS, createSvdiff } from './peft/svdiff.js';
export { type ThinSvd, thinSvd } from './peft/svd.js';
export { type FineTuneMethod, type FineTuneSpec, FINE_TUNE_METHODS, createAdapter, trainableParams } from './peft/peft.js';
