import { vPredictionLossTerms } from '@difflab/losses';
import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveValue } from '../objective.js';

/**
 * v-prediction (Salimans & Ho 2022) on the ddpm process: the model predicts v = √ᾱ_t·ε − √(1−ᾱ_t)·x
 * of x_t = √ᾱ_t·x + √(1−ᾱ_t)·ε, loss ‖v̂ − v‖², t ~ U{0..T−1}. Per step the Rng draws t, then ε,
 * then the CFG label dropout, as the ε objective does.
 */
export function vPredictionObjective(): Objective {
  return {
    name: 'v-prediction',
    params: {},
    loss({ model, x, y, rng, schedule }): ObjectiveValue {
      const denoise = (xt: typeof x, t: typeof y, labels: typeof y) => model.forward(xt, t, labels, { labelDropout: rng });
      return { loss: vPredictionLossTerms(denoise, x, y, rng, schedule).total, terms: {} };
    },
    dispose() {},
  };
}

/** Learned variances (improved DDPM's L_vlb) are implemented for ε-prediction only, so they are refused here. */
export function vPredictionFromConfig(cfg: TrainConfig, model: Denoiser): Objective {
  if (model.architecture === 'dit' && 'learnSigma' in model.config && model.config.learnSigma) {
    throw new ConfigError("model.learnSigma: learned variances are trained with the ε objective's L_vlb only; set model.learnSigma: false or diffusion.prediction: 'epsilon'");
  }
  if (cfg.train.vlbWeight !== undefined && cfg.train.vlbWeight > 0) {
    throw new ConfigError(`train.vlbWeight: ${cfg.train.vlbWeight} needs an ε-prediction model with model.learnSigma; remove train.vlbWeight or set diffusion.prediction: 'epsilon'`);
  }
  return vPredictionObjective();
}
