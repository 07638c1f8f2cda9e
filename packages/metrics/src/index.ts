export { MetricInputError, MetricFileError } from './errors.js';
export {
  SYMMETRY_TOLERANCE,
  PSD_TOLERANCE,
  MIN_TRAIN_ROWS_PER_CLASS,
  firstNonFinite,
  requireFinite,
  requireFeatures,
  requireRows,
  requireSameWidth,
  requirePositiveInteger,
  requirePositiveNumber,
  requireNeighbours,
  requireCovariance,
  requireGaussianStats,
  requireLabels,
  inferredClassCount,
  requireClassCount,
  requireTwoClasses,
  requireProbeClasses,
  type NamedLabels,
  type ProbeLabelOptions,
} from './validate.js';
export { StreamingMoments, gaussianStats, type GaussianStats } from './fid/moments.js';
export { frechetDistance, type FrechetOptions } from './fid/frechet.js';
export { saveStats, loadStats } from './fid/stats-file.js';
export { writeNpz, writeNpy, encodeNpy, type FloatArray, type NumericArray } from './io/npz-write.js';
export { l2NormalizeRows, gram, type FeatureMatrix } from './features.js';
export { hsicBiased, hsicUnbiased } from './alignment/hsic.js';
export { cka, cknna, type CkaOptions, type CknnaOptions } from './alignment/cka.js';
export { mutualKnn, type MutualKnnOptions } from './alignment/mutual-knn.js';
export { precisionRecall, knnRadii, type PrecisionRecall, type PrecisionRecallOptions } from './precision-recall.js';
export { fitLogisticRegression, predict, accuracy, type LogisticModel, type LogisticFit, type LogisticFitOptions } from './probe/logistic.js';
export {
  linearProbe,
  fitStandardizer,
  standardize,
  meanPoolTokens,
  DEFAULT_C_GRID,
  type LinearProbeOptions,
  type LinearProbeResult,
  type ProbeSplit,
  type Standardizer,
} from './probe/linear-probe.js';
export { extractorStats, extractFeatures, type FeatureExtractor, type ImageBatches } from './extractors/extractor.js';
export {
  InceptionV3Fid,
  INCEPTION_CONVS,
  INCEPTION_FEATURE_DIM,
  inceptionParameterShapes,
  type ConvSpec,
  type InceptionOptions,
  type InceptionTrace,
} from './extractors/inception.js';
export { FmnistFeatureNet, FMNIST_FEATURE_DIM, trainFmnistFeatureNet, fmnistAccuracy, type TrainFeatureNetOptions } from './extractors/fmnist-net.js';
export { runFeatureNetTraining, readFeatureNetConfig, type FeatureNetConfig, type FeatureNetReport } from './extractors/fmnist-train.js';
export * from './audio/index.js';
export {
  readFeatureFile,
  readLabelFile,
  featureFileFormat,
  sniffFeatureFile,
  type FeatureFile,
  type FeatureFileFormat,
  type FeatureFileOptions,
  type LabelFile,
  type LabelFileOptions,
} from './io/feature-file.js';
