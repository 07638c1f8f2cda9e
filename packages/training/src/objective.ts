import type { Rng, tf } from '@difflab/core-tensor';
import type { NoiseSchedule } from '@difflab/models';
import type { Denoiser, TrainConfig } from '@difflab/runs';

/** What an objective sees of one training step. Every random draw goes through `rng`. */
export interface ObjectiveContext {
  model: Denoiser;
  /** The clean batch, NHWC in [−1, 1]. */
  x: tf.Tensor4D;
  /** int32 class labels [B] (ignored by unconditional models). */
  y: tf.Tensor1D;
  rng: Rng;
  schedule: NoiseSchedule;
  /** 1-based number of the optimizer update this loss is for (trainStep sets it; HASTE-style schedules switch terms by it). */
  step?: number;
  /** Index of each example in the training split, when the batch came from it (per-example caches are keyed by it). */
  indices?: Int32Array;
}

export interface ObjectiveValue {
  /** The scalar the step differentiates. */
  loss: tf.Scalar;
  /** Parts worth logging beside the loss (metrics columns, e.g. kd_task); read out by the step. */
  terms: Record<string, tf.Scalar | number>;
}

/**
 * A training objective: a loss that is pure in the model's variables (it runs inside
 * tf.variableGrads), a name and the settings recorded in the run's params.
 */
export interface Objective {
  readonly name: string;
  /** Recorded in the run's params as given. */
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /**
   * Weights the objective trains beside the model's (REPA's projector), keyed by names distinct from the
   * model's: the step differentiates and updates them with the same AdamW (no EMA), the checkpoint saves
   * them (objective.safetensors), sampling never uses them. Absent or empty for most objectives.
   */
  readonly trainable?: Readonly<Record<string, tf.Variable>>;
  loss(ctx: ObjectiveContext): ObjectiveValue;
  /** Releases what the objective holds (e.g. a teacher's weights). */
  dispose(): void;
}

/** Builds an objective from a training config and the model it trains (may load files, e.g. a teacher run). */
export type ObjectiveFactory = (cfg: TrainConfig, model: Denoiser) => Objective | Promise<Objective>;
