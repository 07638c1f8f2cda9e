import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, encodeSafetensors, writeFileAtomic, type SafetensorsEntry } from '@difflab/core-tensor';
import type { ManifestRow } from '../spoken-digits/corpus.js';
import { SPOKEN_DIGITS_MEL } from './normalization.js';
import type { SpokenDigitsMel, SpokenDigitsMelSplit } from './load.js';

/**
 * Computing the images costs ≈ 35 s (resampling + log-mel of every clip) and every stage of a
 * pipeline runs in its own process, so the result is kept beside the corpus. Bump when the
 * images a corpus gives change (crop, front end, normalisation).
 */
const FORMAT = 'spoken-digits-mel-v1';
export const MEL_CACHE_FILE = 'mel-cache.safetensors';

/**
 * What the images are a function of: the manifest, each listed WAV's size and mtime (a re-synthesised
 * corpus invalidates the cache) and the image layout. Null when a listed WAV is missing: the loader
 * then reports it.
 */
export function melCacheKey(manifestText: string, dir: string, rows: readonly ManifestRow[]): string | null {
  const h = createHash('sha256').update(FORMAT).update(JSON.stringify(SPOKEN_DIGITS_MEL)).update(manifestText);
  for (const r of rows) {
    const wav = join(dir, r.path);
    if (!existsSync(wav)) return null;
    const s = statSync(wav);
    h.update(`${r.path}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex');
}

const f32 = (a: Float32Array): SafetensorsEntry => ({ dtype: 'F32', shape: [a.length], data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });
const i32 = (a: Int32Array): SafetensorsEntry => ({ dtype: 'I32', shape: [a.length], data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) });

export async function writeMelCache(path: string, key: string, mel: SpokenDigitsMel): Promise<void> {
  const tensors = { 'train.images': f32(mel.train.images), 'train.labels': i32(mel.train.labels), 'test.images': f32(mel.test.images), 'test.labels': i32(mel.test.labels) };
  const metadata = {
    key,
    normalization: JSON.stringify(mel.normalization),
    trainSpeakers: JSON.stringify(mel.train.speakers),
    testSpeakers: JSON.stringify(mel.test.speakers),
  };
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata, path));
}

/** The cached images when the cache exists and was made under `key`; otherwise null (recompute). */
export function readMelCache(path: string, key: string, manifest: string): SpokenDigitsMel | null {
  if (!existsSync(path)) return null;
  const c = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
  if (c.metadata.key !== key) return null;
  // Copies: the decoded views share one file buffer and may be unaligned for typed arrays.
  const floats = (name: string) => new Float32Array(c.tensors[name]!.data.slice().buffer);
  const ints = (name: string) => new Int32Array(c.tensors[name]!.data.slice().buffer);
  const { frames, bands } = SPOKEN_DIGITS_MEL;
  const split = (prefix: string, speakers: string): SpokenDigitsMelSplit => {
    const labels = ints(`${prefix}.labels`);
    return { images: floats(`${prefix}.images`), labels, n: labels.length, height: frames, width: bands, channels: 1, speakers: JSON.parse(speakers) as string[] };
  };
  return {
    train: split('train', c.metadata.trainSpeakers!),
    test: split('test', c.metadata.testSpeakers!),
    normalization: JSON.parse(c.metadata.normalization!) as SpokenDigitsMel['normalization'],
    manifest,
  };
}
