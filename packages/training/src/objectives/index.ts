import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveFactory } from '../objective.js';
import { distillationFromConfig } from './distillation.js';
import { epsilonFromConfig } from './epsilon.js';

export { epsilonObjective } from './epsilon.js';
export { distillationObjective } from './distillation.js';

/** Every objective train.objective can name. A new objective is a module here and one line below. */
export const OBJECTIVES: Readonly<Record<string, ObjectiveFactory>> = {
  epsilon: epsilonFromConfig,
  distillation: distillationFromConfig,
};

/** The objective a config asks for: train.objective, or distillation when a distill section is given, else ε-prediction. */
export async function objectiveFor(cfg: TrainConfig, model: Denoiser): Promise<Objective> {
  const name = cfg.train.objective ?? (cfg.distill ? 'distillation' : 'epsilon');
  const factory = Object.hasOwn(OBJECTIVES, name) ? OBJECTIVES[name] : undefined;
  if (!factory) throw new ConfigError(`train.objective: unknown objective '${name}'; known: ${Object.keys(OBJECTIVES).join(', ')}`);
  if (cfg.distill && name !== 'distillation') {
    throw new ConfigError(`distill: a distill section is set but train.objective is '${name}'; remove distill or set train.objective to 'distillation'`);
  }
  return factory(cfg, model);
}
