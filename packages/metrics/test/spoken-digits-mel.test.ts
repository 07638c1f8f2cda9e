import { existsSync, mkdtempSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@difflab/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  encodeWav,
  imageToMel,
  loadSpokenDigitsMel,
  logMelSpectrogram,
  melToImage,
  MetricFileError,
  MetricInputError,
  SPOKEN_DIGITS_MEL,
  type ManifestRow,
  type SpokenDigitsMel,
} from '../src/index.js';

const SILENCE = Math.log(0.01);

/** A tone with a random amplitude and a little noise, at 16 kHz (no resampling). */
function tone(seconds: number, hz: number, rng: Rng): Float32Array {
  const amp = 0.1 + 0.4 * rng.uniform();
  return Float32Array.from({ length: Math.round(16000 * seconds) }, (_, n) => amp * Math.sin((2 * Math.PI * hz * n) / 16000) + 0.01 * rng.normal());
}

interface FakeClip {
  row: ManifestRow;
  samples: Float32Array;
}

/** A corpus in the synthesize target's layout: 2 train speakers, 1 test speaker, clips of 0.3–1.0 s. */
function fakeCorpus(): { dir: string; clips: FakeClip[] } {
  const dir = mkdtempSync(join(tmpdir(), 'sd-mel-'));
  const rng = new Rng(3);
  const clips: FakeClip[] = [];
  const speakers: [string, 'train' | 'test'][] = [['m1', 'train'], ['m2', 'train'], ['f1', 'test']];
  for (const [variant, split] of speakers) {
    for (let label = 0; label < 3; label++) {
      const seconds = [0.3, 0.6, 1.0][label]!;
      const path = `wav/${split}/en-us+${variant}/${label}-0.wav`;
      const samples = tone(seconds, 400 * (label + 1), rng);
      mkdirSync(join(dir, `wav/${split}/en-us+${variant}`), { recursive: true });
      writeFileSync(join(dir, path), encodeWav({ sampleRate: 16000, samples }, 'float32'));
      clips.push({ row: { path, label, text: String(label), voice: 'en-us', variant, speed: 175, pitch: 50, split }, samples });
    }
  }
  writeFileSync(join(dir, 'manifest.jsonl'), clips.map((c) => JSON.stringify(c.row)).join('\n') + '\n');
  return { dir, clips };
}

describe('loadSpokenDigitsMel', () => {
  let corpus: { dir: string; clips: FakeClip[] };
  let data: SpokenDigitsMel;
  beforeAll(async () => {
    corpus = fakeCorpus();
    data = await loadSpokenDigitsMel({ dir: corpus.dir });
  });

  it('returns NHWC 64 × 64 × 1 images with labels and the voice-disjoint split', () => {
    expect([data.train.n, data.test.n]).toEqual([6, 3]);
    for (const s of [data.train, data.test]) {
      expect([s.height, s.width]).toEqual([64, 64]);
      expect(s.images.length).toBe(s.n * 64 * 64);
    }
    expect([...data.train.labels]).toEqual([0, 1, 2, 0, 1, 2]);
    expect(data.train.speakers).toEqual(['en-us+m1', 'en-us+m2']);
    expect(data.test.speakers).toEqual(['en-us+f1']);
  });

  it('holds the first 64 log-mel frames of each clip, mapped affinely with low = log(0.01) and high = the training maximum', () => {
    // Independent of the loader: the front end applied to the clip samples directly.
    const mels = corpus.clips.map((c) => logMelSpectrogram(c.samples));
    let high = -Infinity;
    mels.forEach((m, i) => {
      if (corpus.clips[i]!.row.split !== 'train') return;
      for (let v = 0; v < Math.min(m.rows, 64) * 64; v++) high = Math.max(high, m.data[v]!);
    });
    expect(data.normalization.low).toBe(SILENCE);
    expect(data.normalization.high).toBeCloseTo(high, 5);
    const trainMels = mels.filter((_, i) => corpus.clips[i]!.row.split === 'train');
    const back = imageToMel(data.train.images, data.normalization);
    trainMels.forEach((m, i) => {
      // 0.3 s → 1 + ⌊(4800 − 400)/160⌋ = 28 frames; 0.6 s → 58; 1.0 s → 98, cropped to 64.
      expect(m.rows).toBe([28, 58, 98][i % 3]);
      for (let f = 0; f < 64; f++) {
        for (let b = 0; b < 64; b += 7) {
          const expected = f < m.rows ? m.data[f * 64 + b]! : SILENCE;
          expect(Math.abs(back[(i * 64 + f) * 64 + b]! - expected)).toBeLessThan(1e-5);
        }
      }
    });
  });

  it('fills [−1, 1]: −1 exactly past a clip end, +1 at the training maximum', () => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data.train.images) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    expect(hi).toBe(1);
    expect(lo).toBe(-1);
    for (const v of data.test.images) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    // The 0.3 s clip (28 frames) is silence from frame 28 on.
    expect(data.train.images.subarray(28 * 64, 64 * 64).every((v) => v === -1)).toBe(true);
  });

  it('is deterministic, and its cache beside the corpus gives the computed arrays until a WAV changes', async () => {
    const recomputed = await loadSpokenDigitsMel({ dir: corpus.dir, cache: false });
    expect(existsSync(join(corpus.dir, 'mel-cache.safetensors'))).toBe(true);
    const lines: string[] = [];
    const cached = await loadSpokenDigitsMel({ dir: corpus.dir, log: (l) => lines.push(l) });
    expect(lines).toEqual([`log-mel images of 9 clips from ${join(corpus.dir, 'mel-cache.safetensors')}`]);
    for (const again of [recomputed, cached]) {
      expect(again.train.images).toEqual(data.train.images);
      expect(again.test.images).toEqual(data.test.images);
      expect(again.train.labels).toEqual(data.train.labels);
      expect([again.train.speakers, again.test.speakers]).toEqual([data.train.speakers, data.test.speakers]);
      expect(again.normalization).toEqual(data.normalization);
    }
    // A re-synthesised clip (new contents, new mtime) is recomputed, not served stale.
    const changed = corpus.clips[0]!;
    writeFileSync(join(corpus.dir, changed.row.path), encodeWav({ sampleRate: 16000, samples: changed.samples.map((v) => v / 2) }, 'float32'));
    utimesSync(join(corpus.dir, changed.row.path), new Date(), new Date(Date.now() + 5000));
    const after = await loadSpokenDigitsMel({ dir: corpus.dir });
    expect(after.train.images.subarray(0, 64 * 64)).not.toEqual(data.train.images.subarray(0, 64 * 64));
  });

  it('names the Nx target when the corpus is missing, and the file when a listed WAV is', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sd-mel-none-'));
    await expect(loadSpokenDigitsMel({ dir: empty })).rejects.toThrow(MetricFileError);
    await expect(loadSpokenDigitsMel({ dir: empty })).rejects.toThrow(/manifest\.jsonl.*npx nx run spoken-digits:synthesize/);
    const broken = fakeCorpus();
    rmSync(join(broken.dir, broken.clips[4]!.row.path));
    await expect(loadSpokenDigitsMel({ dir: broken.dir })).rejects.toThrow(/en-us\+m2\/1-0\.wav: listed in .*manifest\.jsonl but missing/);
  });
});

describe('mel ↔ image normalisation', () => {
  const norm = { low: -4, high: 2 };

  it('maps low, midpoint and high to −1, 0, 1 and clips outside', () => {
    expect([...melToImage(Float32Array.from([-4, -1, 2, -10, 5]), norm)]).toEqual([-1, 0, 1, -1, 1]);
    expect([...imageToMel(Float32Array.from([-1, 0, 1, -3, 3]), norm)]).toEqual([-4, -1, 2, -4, 2]);
  });

  it('round-trips values in [low, high]', () => {
    const v = Float32Array.from(new Rng(1).uniformArray(1000, -4, 2));
    const back = imageToMel(melToImage(v, norm), norm);
    for (let i = 0; i < v.length; i++) expect(Math.abs(back[i]! - v[i]!)).toBeLessThan(1e-5);
  });

  it('rejects a normalisation with low ≥ high, naming the fields', () => {
    expect(() => melToImage(new Float32Array(1), { low: 1, high: 1 })).toThrow(MetricInputError);
    expect(() => imageToMel(new Float32Array(1), { low: 0, high: Number.NaN })).toThrow(/low < high/);
  });

  it('fixes the image to 64 frames × 64 bands', () => {
    expect(SPOKEN_DIGITS_MEL).toMatchObject({ frames: 64, bands: 64, silence: SILENCE });
  });
});
