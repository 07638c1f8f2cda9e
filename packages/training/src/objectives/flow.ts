import { flowLossTerms, type FlowLossOptions } from '@difflab/losses';
import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveValue } from '../objective.js';

export interface FlowObjectiveOptions {
  /** 'uniform' (default) or 'logit-normal': t = sigmoid(n), n ~ N(timeMean, timeStd²). */
  timeSampling?: 'uniform' | 'logit-normal';
  /** logit-normal only; default 0. */
  timeMean?: number;
  /** logit-normal only; default 1. */
  timeStd?: number;
  /** Weight of the velocity-direction term mean_i(1 − cos(v̂_i, v_i)); default 0 (plain velocity MSE). */
  velocityDirectionWeight?: number;
}

/**
 * Rectified flow (SiT, SD3, LightningDiT): the model predicts the velocity v = ε − x of
 * x_t = (1 − t)·x + t·ε at time FLOW_TIME_SCALE·t, loss ‖v̂ − v‖² (+ w·(1 − cos(v̂, v)), FasterDiT).
 * Per step the Rng draws t, then ε, then the CFG label dropout (model.classDropoutProb).
 */
export function flowObjective(opts: FlowObjectiveOptions = {}): Objective {
  const timeSampling = opts.timeSampling ?? 'uniform';
  const w = opts.velocityDirectionWeight ?? 0;
  const lossOpts: FlowLossOptions = { timeSampling, timeMean: opts.timeMean ?? 0, timeStd: opts.timeStd ?? 1, velocityDirectionWeight: w };
  return {
    name: 'flow',
    params: {
      'objective.timeSampling': timeSampling,
      ...(timeSampling === 'logit-normal' ? { 'objective.timeMean': lossOpts.timeMean!, 'objective.timeStd': lossOpts.timeStd! } : {}),
      'objective.velocityDirectionWeight': w,
    },
    loss({ model, x, y, rng }): ObjectiveValue {
      const denoise = (xt: typeof x, t: typeof y, labels: typeof y) => model.forward(xt, t, labels, { labelDropout: rng });
      const { total, mse, direction } = flowLossTerms(denoise, x, y, rng, lossOpts);
      return { loss: total, terms: direction ? { mse, direction } : {} };
    },
    dispose() {},
  };
}

/**
 * train.timeSampling, timeMean, timeStd, velocityDirectionWeight (the config schema keeps them to the flow
 * process). A direction weight needs gradient clipping: where v̂ = 0 (DiT's zero-initialised final layer
 * at step 0) the cosine's gradient is of order 1/√COSINE_EPS (measured: a global norm of ~8·10⁴ on a tiny
 * DiT), and unclipped that one gradient fills AdamW's second moment, freezing the layers it reached
 * for thousands of steps (β₂ = 0.999).
 */
export function flowFromConfig(cfg: TrainConfig, _model: Denoiser): Objective {
  const { timeSampling, timeMean, timeStd, velocityDirectionWeight } = cfg.train;
  if (velocityDirectionWeight !== undefined && velocityDirectionWeight > 0 && cfg.train.gradClip === 0) {
    throw new ConfigError(
      `train.velocityDirectionWeight: ${velocityDirectionWeight} needs gradient clipping (at a zero output, e.g. a fresh DiT's, the cosine's gradient is of order 1/√ε, ~10⁵ in global norm, and would stall AdamW); set train.gradClip > 0 (default 1) or train.velocityDirectionWeight: 0`,
    );
  }
  return flowObjective({ timeSampling, timeMean, timeStd, velocityDirectionWeight });
}
