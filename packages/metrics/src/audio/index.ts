export { decodeWav, readWav, encodeWav, writeWav, WavFormatError, type Audio, type DecodedWav, type WavSampleFormat } from './wav.js';
export { resample, besselI0 } from './resample.js';
export {
  VGGISH_FRONT_END,
  SAMPLES_PER_EXAMPLE,
  hertzToMel,
  periodicHann,
  frameCount,
  melMatrix,
  stftMagnitude,
  logMelSpectrogram,
  waveformToExamples,
  type Matrix64,
  type MelMatrixOptions,
  type LogMelExamples,
  type ExampleOptions,
} from './mel.js';
export { audioEmbeddingStats, exampleEmbeddingStats, type AudioEmbedder, type AudioClips, type AudioEmbeddingStats, type EmbeddingStatsOptions } from './embedder.js';
export { Vggish, VggishPostprocessor, VGGISH_CONFIG, vggishParameterShapes, type VggishConfig } from './vggish.js';
export { resolveAudioSet, readAudioSet, type AudioSet } from './sources.js';
export {
  DIGIT_WORDS,
  planCorpus,
  readCorpusConfig,
  readManifest,
  synthesizeCorpus,
  synthesizeUtterance,
  espeakVersion,
  SpeechSynthesisError,
  type CorpusConfig,
  type ManifestRow,
} from './spoken-digits/corpus.js';
export {
  SpokenDigitsNet,
  SPOKEN_DIGITS_EMBEDDING_DIM,
  trainSpokenDigitsNet,
  spokenDigitsAccuracy,
  examplesMeanStd,
  type LabelledExamples,
  type TrainSpokenDigitsOptions,
} from './spoken-digits/net.js';
export {
  runEmbedderTraining,
  readEmbedderConfig,
  labelledExamples,
  noiseLike,
  shuffledSegments,
  type EmbedderConfig,
  type EmbedderReport,
} from './spoken-digits/train.js';
export * from './spoken-digits-mel/index.js';
