import { DDIMSampler, DDPMSampler, cosineSchedule, linearSchedule, type NoiseSchedule, type Sampler } from '@difflab/models';
import type { TrainConfig } from './config.js';

export function scheduleFor(cfg: TrainConfig['diffusion']): NoiseSchedule {
  return cfg.schedule === 'linear' ? linearSchedule(cfg.timesteps) : cosineSchedule(cfg.timesteps);
}

export function makeSampler(cfg: TrainConfig['sample'], schedule: NoiseSchedule): Sampler {
  // Pixel-space data lives in [-1, 1], so the predicted x0 is clipped to it (DiT's latents are not).
  const opts = { steps: cfg.steps, clipDenoised: true };
  return cfg.sampler === 'ddim' ? new DDIMSampler(schedule, { ...opts, eta: 0 }) : new DDPMSampler(schedule, opts);
}
