// The spatial-structure score on token grids whose answer is known by hand; the encoders' token shapes on the
// DiT-FMNIST-S/4 grid, MAE's masked loss, and a save/load round trip that reproduces the tokens.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { encodersConfigSchema, loadEncoder, saveEncoder, trainEncoder, type EncodersConfig } from '../src/encoders.js';
import { Cnn, initCnn } from '../src/cnn.js';
import { Vit, initVit, patchify } from '../src/vit.js';
import { localVsDistantSimilarity } from '../src/spatial.js';
import { writeFeatures } from '../src/features.js';
import { loadFashionMnist, sequentialBatches } from '@difflab/data';
import { float16BitsToFloat32 } from '@difflab/core-tensor';
import { readEncoderTokens } from '@difflab/training';
await initBackend({ log: () => {} });
const cfg: EncodersConfig = encodersConfigSchema.parse(JSON.parse(readFileSync(new URL('../encoders.smoke.json', import.meta.url), 'utf8')));

describe('localVsDistantSimilarity (iREPA LDS)', () => {
  it('is 0 for tokens that ignore position and 6/7 for four orthogonal quadrants (no far pair shares a quadrant at distance ≥ 7)', () => {
    const same = new Float32Array(2 * 64 * 3).fill(0.5);
    expect(localVsDistantSimilarity(same, 2, 8, 3).lds).toBeCloseTo(0, 12);
    const quadrants = new Float32Array(64 * 4);
    for (let r = 0; r < 8; r++) for (let c = 0; c < 8; c++) quadrants[(r * 8 + c) * 4 + (r < 4 ? 0 : 2) + (c < 4 ? 0 : 1)] = 1;
    // 4-neighbour pairs: 112, of which 16 cross a quadrant border (cos 0) → local = 96/112.
    const s = localVsDistantSimilarity(quadrants, 1, 8, 4, 7);
    expect(s.local).toBeCloseTo(6 / 7, 12);
    expect(s.far).toBe(0);
    expect(s.lds).toBeCloseTo(6 / 7, 12);
  });

  it('is near 0 for independent random tokens', () => {
    const s = localVsDistantSimilarity(new Rng(1).normalArray(50 * 64 * 64), 50, 8, 64);
    expect(Math.abs(s.lds)).toBeLessThan(0.02);
  });
});

describe('encoders', () => {
  const x = () => tf.tensor4d(new Rng(2).uniformArray(2 * 32 * 32, -1, 1), [2, 32, 32, 1]);

  it('patchify lays patches out row-major on the grid, pixels row-major within a patch', () => {
    const img = tf.tensor4d(Float32Array.from({ length: 64 }, (_, i) => i), [1, 8, 8, 1]);
    const p = patchify(img, 4).arraySync()[0]!;
    expect(p[1]!.slice(0, 5)).toEqual([4, 5, 6, 7, 12]); // patch (0, 1) starts at column 4
    expect(p[2]![0]).toBe(32); // patch (1, 0) starts at row 4
    img.dispose();
  });

  it('give [B, 64, dim] tokens on the 8×8 grid; MAE has a finite masked loss; a saved encoder reproduces its tokens', async () => {
    const vit = new Vit(cfg.mae.vit, initVit(cfg.mae.vit, 1));
    const cnn = new Cnn(cfg.classifier.cnn, initCnn(cfg.classifier.cnn, 2));
    const input = x();
    expect(vit.tokens(input).shape).toEqual([2, 64, cfg.mae.vit.width]);
    expect(cnn.tokens(input).shape).toEqual([2, 64, cfg.classifier.cnn.channels[3]]);
    const loss = tf.tidy(() => vit.maeLoss(input, new Rng(3)).dataSync()[0]!);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    vit.dispose();
    cnn.dispose();

    const { encoder } = await trainEncoder('random', cfg, () => {});
    const path = join(mkdtempSync(join(tmpdir(), 'repa-enc-')), 'encoder.safetensors');
    await saveEncoder(path, encoder, cfg);
    const loaded = await loadEncoder(path, 'random');
    const [a, b] = [encoder.tokens(input).dataSync(), loaded.tokens(input).dataSync()];
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Object.keys(loaded.weights).some((k) => k.startsWith('decoder'))).toBe(false);
    await expect(loadEncoder(path, 'mae')).rejects.toThrow(/holds encoder 'random', expected 'mae'/);
    encoder.dispose();
    loaded.dispose();
    input.dispose();
  });

  it('features.count caches the first N training images in split order (a smoke cache) and refuses more than the split', async () => {
    const { encoder } = await trainEncoder('random', cfg, () => {});
    const small = { ...cfg, features: { batchSize: 64, count: 150, probe: { train: 60, val: 40, test: 50 }, spatialImages: 10 } };
    const dir = mkdtempSync(join(tmpdir(), 'repa-feat-'));
    const report = await writeFeatures(encoder, small, dir, () => {});
    const cache = readEncoderTokens(dir);
    expect([report.count, cache.meta.count, cache.bits.length]).toEqual([150, 150, 150 * 64 * encoder.dim]);
    // Rows 128..149 (the third, cut batch) are the tokens of those images, computed here independently.
    const third = [...sequentialBatches(loadFashionMnist().train, 64, { padding: 2 })][2]!;
    const expected = tf.tidy(() => encoder.tokens(tf.tensor4d(third.x, third.shape)).dataSync());
    const per = 64 * encoder.dim;
    for (const i of [0, 21]) {
      for (const j of [0, 7, per - 1]) expect(float16BitsToFloat32(cache.bits[(128 + i) * per + j]!)).toBeCloseTo(expected[i * per + j]!, 2);
    }
    await expect(writeFeatures(encoder, { ...small, features: { ...small.features, count: 60001 } }, dir, () => {})).rejects.toThrow(/features\.count: 60001 is more than the 60000/);
    encoder.dispose();
  });
});
