import { Rng, type tf } from '@difflab/core-tensor';
import type { TrainConfig } from './config.js';
import { createFineTuneDenoiser } from './finetune.js';
import { createDenoiser, type Denoiser } from './model.js';
import { RunDirError } from './run-dir.js';

/**
 * The denoiser a training config describes, the one way the trainer and sampling code build it: the model
 * section's architecture freshly initialised from `rng`, or, with a finetune section, the base run's DiT with
 * the method's adapter (createFineTuneDenoiser), whose params are the tensors the run trains and saves.
 */
export function createRunDenoiser(cfg: TrainConfig, rng: Rng): Denoiser {
  return cfg.finetune ? createFineTuneDenoiser(cfg, rng) : createDenoiser(cfg.model, rng);
}

/**
 * A run's denoiser holding trained tensors by name (loadRun's `weights`: a fine-tune run's adapter, applied to the
 * base its init.from names), for sampling and analysis. Every parameter must be there with its shape.
 */
export function runDenoiserWithWeights(cfg: TrainConfig, weights: Record<string, tf.Tensor>): Denoiser {
  const model = createRunDenoiser(cfg, new Rng(0));
  for (const [name, v] of Object.entries(model.params)) {
    const w = weights[name];
    if (!w || w.shape.join() !== v.shape.join()) {
      model.dispose();
      throw new RunDirError(`checkpoint weight '${name}' is ${w ? `[${w.shape}]` : 'missing'}, the config's model needs [${v.shape}]; was config.json edited after training?`);
    }
    v.assign(w);
  }
  return model;
}
