export { NonFiniteLossError, train, learningRate, emaDecayAt, configHash, type TrainOptions, type TrainResult } from './train.js';
