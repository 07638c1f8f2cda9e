export { SPOKEN_DIGITS_MEL, melToImage, imageToMel, type MelNormalization } from './normalization.js';
export {
  DEFAULT_SPOKEN_DIGITS_DIR,
  clipLogMelCrop,
  loadSpokenDigitsMel,
  type SpokenDigitsMel,
  type SpokenDigitsMelOptions,
  type SpokenDigitsMelSplit,
} from './load.js';
