export { NonFiniteLossError, train, learningRate, emaDecayAt, configHash, type TrainOptions, type TrainResult } from './train.js';
export { createTrainer, trainStep, type OptimizerSettings, type StepResult, type Trainer } from './train-step.js';
export type { Objective, ObjectiveContext, ObjectiveFactory, ObjectiveValue } from './objective.js';
export { OBJECTIVES, defaultObjectiveName, distillationObjective, epsilonObjective, flowObjective, objectiveFor, vPredictionObjective, type FlowObjectiveOptions } from './objectives/index.js';
