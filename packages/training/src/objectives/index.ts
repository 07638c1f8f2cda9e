import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveFactory } from '../objective.js';
import { distillationFromConfig } from './distillation.js';
import { epsilonFromConfig } from './epsilon.js';
import { esdFromConfig } from './esd.js';
import { flowFromConfig } from './flow.js';
import { repaFromConfig } from './repa.js';
import { vPredictionFromConfig } from './v-prediction.js';

export { epsilonObjective } from './epsilon.js';
export { distillationObjective } from './distillation.js';
export { drawEsdState, esdObjective, ESD_SAMPLER_STEPS, type EsdDraw, type EsdObjective, type EsdSettings } from './esd.js';
export { flowObjective, type FlowObjectiveOptions } from './flow.js';
export { vPredictionObjective } from './v-prediction.js';
export { createRepaProjector, repaObjective, type RepaProjector, type RepaProjectorKind, type RepaSettings } from './repa.js';
export { gatherTokens, readEncoderTokens, toHalfBits, writeEncoderTokens, TOKENS_FILE, TOKENS_META_FILE, type EncoderTokens, type EncoderTokensMeta } from './repa-tokens.js';

/** Every objective train.objective can name. A new objective is a module here and one line below. */
export const OBJECTIVES: Readonly<Record<string, ObjectiveFactory>> = {
  epsilon: epsilonFromConfig,
  distillation: distillationFromConfig,
  'v-prediction': vPredictionFromConfig,
  flow: flowFromConfig,
  esd: esdFromConfig,
};

type Process = TrainConfig['diffusion']['process'];
type Prediction = NonNullable<TrainConfig['diffusion']['prediction']>;

/**
 * The diffusion an objective trains a model for, checked against the config's diffusion section (the
 * sampler reads the model's output by that section). Objectives not listed here fit any.
 */
const TRAINS: Readonly<Record<string, { process: Process; prediction?: Prediction }>> = {
  epsilon: { process: 'ddpm', prediction: 'epsilon' },
  distillation: { process: 'ddpm', prediction: 'epsilon' },
  'v-prediction': { process: 'ddpm', prediction: 'v' },
  flow: { process: 'flow' },
};

/** The objective a config implies: distillation with a distill section, esd with an esd section, else by process and prediction. */
export function defaultObjectiveName(cfg: TrainConfig): string {
  if (cfg.distill) return 'distillation';
  if (cfg.esd) return 'esd';
  if (cfg.diffusion.process === 'flow') return 'flow';
  return cfg.diffusion.prediction === 'v' ? 'v-prediction' : 'epsilon';
}

/**
 * The objective a config asks for: train.objective, else defaultObjectiveName. An objective that trains
 * another process or prediction than diffusion.* says (the sampler would misread the model), is a
 * ConfigError naming the field and the fix. A repa section wraps that objective in REPA's alignment term.
 */
export async function objectiveFor(cfg: TrainConfig, model: Denoiser): Promise<Objective> {
  const explicit = cfg.train.objective;
  const name = explicit ?? defaultObjectiveName(cfg);
  const factory = Object.hasOwn(OBJECTIVES, name) ? OBJECTIVES[name] : undefined;
  if (!factory) throw new ConfigError(`train.objective: unknown objective '${name}'; known: ${Object.keys(OBJECTIVES).join(', ')}`);
  if (cfg.distill && name !== 'distillation') {
    throw new ConfigError(`distill: a distill section is set but train.objective is '${name}'; remove distill or set train.objective to 'distillation'`);
  }
  checkDiffusion(cfg, name, explicit !== undefined);
  const base = await factory(cfg, model);
  if (!cfg.repa) return base;
  try {
    return repaFromConfig(cfg, model, base);
  } catch (e) {
    base.dispose();
    throw e;
  }
}

function checkDiffusion(cfg: TrainConfig, name: string, explicit: boolean): void {
  const trains = Object.hasOwn(TRAINS, name) ? TRAINS[name] : undefined;
  if (!trains) return;
  const { process } = cfg.diffusion;
  const prediction = cfg.diffusion.prediction ?? 'epsilon';
  const field = explicit ? `train.objective: '${name}'` : 'distill';
  if (name === 'distillation') {
    const drop = cfg.distill ? 'remove the distill section' : 'remove train.objective';
    if (process !== 'ddpm') {
      throw new ConfigError(`${field}: BK-SDM distillation trains an ε-prediction model of the ddpm process, but diffusion.process is '${process}'; ${drop} or set diffusion.process: 'ddpm'`);
    }
    if (prediction !== 'epsilon') {
      throw new ConfigError(`${field}: BK-SDM distillation trains an ε-prediction model, but diffusion.prediction is '${prediction}'; ${drop} or diffusion.prediction`);
    }
    return;
  }
  if (trains.process !== process) {
    const fix = process === 'flow' ? "remove train.objective (a flow model trains with 'flow') or set diffusion.process: 'ddpm'" : "set diffusion.process: 'flow' or remove train.objective";
    throw new ConfigError(`train.objective: '${name}' trains the ${trains.process} process, but diffusion.process is '${process}'; ${fix}`);
  }
  if (trains.prediction !== undefined && trains.prediction !== prediction) {
    const said = cfg.diffusion.prediction === undefined ? "'epsilon' (the default)" : `'${prediction}'`;
    throw new ConfigError(
      `train.objective: '${name}' trains a ${trains.prediction === 'v' ? 'v' : 'ε'}-prediction model, but diffusion.prediction is ${said}; ` +
        `set diffusion.prediction: '${trains.prediction}' or remove train.objective (it follows diffusion.prediction)`,
    );
  }
}
