import { AdamW, Ema, type Rng, clipByGlobalNorm, forgetDisposedInScope, tf } from '@difflab/core-tensor';
import type { NoiseSchedule } from '@difflab/models';
import type { Denoiser, FloatBatch, TrainConfig } from '@difflab/runs';
import type { Objective } from './objective.js';

/** The optimizer settings of a training config (train.*) that a step uses. */
export type OptimizerSettings = Pick<TrainConfig['train'], 'lr' | 'beta1' | 'beta2' | 'weightDecay' | 'gradClip' | 'emaDecay'>;

/** A model with what trains it: the objective, AdamW and the EMA of its weights. */
export interface Trainer {
  readonly model: Denoiser;
  readonly objective: Objective;
  readonly schedule: NoiseSchedule;
  readonly optimizer: AdamW;
  readonly ema: Ema;
  /** Global-norm clipping threshold; 0 = off. */
  readonly gradClip: number;
  /** The variables that get gradients: every parameter except the frozen ones (model.zero). */
  readonly trainable: readonly tf.Variable[];
  /** Disposes the optimizer state and the EMA (the model and the objective belong to the caller). */
  dispose(): void;
}

export interface StepResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The objective's logged terms. */
  terms: Record<string, number>;
  /** False when the loss or gradient norm was not finite: the weights were left as they were. */
  updated: boolean;
}

export function createTrainer(model: Denoiser, objective: Objective, schedule: NoiseSchedule, settings: OptimizerSettings): Trainer {
  const optimizer = new AdamW({
    lr: settings.lr,
    beta1: settings.beta1,
    beta2: settings.beta2,
    weightDecay: settings.weightDecay,
    // As in common DiT/ViT recipes: no decay on biases and 1-D parameters.
    decay: (name) => (model.params[name]?.rank ?? 0) > 1,
  });
  const ema = new Ema(model.params, settings.emaDecay);
  // Zeroed operators (model.zero) stay the identity: they get no gradient, so neither AdamW nor the EMA moves them.
  const frozen = new Set(model.frozen);
  const trainable = Object.entries(model.params).filter(([k]) => !frozen.has(k)).map(([, v]) => v);
  return {
    model, objective, schedule, optimizer, ema, gradClip: settings.gradClip, trainable,
    dispose: () => {
      optimizer.dispose();
      ema.dispose();
    },
  };
}

/**
 * One optimizer step: the objective's loss on the batch, gradients, global-norm clipping, AdamW at
 * `lr`, then the EMA at `emaDecay`. Every random draw (timesteps, noise, label dropout) comes from `rng`.
 * A non-finite loss or gradient leaves the weights untouched and reports updated = false.
 */
export function trainStep(trainer: Trainer, batch: FloatBatch, opts: { lr: number; emaDecay: number; rng: Rng }): StepResult {
  const { model, objective, optimizer, ema } = trainer;
  // tf.variableGrads keys gradients by tfjs variable name; the optimizer keys by parameter name.
  const paramNameOf = new Map(Object.entries(model.params).map(([k, v]) => [v.name, k]));
  const terms: Record<string, number> = {};
  const { loss, gradNorm, grads } = tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const y = tf.tensor1d(batch.y, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const v = objective.loss({ model, x, y, rng: opts.rng, schedule: trainer.schedule });
      // Read inside: variableGrads disposes everything but the loss when this returns.
      for (const [k, t] of Object.entries(v.terms)) terms[k] = typeof t === 'number' ? t : t.dataSync()[0]!;
      return v.loss;
    }, [...trainer.trainable]);
    const named = Object.fromEntries(Object.entries(grads).map(([k, g]) => [paramNameOf.get(k)!, g]));
    const clipped = clipByGlobalNorm(named, trainer.gradClip > 0 ? trainer.gradClip : Infinity);
    return { loss: value.dataSync()[0]!, gradNorm: clipped.norm, grads: clipped.grads };
  });
  // Outside the tidy: the optimizer's moments and the EMA must outlive this step.
  const updated = Number.isFinite(loss) && Number.isFinite(gradNorm);
  if (updated) {
    optimizer.step(model.params, grads, opts.lr);
    ema.update(model.params, opts.emaDecay);
  }
  tf.dispose(Object.values(grads));
  forgetDisposedInScope();
  return { loss, gradNorm, terms, updated };
}
