import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, Rng, tf, writeSafetensors } from '@difflab/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  audioEmbeddingStats,
  exampleEmbeddingStats,
  frechetDistance,
  labelledExamples,
  MetricFileError,
  MetricInputError,
  noiseLike,
  shuffledSegments,
  spokenDigitsAccuracy,
  SpokenDigitsNet,
  trainSpokenDigitsNet,
  waveformToExamples,
  type Audio,
  type AudioEmbedder,
  type LabelledExamples,
} from '../src/index.js';

/** Embeds an example as the mean log-mel of bands 0, 8, 16, …, 56: a transparent stand-in for a network. */
class BandMeans implements AudioEmbedder {
  readonly name = 'band-means';
  readonly dim = 8;
  embed(examples: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => tf.gather(tf.mean(examples, 1), [0, 8, 16, 24, 32, 40, 48, 56], 1) as tf.Tensor2D);
  }
  dispose(): void {}
}

/** Noisy tones around `freq` with random amplitude: one 0.96 s example each at 16 kHz. */
function tones(count: number, freq: number, seed: number, seconds = 0.98): Audio[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const f = freq * (1 + 0.02 * rng.normal());
    const amp = 0.2 + 0.3 * rng.uniform();
    const samples = new Float32Array(Math.round(16000 * seconds));
    for (let n = 0; n < samples.length; n++) samples[n] = amp * Math.sin((2 * Math.PI * f * n) / 16000) + 0.01 * rng.normal();
    return { sampleRate: 16000, samples };
  });
}

function toneDigits(perClass: number, classes: number, seed: number): LabelledExamples {
  const size = 96 * 64;
  const data = new Float32Array(perClass * classes * size);
  const labels = new Int32Array(perClass * classes);
  let i = 0;
  for (let c = 0; c < classes; c++) {
    for (const clip of tones(perClass, 300 * 2 ** c, seed + c, 0.6)) {
      data.set(waveformToExamples(clip, { padShort: true }).data, i * size);
      labels[i++] = c;
    }
  }
  return { count: i, data, labels };
}

describe('FAD from audio embeddings', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  it('is ≈ 0 for two draws of one source and large between different sources', async () => {
    const e = new BandMeans();
    const a = await audioEmbeddingStats(e, tones(40, 500, 1));
    const b = await audioEmbeddingStats(e, tones(40, 500, 2));
    const c = await audioEmbeddingStats(e, tones(40, 2000, 3));
    expect([a.clips, a.examples]).toEqual([40, 40]);
    expect(Math.abs(frechetDistance(a.stats, a.stats))).toBeLessThan(1e-9);
    const same = frechetDistance(a.stats, b.stats);
    const different = frechetDistance(a.stats, c.stats);
    expect(same).toBeGreaterThan(0);
    expect(different).toBeGreaterThan(20 * same);
  });

  it('pools every example of every clip, however the batches fall', async () => {
    const e = new BandMeans();
    const clips = tones(5, 700, 4, 2.0); // 2 s → 2 examples each
    const one = await audioEmbeddingStats(e, clips, { batchSize: 64 });
    const small = await audioEmbeddingStats(e, clips, { batchSize: 3 });
    expect(one.examples).toBe(10);
    for (let i = 0; i < one.stats.cov.length; i++) expect(small.stats.cov[i]).toBeCloseTo(one.stats.cov[i]!, 9);
    for (let i = 0; i < 8; i++) expect(small.stats.mean[i]).toBeCloseTo(one.stats.mean[i]!, 9);
    // The same examples framed up front give the same statistics.
    const framed = clips.map((c) => waveformToExamples(c));
    const data = new Float32Array(10 * 96 * 64);
    framed.forEach((f, i) => data.set(f.data, i * 2 * 96 * 64));
    const direct = await exampleEmbeddingStats(e, { count: 10, data }, 4);
    for (let i = 0; i < direct.cov.length; i++) expect(direct.cov[i]).toBeCloseTo(one.stats.cov[i]!, 9);
  });

  it('says why clips shorter than 0.96 s give no statistics', async () => {
    await expect(audioEmbeddingStats(new BandMeans(), tones(3, 500, 5, 0.5))).rejects.toThrow(/padShort/);
    expect((await audioEmbeddingStats(new BandMeans(), tones(3, 500, 5, 0.5), { padShort: true })).examples).toBe(3);
  });

  it('makes ceiling references: RMS-matched white noise and segment-shuffled clips', () => {
    const clip = tones(1, 440, 6)[0]!;
    const [noise] = [...noiseLike([clip], 0)];
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(noise!.samples.length).toBe(clip.samples.length);
    expect(rms(noise!.samples)).toBeCloseTo(rms(clip.samples), 2);
    const [shuffled] = [...shuffledSegments([clip], 0.01, 0)];
    expect(Array.from(shuffled!.samples).sort()).toEqual(Array.from(clip.samples).sort());
    expect(Array.from(shuffled!.samples)).not.toEqual(Array.from(clip.samples));
  });
});

describe('SpokenDigitsNet', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  it('learns to tell tones apart and embeds from its penultimate layer', async () => {
    const net = await trainSpokenDigitsNet(toneDigits(12, 3, 10), { epochs: 3, batchSize: 12, lr: 3e-3, weightDecay: 1e-4, seed: 0, maxShiftFrames: 4 });
    expect(spokenDigitsAccuracy(net, toneDigits(10, 3, 50))).toBeGreaterThan(0.9);
    const emb = net.embed(tf.zeros([2, 96, 64]) as tf.Tensor3D);
    expect(emb.shape).toEqual([2, 128]);
    expect(Math.min(...emb.dataSync())).toBeGreaterThanOrEqual(0); // ReLU features
    emb.dispose();
    net.dispose();
  });

  it('round-trips through safetensors with its input standardisation', async () => {
    const net = SpokenDigitsNet.init(3, -2.5, 1.5);
    const x = new Rng(4).uniformTensor([2, 96, 64], -4, 2) as tf.Tensor3D;
    const before = net.embed(x);
    const dir = mkdtempSync(join(tmpdir(), 'difflab-sdnet-'));
    await net.save(join(dir, 'net.safetensors'));
    const loaded = await SpokenDigitsNet.load(join(dir, 'net.safetensors'));
    expect([loaded.inputMean, loaded.inputStd]).toEqual([-2.5, 1.5]);
    const after = loaded.embed(x);
    expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
    expect(() => net.embed(tf.zeros([1, 96, 32]) as tf.Tensor3D)).toThrow(MetricInputError);
    await writeSafetensors(join(dir, 'bare.safetensors'), net.params);
    await expect(SpokenDigitsNet.load(join(dir, 'bare.safetensors'))).rejects.toThrow(/inputMean/);
    await writeSafetensors(join(dir, 'bad.safetensors'), { ...net.params, 'head.bias': tf.zeros([3]) }, { inputMean: '0', inputStd: '1' });
    await expect(SpokenDigitsNet.load(join(dir, 'bad.safetensors'))).rejects.toThrow(MetricFileError);
    tf.dispose([x, before, after]);
    net.dispose();
    loaded.dispose();
  });

  it('needs labels to build training examples', () => {
    expect(() => labelledExamples({ paths: [] })).toThrow(/no labels/);
  });
});
