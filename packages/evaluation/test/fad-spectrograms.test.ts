import { initBackend, Rng, tf } from '@difflab/core-tensor';
import { gaussianStats, SpokenDigitsNet, type AudioEmbedder, type SpokenDigitsMel } from '@difflab/metrics';
import { sdStyleUNetConfig } from '@difflab/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { EvalError, fadOfRun, fadOfSpectrograms, loadSpectrogramFadReference, spectrogramExamples, trainSpectrogramBaseline } from '../src/index.js';

const SILENCE = Math.log(0.01);
const BANDS = [0, 8, 16, 24, 32, 40, 48, 56];

/** Embeds an example as its mean log-mel over all 96 frames in 8 bands: linear, so FAD has closed forms. */
class BandMeans implements AudioEmbedder {
  readonly name = 'band-means';
  readonly dim = BANDS.length;
  embed(examples: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => tf.gather(tf.mean(examples, 1), BANDS, 1) as tf.Tensor2D);
  }
  dispose(): void {}
}

const norm = { low: SILENCE, high: 4 };

/** Random images well inside (−1, 1) so a shift of 0.1 never clips. */
function images(n: number, seed: number): Float32Array {
  return Float32Array.from(new Rng(seed).uniformArray(n * 64 * 64, -0.8, 0.8));
}

describe('spectrogram FAD', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  it('maps images to 96-frame examples: 64 frames in log-mel units, then silence', () => {
    const x = images(2, 1);
    const ex = spectrogramExamples(x, norm);
    expect(ex.count).toBe(2);
    expect(ex.data.length).toBe(2 * 96 * 64);
    const scale = (norm.high - norm.low) / 2;
    for (const [i, f, b] of [[0, 0, 0], [0, 63, 63], [1, 10, 5], [1, 63, 0]] as const) {
      expect(ex.data[(i * 96 + f) * 64 + b]).toBeCloseTo(norm.low + (x[(i * 64 + f) * 64 + b]! + 1) * scale, 5);
    }
    for (let i = 0; i < 2; i++) expect(ex.data.subarray((i * 96 + 64) * 64, (i + 1) * 96 * 64).every((v) => v === Math.fround(SILENCE))).toBe(true);
  });

  it('is ≈ 0 for a set against itself and the closed form for a shifted set', async () => {
    const e = new BandMeans();
    const a = images(40, 2);
    expect(Math.abs(await fadOfSpectrograms(a, { embedder: e, normalization: norm, reference: a }))).toBeLessThan(1e-6);
    // +δ in image units is +δ·(high − low)/2 in log-mel over 64 of the 96 frames: every embedding
    // moves by the same d = δ·(high − low)/2·64/96 and the covariance is unchanged, so FAD = dim·d².
    const delta = 0.1;
    const shifted = a.map((v) => v + delta);
    const d = ((delta * (norm.high - norm.low)) / 2) * (64 / 96);
    const fad = await fadOfSpectrograms(shifted, { embedder: e, normalization: norm, reference: a });
    expect(fad).toBeCloseTo(BANDS.length * d * d, 3);
    // Precomputed reference statistics give the same number as reference images.
    const refStats = gaussianStats(
      await e.embed(tf.tensor3d(spectrogramExamples(a, norm).data, [40, 96, 64])).data(),
      40,
      BANDS.length,
    );
    expect(await fadOfSpectrograms(shifted, { embedder: e, normalization: norm, reference: refStats })).toBeCloseTo(fad, 3);
  });

  it('accepts [n, 64, 64, 1] tensors and rejects other sizes, naming the field', async () => {
    const e = new BandMeans();
    const a = images(4, 3);
    const t = tf.tensor4d(a, [4, 64, 64, 1]);
    expect(Math.abs(await fadOfSpectrograms(t, { embedder: e, normalization: norm, reference: a }))).toBeLessThan(1e-6);
    t.dispose();
    const wrong = tf.zeros([4, 32, 32, 1]) as tf.Tensor4D;
    await expect(fadOfSpectrograms(wrong, { embedder: e, normalization: norm, reference: a })).rejects.toThrow(/images: shape \[4,32,32,1\], expected \[n, 64, 64, 1\]/);
    wrong.dispose();
    await expect(fadOfSpectrograms(new Float32Array(100), { embedder: e, normalization: norm, reference: a })).rejects.toThrow(EvalError);
    await expect(fadOfSpectrograms(a.map((v, i) => (i === 5 ? Number.NaN : v)), { embedder: e, normalization: norm, reference: a })).rejects.toThrow(/images: contain NaN/);
    await expect(fadOfSpectrograms(a.subarray(0, 64 * 64), { embedder: e, normalization: norm, reference: a })).rejects.toThrow(/at least 2 spectrograms/);
    const other = gaussianStats(new Float64Array(12), 4, 3);
    await expect(fadOfSpectrograms(a, { embedder: e, normalization: norm, reference: other })).rejects.toThrow(/reference: statistics have dimension 3/);
  });

  it('names the train-embedder target when the embedder weights are missing, and the run directory when it is', async () => {
    await expect(loadSpectrogramFadReference({ weights: '/nonexistent/embedder.safetensors' })).rejects.toThrow(/npx nx run spoken-digits:train-embedder/);
    const embedder = SpokenDigitsNet.init(0);
    const split = { images: images(2, 4), labels: new Int32Array(2), n: 2, height: 64, width: 64, channels: 1 as const, speakers: ['en-us+f1'] };
    const data: SpokenDigitsMel = { train: split, test: split, normalization: norm, manifest: 'manifest.jsonl' };
    const ref = { data, embedder, stats: gaussianStats(new Float64Array(2 * 128), 2, 128) };
    await expect(fadOfRun('/nonexistent/run', ref, { count: 2, batchSize: 2, weights: 'ema' })).rejects.toThrow(/run directory \/nonexistent\/run does not exist/);
    embedder.dispose();
  });
});

describe('spectrogram diffusion baseline', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  const config = sdStyleUNetConfig({
    sampleSize: 8,
    inChannels: 1,
    outChannels: 1,
    channels: [8, 8],
    layersPerLevel: 1,
    attention: [false, false],
    mid: false,
    numHeads: 1,
    groups: 4,
    conditioning: { kind: 'none' },
  });

  /** Vertical bars at a random column (a 'spectral line'), in [−1, 1]. */
  function bars(n: number, seed: number): { images: Float32Array; n: number } {
    const rng = new Rng(seed);
    const out = new Float32Array(n * 64).fill(-1);
    for (let i = 0; i < n; i++) {
      const col = rng.int(8);
      for (let r = 0; r < 8; r++) out[i * 64 + r * 8 + col] = 1;
    }
    return { images: out, n };
  }

  it('starts at ε-MSE = mean(ε²) (zero-initialised output) and lowers the held-out loss', async () => {
    const heldout = bars(16, 2);
    const result = await trainSpectrogramBaseline(config, bars(64, 1), heldout, { steps: 40, batchSize: 16, lr: 3e-3, seed: 5, heldoutCount: 16 });
    // The held-out draw: 16 timesteps, then ε, from Rng(seed + 1) (diffusionTrainingLoss's order).
    const rng = new Rng(6);
    for (let i = 0; i < 16; i++) rng.int(1000);
    const eps = rng.normalArray(16 * 64);
    const meanSquare = eps.reduce((s, v) => s + v * v, 0) / eps.length;
    expect(result.heldoutBefore).toBeCloseTo(meanSquare, 5);
    expect(result.losses.length).toBe(40);
    expect(result.heldoutAfter).toBeLessThan(0.8 * result.heldoutBefore);
    result.model.dispose();
  });

  it('rejects conditional configs and mis-sized data, naming them', async () => {
    const conditional = { ...config, conditioning: { kind: 'class' as const, numClasses: 10, contextDim: 8, classDropoutProb: 0 } };
    await expect(trainSpectrogramBaseline(conditional, bars(16, 1), bars(16, 2), { steps: 1, batchSize: 4, lr: 1e-3, seed: 0, heldoutCount: 4 })).rejects.toThrow(/config: the baseline trains an unconditional/);
    await expect(trainSpectrogramBaseline(config, { images: new Float32Array(10), n: 2 }, bars(16, 2), { steps: 1, batchSize: 1, lr: 1e-3, seed: 0, heldoutCount: 4 })).rejects.toThrow(/train\.images: 10 values for n = 2/);
  });
});
