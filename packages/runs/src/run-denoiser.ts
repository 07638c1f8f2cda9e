import type { Rng } from '@difflab/core-tensor';
import type { TrainConfig } from './config.js';
import { createFineTuneDenoiser } from './finetune.js';
import { createDenoiser, type Denoiser } from './model.js';

/**
 * The denoiser a training config describes, the one way the trainer and sampling code build it: the model
 * section's architecture freshly initialised from `rng`, or, with a finetune section, the base run's DiT with
 * the method's adapter (createFineTuneDenoiser), whose params are the tensors the run trains and saves.
 */
export function createRunDenoiser(cfg: TrainConfig, rng: Rng): Denoiser {
  return cfg.finetune ? createFineTuneDenoiser(cfg, rng) : createDenoiser(cfg.model, rng);
}
