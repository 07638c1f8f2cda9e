export { LossInputError } from './errors.js';
export { epsilonMse, epsilonPart } from './epsilon.js';
export { discretizedGaussianLogLikelihood, vlbTerm } from './vlb.js';
export { type DiffusionLossOptions, type DiffusionLossTerms, diffusionLossTerms, diffusionTrainingLoss } from './training.js';
export { type DistillationTerms, type DistillationWeights, distillationTerms, unetDistillationLoss } from './distillation.js';
export {
  type FlowLossOptions,
  type FlowLossTerms,
  type FlowTimeSampling,
  COSINE_EPS,
  cosinePerExample,
  flowLossTerms,
  flowVelocity,
  sampleFlowTimes,
  velocityDirectionLoss,
} from './flow.js';
export { type VPredictionLossTerms, vPredictionLossTerms, vTarget } from './v-prediction.js';
export { TOKEN_COSINE_EPS, poolTokenGrid, repaAlignmentLoss, spatialNormalizeTokens, tokenCosine } from './repa.js';
export { esdLoss, esdTarget } from './esd.js';
