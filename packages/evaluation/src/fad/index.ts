export {
  DEFAULT_SPOKEN_DIGITS_EMBEDDER,
  fadOfSpectrograms,
  loadSpectrogramFadReference,
  spectrogramEmbeddingStats,
  spectrogramExamples,
  type SpectrogramFadOptions,
  type SpectrogramFadReference,
  type SpectrogramImages,
} from './spectrogram-fad.js';
export { trainSpectrogramBaseline, sampleSpectrograms, type BaselineOptions, type BaselineResult } from './baseline.js';
export { fadOfRun, type RunSpectrogramFad } from './generated.js';
