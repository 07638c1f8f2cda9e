import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { type NoiseSchedule, type StagePair, type UNet, addNoise, forwardWithFeatures } from '@difflab/models';
import { epsilonMse } from './epsilon.js';
import { LossInputError } from './errors.js';

/** Weights of BK-SDM's three terms; each defaults to 1 (the official training script's defaults). */
export interface DistillationWeights {
  task?: number;
  output?: number;
  feature?: number;
}

export interface DistillationTerms {
  /** λ_task·L_task + λ_out·L_outKD + λ_feat·L_featKD */
  total: tf.Scalar;
  /** ‖ε − ε_S‖², mean over elements. */
  task: tf.Scalar;
  /** ‖ε_T − ε_S‖², mean over elements. */
  output: tf.Scalar;
  /** Σ over stage pairs of the per-pair mean over elements of (f_T − f_S)². */
  feature: tf.Scalar;
  /** Each pair's term, keyed by the student stage. */
  perStage: Record<string, tf.Scalar>;
}

/** Identity whose gradient is zero: the teacher is a fixed target. */
const stopGradientOp = tf.customGrad((...inputs) => ({
  value: tf.clone(inputs[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));
const detach = <T extends tf.Tensor>(x: T): T => stopGradientOp(x) as T;

function weight(w: number | undefined, name: string): number {
  const v = w ?? 1;
  if (!(v >= 0) || !Number.isFinite(v)) throw new LossInputError(`distillation weight '${name}' must be a finite number ≥ 0, got ${w}`);
  return v;
}

function sameShape(a: tf.Tensor, b: tf.Tensor, what: string): void {
  if (!tf.util.arraysEqual(a.shape, b.shape)) throw new LossInputError(`${what}: student [${a.shape}] and teacher [${b.shape}] shapes differ`);
}

/**
 * BK-SDM's loss (Kim et al., arXiv 2305.15798, §3.2) from tensors already computed:
 * L = λ_task·‖ε − ε_S‖² + λ_out·‖ε_T − ε_S‖² + λ_feat·Σ_l ‖f_T^l − f_S^l‖², every squared norm reduced
 * as a mean over its elements (F.mse_loss(reduction='mean') in the official script), the feature term
 * summed over the stage pairs. Teacher tensors pass through a stop-gradient.
 */
export function distillationTerms(
  inputs: {
    noise: tf.Tensor4D;
    studentOut: tf.Tensor4D;
    teacherOut: tf.Tensor4D;
    studentFeatures: Record<string, tf.Tensor>;
    teacherFeatures: Record<string, tf.Tensor>;
    pairs: readonly StagePair[];
  },
  weights: DistillationWeights = {},
): DistillationTerms {
  const wTask = weight(weights.task, 'task');
  const wOut = weight(weights.output, 'output');
  const wFeat = weight(weights.feature, 'feature');
  sameShape(inputs.studentOut, inputs.teacherOut, 'output distillation');
  for (const p of inputs.pairs) {
    const s = inputs.studentFeatures[p.student];
    const t = inputs.teacherFeatures[p.teacher];
    if (!s) throw new LossInputError(`feature distillation: student features lack stage '${p.student}'`);
    if (!t) throw new LossInputError(`feature distillation: teacher features lack stage '${p.teacher}'`);
    sameShape(s, t, `feature distillation ${p.student} ← ${p.teacher}`);
  }
  return tf.tidy((): tf.TensorContainer => {
    const mse = (a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.square(tf.sub(a, detach(b)))) as tf.Scalar;
    const task = epsilonMse(inputs.studentOut, inputs.noise);
    const output = mse(inputs.studentOut, inputs.teacherOut);
    const perStage: Record<string, tf.Scalar> = {};
    for (const p of inputs.pairs) perStage[p.student] = mse(inputs.studentFeatures[p.student]!, inputs.teacherFeatures[p.teacher]!);
    const feature = (inputs.pairs.length > 0 ? tf.addN(Object.values(perStage)) : tf.scalar(0)) as tf.Scalar;
    const total = tf.addN([tf.mul(task, wTask), tf.mul(output, wOut), tf.mul(feature, wFeat)]) as tf.Scalar;
    return { total, task, output, feature, perStage };
  }) as unknown as DistillationTerms;
}

/**
 * One Monte-Carlo draw of BK-SDM's distillation loss for a student U-Net and its frozen teacher:
 * t ~ U{0..T−1} per example, then ε ~ N(0, I) (from `rng` in that order, as diffusionTrainingLoss),
 * x_t = addNoise(x0, ε, t); both models see the same x_t, t and cond (apply label dropout to `cond`
 * beforehand so they agree). Differentiate with tf.variableGrads(() => …total, studentVariables):
 * the teacher's outputs are stop-gradient'ed, so its weights get no gradient either way.
 */
export function unetDistillationLoss(
  student: UNet,
  teacher: UNet,
  x0: tf.Tensor4D,
  cond: tf.Tensor | undefined,
  rng: Rng,
  schedule: NoiseSchedule,
  opts: { pairs: readonly StagePair[]; weights?: DistillationWeights },
): DistillationTerms {
  const b = x0.shape[0];
  const t = Int32Array.from({ length: b }, () => rng.int(schedule.numTimesteps));
  return tf.tidy((): tf.TensorContainer => {
    const noise = rng.normalTensor(x0.shape) as tf.Tensor4D;
    const xt = addNoise(schedule, x0, noise, t) as tf.Tensor4D;
    const tt = tf.tensor1d(Float32Array.from(t));
    const s = forwardWithFeatures(student, xt, tt, cond, { stages: opts.pairs.map((p) => p.student) });
    const te = forwardWithFeatures(teacher, xt, tt, cond, { stages: opts.pairs.map((p) => p.teacher) });
    const terms = distillationTerms(
      { noise, studentOut: s.out, teacherOut: te.out, studentFeatures: s.features, teacherFeatures: te.features, pairs: opts.pairs },
      opts.weights,
    );
    return terms as unknown as tf.TensorContainer;
  }) as unknown as DistillationTerms;
}
