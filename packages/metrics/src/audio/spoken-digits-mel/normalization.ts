import { MetricInputError } from '../../errors.js';
import { VGGISH_FRONT_END } from '../mel.js';

/**
 * Spectrogram images of the spoken-digits corpus: the first 64 VGGish log-mel frames (0.64 s of
 * frame hops, 0.655 s of audio) × all 64 mel bands, one channel. Rows are time frames, columns mel
 * bands (low to high), the layout of the VGGish examples.
 */
export const SPOKEN_DIGITS_MEL = {
  frames: 64,
  bands: VGGISH_FRONT_END.melBands,
  /** log(0 + 0.01): the log-mel value of digital silence, the smallest value the front end produces. */
  silence: Math.log(VGGISH_FRONT_END.logOffset),
} as const;

/**
 * The affine map between log-mel values and image values: `low` ↦ −1 and `high` ↦ +1. `low` is
 * the log-mel of silence and `high` the largest log-mel value of the training crops, so training
 * images fill [−1, 1]; other values are clipped into it.
 */
export interface MelNormalization {
  low: number;
  high: number;
}

function checkNormalization(norm: MelNormalization): void {
  if (!Number.isFinite(norm.low) || !Number.isFinite(norm.high) || !(norm.low < norm.high)) {
    throw new MetricInputError(`normalization: need finite low < high, got low=${norm.low}, high=${norm.high}`);
  }
}

/** Log-mel values → image values in [−1, 1] (clipped). */
export function melToImage(logMel: Float32Array, norm: MelNormalization): Float32Array {
  checkNormalization(norm);
  const scale = 2 / (norm.high - norm.low);
  return logMel.map((v) => Math.min(1, Math.max(-1, (v - norm.low) * scale - 1)));
}

/** Image values → log-mel values; the inverse of melToImage on [−1, 1]. Values outside are clipped first (a sampler may overshoot). */
export function imageToMel(images: Float32Array, norm: MelNormalization): Float32Array {
  checkNormalization(norm);
  const scale = (norm.high - norm.low) / 2;
  return images.map((v) => norm.low + (Math.min(1, Math.max(-1, v)) + 1) * scale);
}
