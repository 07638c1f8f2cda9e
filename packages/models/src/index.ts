export { ModelConfigError, ModelInputError } from './errors.js';
export {
  type DiTBlock,
  type DiTConfig,
  DIT_BLOCKS,
  DIT_CONFIGS,
  ditConfig,
  validateDiTConfig,
} from './dit/config.js';
export { type DiT, type DiTForwardOptions, createDiT } from './dit/dit.js';
export { type DiTCount, countDiT } from './dit/count.js';
export { patchify, unpatchify } from './dit/patchify.js';
export { sincosPosEmbed2d, timestepFrequencies } from './dit/embeddings.js';
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
  type SampleOptions,
  type Sampler,
  type SamplerOptions,
  DDIMSampler,
  DDPMSampler,
  sample,
  spacedTimesteps,
  withGuidance,
} from './diffusion/samplers.js';
