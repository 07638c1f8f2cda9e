import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricFileError } from '../../errors.js';
import { logMelSpectrogram, VGGISH_FRONT_END } from '../mel.js';
import { resample } from '../resample.js';
import { readManifest, type ManifestRow } from '../spoken-digits/corpus.js';
import { readWav } from '../wav.js';
import { MEL_CACHE_FILE, melCacheKey, readMelCache, writeMelCache } from './cache.js';
import { melToImage, SPOKEN_DIGITS_MEL, type MelNormalization } from './normalization.js';

/** The corpus the experiment `spoken-digits:synthesize` writes. */
export const DEFAULT_SPOKEN_DIGITS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../experiments/spoken-digits/data');

export interface SpokenDigitsMelOptions {
  /** Directory holding manifest.jsonl and wav/; default experiments/spoken-digits/data. */
  dir?: string;
  /** Called every 200 clips with progress. */
  log?: (line: string) => void;
  /**
   * Keep the images in `<dir>/mel-cache.safetensors` and reuse them while the manifest and WAVs are
   * unchanged (default true): each stage of a pipeline is its own process and would redo ≈ 35 s of log-mel.
   */
  cache?: boolean;
}

/** One split as images for a diffusion model. */
export interface SpokenDigitsMelSplit {
  /** NHWC [n, height, width, 1]: height = time frames, width = mel bands, values in [−1, 1]. */
  images: Float32Array;
  /** Digit (0–9) of each image. */
  labels: Int32Array;
  n: number;
  height: number;
  width: number;
  /** Always 1 (one log-mel channel). */
  channels: 1;
  /** The split's speakers (`voice+variant`), sorted; train and test share none. */
  speakers: string[];
}

export interface SpokenDigitsMel {
  train: SpokenDigitsMelSplit;
  test: SpokenDigitsMelSplit;
  /** The log-mel ↔ image map; store it with anything generated so images can be mapped back. */
  normalization: MelNormalization;
  /** The manifest read. */
  manifest: string;
}

/**
 * The first 64 log-mel frames of a clip (VGGish front end: 16 kHz, 25 ms windows every 10 ms, 64
 * bands), frames past the clip's end filled with the log-mel of silence: [64 × 64] row-major.
 */
export function clipLogMelCrop(samples: Float32Array, sampleRate: number): Float32Array {
  const { frames, bands, silence } = SPOKEN_DIGITS_MEL;
  const x = sampleRate === VGGISH_FRONT_END.sampleRate ? samples : resample(samples, sampleRate, VGGISH_FRONT_END.sampleRate);
  const mel = logMelSpectrogram(x);
  const out = new Float32Array(frames * bands).fill(silence);
  out.set(mel.data.subarray(0, Math.min(mel.rows, frames) * bands));
  return out;
}

function split(rows: ManifestRow[], crops: Float32Array[], norm: MelNormalization): SpokenDigitsMelSplit {
  const { frames, bands } = SPOKEN_DIGITS_MEL;
  const size = frames * bands;
  const images = new Float32Array(rows.length * size);
  crops.forEach((c, i) => images.set(melToImage(c, norm), i * size));
  return {
    images,
    labels: Int32Array.from(rows, (r) => r.label),
    n: rows.length,
    height: frames,
    width: bands,
    channels: 1,
    speakers: [...new Set(rows.map((r) => `${r.voice}+${r.variant}`))].sort(),
  };
}

/**
 * The spoken-digits corpus as 64 × 64 log-mel images (see SPOKEN_DIGITS_MEL) in manifest order,
 * normalised to [−1, 1] with the training split's constants; the train/test split is the corpus'
 * voice-disjoint one. Deterministic: the same corpus gives the same arrays.
 */
export async function loadSpokenDigitsMel(opts: SpokenDigitsMelOptions = {}): Promise<SpokenDigitsMel> {
  const dir = opts.dir ?? DEFAULT_SPOKEN_DIGITS_DIR;
  const manifest = join(dir, 'manifest.jsonl');
  if (!existsSync(manifest)) {
    throw new MetricFileError(`${manifest}: spoken-digits corpus not found; make it with 'npx nx run spoken-digits:synthesize' (or pass dir)`);
  }
  const rows = await readManifest(manifest);
  const cachePath = join(dir, MEL_CACHE_FILE);
  const key = opts.cache === false ? null : melCacheKey(readFileSync(manifest, 'utf8'), dir, rows);
  const cached = key === null ? null : readMelCache(cachePath, key, manifest);
  if (cached) {
    opts.log?.(`log-mel images of ${rows.length} clips from ${cachePath}`);
    return cached;
  }
  const crops = rows.map((r, i) => {
    const wav = join(dir, r.path);
    if (!existsSync(wav)) throw new MetricFileError(`${wav}: listed in ${manifest} but missing; re-run 'npx nx run spoken-digits:synthesize'`);
    const a = readWav(wav);
    if ((i + 1) % 200 === 0 || i + 1 === rows.length) opts.log?.(`log-mel ${i + 1}/${rows.length} clips`);
    return clipLogMelCrop(a.samples, a.sampleRate);
  });
  const trainIdx = rows.flatMap((r, i) => (r.split === 'train' ? [i] : []));
  const testIdx = rows.flatMap((r, i) => (r.split === 'test' ? [i] : []));
  if (trainIdx.length === 0 || testIdx.length === 0) {
    throw new MetricFileError(`${manifest}: needs clips in both splits, has ${trainIdx.length} train and ${testIdx.length} test; re-run 'npx nx run spoken-digits:synthesize'`);
  }
  let high = -Infinity;
  for (const i of trainIdx) for (const v of crops[i]!) high = Math.max(high, v);
  const normalization: MelNormalization = { low: SPOKEN_DIGITS_MEL.silence, high };
  if (!(high > normalization.low)) throw new MetricFileError(`${manifest}: the training clips are silent; re-run 'npx nx run spoken-digits:synthesize'`);
  const pick = (idx: number[]) => split(idx.map((i) => rows[i]!), idx.map((i) => crops[i]!), normalization);
  const mel: SpokenDigitsMel = { train: pick(trainIdx), test: pick(testIdx), normalization, manifest };
  if (key !== null) {
    // A corpus directory others cannot write to still loads; it is only recomputed next time.
    await writeMelCache(cachePath, key, mel).catch((e: Error) => opts.log?.(`cannot write ${cachePath} (${e.message}); images will be recomputed next time`));
  }
  return mel;
}
