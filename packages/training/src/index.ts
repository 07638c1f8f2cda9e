export { NonFiniteLossError, train, learningRate, emaDecayAt, configHash, type TrainOptions, type TrainResult } from './train.js';
export { createTrainer, trainStep, type OptimizerSettings, type StepResult, type Trainer } from './train-step.js';
export type { Objective, ObjectiveContext, ObjectiveFactory, ObjectiveValue } from './objective.js';
export { OBJECTIVES, defaultObjectiveName, distillationObjective, epsilonObjective, esdObjective, flowObjective, objectiveFor, vPredictionObjective, type FlowObjectiveOptions } from './objectives/index.js';
export {
  createRepaProjector,
  gatherTokens,
  readEncoderTokens,
  repaObjective,
  toHalfBits,
  writeEncoderTokens,
  TOKENS_FILE,
  TOKENS_META_FILE,
  type EncoderTokens,
  type EncoderTokensMeta,
  type RepaProjector,
  type RepaProjectorKind,
  type RepaSettings,
} from './objectives/index.js';
