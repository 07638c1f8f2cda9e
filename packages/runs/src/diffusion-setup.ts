import { cosineSchedule, createSampler, linearSchedule, type NoiseSchedule, type Sampler, type SamplerConfig } from '@difflab/models';
import type { TrainConfig } from './config.js';

export function scheduleFor(cfg: TrainConfig['diffusion']): NoiseSchedule {
  return cfg.schedule === 'linear' ? linearSchedule(cfg.timesteps) : cosineSchedule(cfg.timesteps);
}

/**
 * The sampler a run's `sample` section describes, for a model with `numClasses` classes (null:
 * unconditional, so no guidance). Recorded in the run's params as sampler.*.
 */
export function samplerConfigFor(cfg: TrainConfig['sample'], numClasses: number | null = null): SamplerConfig {
  return {
    kind: cfg.sampler,
    steps: cfg.steps,
    ...(cfg.sampler === 'ddim' ? { eta: cfg.eta ?? 0 } : {}),
    // Pixel-space data lives in [-1, 1], so the predicted x0 is clipped to it (DiT's latents are not).
    clipDenoised: cfg.clipDenoised ?? true,
    guidanceScale: numClasses === null ? 1 : cfg.cfgScale,
  };
}

/** The run's sampler, respaced from its schedule; `sample` takes the guidance scale from it. */
export function makeSampler(cfg: TrainConfig['sample'], schedule: NoiseSchedule, numClasses: number | null = null): Sampler {
  return createSampler(schedule, samplerConfigFor(cfg, numClasses));
}
