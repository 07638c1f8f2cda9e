import { unetDistillationLoss, type DistillationWeights } from '@difflab/losses';
import { ConfigError, loadTeacher, type Denoiser, type Teacher, type TrainConfig } from '@difflab/runs';
import type { Objective } from '../objective.js';

/**
 * BK-SDM (Kim et al. 2023): the pruned U-Net student matches the noise, the frozen teacher's
 * output and its stage features. Both models see the labels as given: CFG label dropout is not
 * applied while distilling. The objective owns the teacher.
 */
export function distillationObjective(teacher: Teacher, weights: DistillationWeights): Objective {
  return {
    name: 'distillation',
    params: { distill_teacher_step: teacher.step, distill_pairs: JSON.stringify(teacher.pairs) },
    loss({ model, x, y, rng, schedule }) {
      if (!model.unet) throw new ConfigError(`distillation trains a U-Net; this model is a ${model.architecture}`);
      const labels = model.numClasses === null ? undefined : y;
      const d = unetDistillationLoss(model.unet, teacher.unet, x, labels, rng, schedule, { pairs: teacher.pairs, weights });
      return { loss: d.total, terms: { kd_task: d.task, kd_output: d.output, kd_feature: d.feature } };
    },
    dispose: () => teacher.unet.dispose(),
  };
}

export async function distillationFromConfig(cfg: TrainConfig, _model: Denoiser): Promise<Objective> {
  if (!cfg.distill) throw new ConfigError("train.objective: 'distillation' needs a distill section (distill.teacher: the teacher's run directory)");
  return distillationObjective(await loadTeacher(cfg), cfg.distill);
}
