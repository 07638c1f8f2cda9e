import { AdamW, Ema, type Rng, type UpdateEngine, clipAdamWEma, forgetDisposedInScope, tf } from '@difflab/core-tensor';
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
  /** The variables that get gradients: every parameter except the frozen ones (model.frozen), then the objective's own. */
  readonly trainable: readonly tf.Variable[];
  /**
   * Where clipping, AdamW and the EMA run (core-tensor's clipAdamWEma): `auto` (default) is one fused
   * native kernel on the native backend and the tfjs ops elsewhere; `tfjs` forces the reference ops.
   */
  readonly updateEngine?: UpdateEngine;
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

export function createTrainer(
  model: Denoiser,
  objective: Objective,
  schedule: NoiseSchedule,
  settings: OptimizerSettings,
  opts: { updateEngine?: UpdateEngine } = {},
): Trainer {
  const own = objective.trainable ?? {};
  const clash = Object.keys(own).find((k) => Object.hasOwn(model.params, k));
  if (clash !== undefined) throw new Error(`objective '${objective.name}' trains a weight named '${clash}', which is also a model parameter; give the objective's weights their own prefix`);
  const params = { ...model.params, ...own };
  const optimizer = new AdamW({
    lr: settings.lr,
    beta1: settings.beta1,
    beta2: settings.beta2,
    weightDecay: settings.weightDecay,
    // As in common DiT/ViT recipes: no decay on biases and 1-D parameters.
    decay: (name) => (params[name]?.rank ?? 0) > 1,
  });
  const ema = new Ema(model.params, settings.emaDecay);
  // Frozen weights (model.zero's zeroed operators, ESD's untrained part) get no gradient, so neither AdamW nor the EMA moves them.
  const frozen = new Set(model.frozen);
  const trainable = [...Object.entries(model.params).filter(([k]) => !frozen.has(k)).map(([, v]) => v), ...Object.values(own)];
  return {
    model, objective, schedule, optimizer, ema, gradClip: settings.gradClip, trainable, updateEngine: opts.updateEngine ?? 'auto',
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
 * Clipping, AdamW and the EMA are one call (core-tensor's clipAdamWEma: a single native kernel over all
 * parameters on the native backend, bit-identical to clipByGlobalNorm + AdamW.step + Ema.update).
 */
export function trainStep(trainer: Trainer, batch: FloatBatch, opts: { lr: number; emaDecay: number; rng: Rng }): StepResult {
  const { model, objective, optimizer, ema } = trainer;
  const own = objective.trainable ?? {};
  const params = { ...model.params, ...own };
  // tf.variableGrads keys gradients by tfjs variable name; the optimizer keys by parameter name.
  const paramNameOf = new Map(Object.entries(params).map(([k, v]) => [v.name, k]));
  // The optimizer's count of applied updates: this update's number, 1-based (equal to the loop's step, also on resume).
  const step = optimizer.getState().step + 1;
  const terms: Record<string, number> = {};
  const { loss, grads } = tf.tidy(() => {
    const x = tf.tensor4d(batch.x, batch.shape);
    const y = tf.tensor1d(batch.y, 'int32');
    const { value, grads } = tf.variableGrads(() => {
      const v = objective.loss({ model, x, y, rng: opts.rng, schedule: trainer.schedule, step, ...(batch.indices ? { indices: batch.indices } : {}) });
      // Read inside: variableGrads disposes everything but the loss when this returns.
      for (const [k, t] of Object.entries(v.terms)) terms[k] = typeof t === 'number' ? t : t.dataSync()[0]!;
      return v.loss;
    }, [...trainer.trainable]);
    const named = Object.fromEntries(Object.entries(grads).map(([k, g]) => [paramNameOf.get(k)!, g]));
    return { loss: value.dataSync()[0]!, grads: named };
  });
  // Outside the tidy: the optimizer's moments and the EMA must outlive this step.
  const { norm, updated } = clipAdamWEma(params, grads, optimizer, ema, {
    maxNorm: trainer.gradClip > 0 ? trainer.gradClip : Infinity,
    lr: opts.lr,
    emaDecay: opts.emaDecay,
    apply: Number.isFinite(loss),
    engine: trainer.updateEngine ?? 'auto',
    // Frozen weights never change, so their average stays the value it started as, bit for bit (an update would round it).
    withoutEma: [...Object.keys(own), ...model.frozen],
  });
  tf.dispose(Object.values(grads));
  forgetDisposedInScope();
  return { loss, gradNorm: norm, terms, updated };
}
