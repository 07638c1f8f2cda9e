import { diffusionLossTerms, diffusionTrainingLoss } from '@difflab/losses';
import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveValue } from '../objective.js';

/**
 * DDPM's ε-prediction loss ‖ε̂(x_t, t, y) − ε‖² (L_simple), plus improved DDPM's λ·L_vlb when the
 * model also predicts its variance: DiT's hybrid loss. Class labels are dropped at the model's
 * classDropoutProb (classifier-free guidance training), drawn from the step's Rng.
 */
export function epsilonObjective(opts: { vlbWeight?: number } = {}): Objective {
  const vlbWeight = opts.vlbWeight ?? 0;
  return {
    name: 'epsilon',
    params: { 'objective.vlbWeight': vlbWeight },
    loss({ model, x, y, rng, schedule }): ObjectiveValue {
      const denoise = (xt: typeof x, t: typeof y, labels: typeof y) => model.forward(xt, t, labels, { labelDropout: rng });
      if (vlbWeight === 0) return { loss: diffusionTrainingLoss(denoise, x, y, rng, schedule), terms: {} };
      const { total, mse, vlb } = diffusionLossTerms(denoise, x, y, rng, schedule, { vlbWeight });
      return { loss: total, terms: { mse, vlb: vlb! } };
    },
    dispose() {},
  };
}

/** train.vlbWeight resolved against model.learnSigma: variance channels must get a gradient, or not exist. */
export function epsilonFromConfig(cfg: TrainConfig, model: Denoiser): Objective {
  const learnSigma = model.architecture === 'dit' && 'learnSigma' in model.config && model.config.learnSigma;
  const given = cfg.train.vlbWeight;
  if (learnSigma && given === 0) {
    throw new ConfigError(
      'train.vlbWeight: 0 leaves the variance channels of a model.learnSigma model untrained; set train.vlbWeight > 0 (DiT uses 1) or model.learnSigma: false',
    );
  }
  if (!learnSigma && given !== undefined && given > 0) {
    throw new ConfigError(`train.vlbWeight: ${given} needs a model that predicts its variance; set model.learnSigma: true or drop train.vlbWeight`);
  }
  return epsilonObjective({ vlbWeight: learnSigma ? (given ?? 1) : 0 });
}
