import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '@difflab/core-tensor';
import {
  exampleEmbeddingStats,
  frechetDistance,
  imageToMel,
  loadSpokenDigitsMel,
  SpokenDigitsNet,
  SPOKEN_DIGITS_MEL,
  VGGISH_FRONT_END,
  type AudioEmbedder,
  type GaussianStats,
  type LogMelExamples,
  type MelNormalization,
  type SpokenDigitsMel,
} from '@difflab/metrics';
import { EvalError } from '../errors.js';

/** The embedder the spoken-digits experiment trains (`npx nx run spoken-digits:train-embedder`). */
export const DEFAULT_SPOKEN_DIGITS_EMBEDDER = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../experiments/spoken-digits/artifacts/spoken-digits-embedder.safetensors');

/** Spectrogram images: NHWC [n, 64, 64, 1] as a tensor or a row-major Float32Array. */
export type SpectrogramImages = Float32Array | tf.Tensor4D;

function imageData(images: SpectrogramImages): Float32Array {
  const { frames, bands } = SPOKEN_DIGITS_MEL;
  const size = frames * bands;
  let data: Float32Array;
  if (images instanceof Float32Array) {
    if (images.length === 0 || images.length % size !== 0) {
      throw new EvalError(`images: ${images.length} values is not a whole number of ${frames}×${bands}×1 spectrograms (${size} values each); pass NHWC [n, ${frames}, ${bands}, 1]`);
    }
    data = images;
  } else {
    const [, h, w, c] = images.shape;
    if (h !== frames || w !== bands || c !== 1) throw new EvalError(`images: shape [${images.shape}], expected [n, ${frames}, ${bands}, 1] (frames × mel bands × 1)`);
    data = images.dataSync() as Float32Array;
  }
  if (!data.every(Number.isFinite)) throw new EvalError('images: contain NaN or infinite values; the sampler diverged');
  return data;
}

/**
 * Generated (or real) spectrogram images → the embedder's 0.96 s log-mel examples, treated as the
 * spoken-digits pipeline treats a real clip: values mapped back to log-mel units (imageToMel), the
 * 64 frames placed at the start of a 96-frame example and the remaining 32 frames filled with the
 * log-mel of silence (a clip shorter than 0.96 s is zero-padded at its end).
 */
export function spectrogramExamples(images: SpectrogramImages, normalization: MelNormalization): LogMelExamples {
  const data = imageToMel(imageData(images), normalization);
  const { frames, bands, silence } = SPOKEN_DIGITS_MEL;
  const count = data.length / (frames * bands);
  const exampleSize = VGGISH_FRONT_END.exampleFrames * bands;
  const out = new Float32Array(count * exampleSize).fill(silence);
  for (let i = 0; i < count; i++) out.set(data.subarray(i * frames * bands, (i + 1) * frames * bands), i * exampleSize);
  return { count, data: out };
}

/** Float64 mean and covariance of the embeddings of spectrogram images (one example each). */
export async function spectrogramEmbeddingStats(embedder: AudioEmbedder, images: SpectrogramImages, normalization: MelNormalization, batchSize = 64): Promise<GaussianStats> {
  const examples = spectrogramExamples(images, normalization);
  if (examples.count < 2) throw new EvalError(`images: FAD needs at least 2 spectrograms, got ${examples.count}`);
  return exampleEmbeddingStats(embedder, examples, batchSize);
}

export interface SpectrogramFadOptions {
  embedder: AudioEmbedder;
  normalization: MelNormalization;
  /** The reference set: spectrogram images (e.g. the test voices' loadSpokenDigitsMel split) or their spectrogramEmbeddingStats. */
  reference: SpectrogramImages | GaussianStats;
  batchSize?: number;
}

/** FAD between spectrogram images and the reference set, both embedded through spectrogramExamples. */
export async function fadOfSpectrograms(images: SpectrogramImages, opts: SpectrogramFadOptions): Promise<number> {
  const ref = 'cov' in opts.reference ? opts.reference : await spectrogramEmbeddingStats(opts.embedder, opts.reference, opts.normalization, opts.batchSize);
  if (ref.dim !== opts.embedder.dim) throw new EvalError(`reference: statistics have dimension ${ref.dim}, the embedder '${opts.embedder.name}' gives ${opts.embedder.dim}`);
  return frechetDistance(ref, await spectrogramEmbeddingStats(opts.embedder, images, opts.normalization, opts.batchSize));
}

/** What scoring generated spectrograms needs: the corpus (for normalisation and reference), the embedder and the reference statistics. */
export interface SpectrogramFadReference {
  data: SpokenDigitsMel;
  embedder: SpokenDigitsNet;
  /** Embedding statistics of the test voices' spectrograms. */
  stats: GaussianStats;
}

/** Loads the corpus as spectrograms and the trained embedder, and embeds the test split once. The caller disposes `embedder`. */
export async function loadSpectrogramFadReference(opts: { dir?: string; weights?: string; log?: (line: string) => void } = {}): Promise<SpectrogramFadReference> {
  const weights = opts.weights ?? DEFAULT_SPOKEN_DIGITS_EMBEDDER;
  if (!existsSync(weights)) throw new EvalError(`${weights}: spoken-digits embedder not found; train it with 'npx nx run spoken-digits:train-embedder' (or pass weights)`);
  const data = await loadSpokenDigitsMel({ ...(opts.dir === undefined ? {} : { dir: opts.dir }), ...(opts.log ? { log: opts.log } : {}) });
  const embedder = await SpokenDigitsNet.load(weights);
  try {
    return { data, embedder, stats: await spectrogramEmbeddingStats(embedder, data.test.images, data.normalization) };
  } catch (e) {
    embedder.dispose();
    throw e;
  }
}
