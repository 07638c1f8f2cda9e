import {
  cosineSchedule,
  createSampler,
  linearSchedule,
  type DiffusionProcess,
  type NoiseSchedule,
  type Sampler,
  type SamplerConfig,
} from '@difflab/models';
import type { TrainConfig } from './config.js';

export function scheduleFor(cfg: TrainConfig['diffusion']): NoiseSchedule {
  return cfg.schedule === 'linear' ? linearSchedule(cfg.timesteps) : cosineSchedule(cfg.timesteps);
}

/** The process a run's diffusion section describes, which decides how the samplers read the model's output. */
export function processFor(diffusion: TrainConfig['diffusion']): DiffusionProcess {
  return diffusion.process === 'flow'
    ? { kind: 'flow' }
    : { kind: 'ddpm', schedule: scheduleFor(diffusion), prediction: diffusion.prediction ?? 'epsilon' };
}

/**
 * The sampler a run's `sample` section describes, for a model of `diffusion`'s process with `numClasses`
 * classes (null: unconditional, so no guidance). Recorded in the run's params as sampler.*.
 * Default kind: 'ddim' for the ddpm process, 'euler' for flow.
 */
export function samplerConfigFor(sample: TrainConfig['sample'], diffusion: TrainConfig['diffusion'], numClasses: number | null = null): SamplerConfig {
  const flow = diffusion.process === 'flow';
  const kind = sample.sampler ?? (flow ? 'euler' : 'ddim');
  // Pixel-space data lives in [-1, 1], so the ddpm process clips the predicted x0 to it by default (DiT's latents
  // are not). Flow samplers do not clip: an explicit setting is passed on, so `true` is refused by createSampler.
  const clipDenoised = flow ? sample.clipDenoised : (sample.clipDenoised ?? true);
  return {
    kind,
    steps: sample.steps,
    ...(kind === 'ddim' ? { eta: sample.eta ?? 0 } : {}),
    ...(clipDenoised === undefined ? {} : { clipDenoised }),
    guidanceScale: numClasses === null ? 1 : sample.cfgScale,
  };
}

/** The run's sampler for its diffusion process (ddpm: respaced from its schedule); `sample` takes the guidance scale from it. */
export function makeSampler(sample: TrainConfig['sample'], diffusion: TrainConfig['diffusion'], numClasses: number | null = null): Sampler {
  return createSampler(processFor(diffusion), samplerConfigFor(sample, diffusion, numClasses));
}
