import { describe, expect, it } from 'vitest';
import { BatchIterator, type ImageSplit } from '@difflab/data';
import { FloatBatchIterator, datasetFor, firstExamples, scaleUint8Split, sequentialFloatBatches } from '../src/dataset.js';
import { parseTrainConfig } from '../src/config.js';

/** 13 examples of 3×2 pixels with distinct values, so any mix-up of order or position shows. */
const split: ImageSplit = {
  images: Uint8Array.from({ length: 13 * 6 }, (_, i) => (i * 7) % 256),
  labels: Uint8Array.from({ length: 13 }, (_, i) => i % 10),
  count: 13,
  height: 3,
  width: 2,
};

describe('float datasets', () => {
  it('give the same batches, in the same order and with the same state, as @difflab/data across epochs', () => {
    const ours = new FloatBatchIterator(scaleUint8Split(split, 1), 4, { seed: 5 });
    const theirs = new BatchIterator(split, { batchSize: 4, seed: 5, padding: 1 });
    for (let i = 0; i < 7; i++) {
      const a = ours.next();
      const b = theirs.next();
      expect(a.shape).toEqual(b.shape);
      expect(Array.from(a.x)).toEqual(Array.from(b.x));
      expect(Array.from(a.y)).toEqual(Array.from(b.y));
      // The examples' rows in the split, what per-example caches (REPA's encoder tokens) are keyed by.
      expect(Array.from(a.indices!)).toEqual(Array.from(b.indices));
      expect(ours.getState()).toEqual(theirs.getState());
    }
  });

  it('scales 0..255 to [-1, 1] and pads with -1', () => {
    const s = scaleUint8Split({ images: Uint8Array.from([0, 255]), labels: Uint8Array.from([3]), count: 1, height: 1, width: 2 }, 1);
    expect([s.height, s.width, s.channels, s.n]).toEqual([3, 4, 1, 1]);
    expect(Array.from(s.images)).toEqual([-1, -1, -1, -1, -1, -1, 1, -1, -1, -1, -1, -1]);
    const sizes = [...sequentialFloatBatches(scaleUint8Split(split, 0), 5)].map((b) => b.shape[0]);
    expect(sizes).toEqual([5, 5, 3]);
  });

  it('refuses a batch larger than the split, naming the field', () => {
    expect(() => new FloatBatchIterator(scaleUint8Split(split, 0), 14, { seed: 0 })).toThrow(/train\.batchSize must be an integer in 1\.\.13/);
  });

  it('data.trainExamples keeps the first N training images, their split indices unchanged, and refuses more than the split', async () => {
    const whole = scaleUint8Split(split, 0);
    const first = firstExamples(whole, 5);
    expect(first.n).toBe(5);
    expect(Array.from(first.labels)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(first.images)).toEqual(Array.from(whole.images.subarray(0, 5 * 6)));
    const it = new FloatBatchIterator(first, 5, { seed: 1 });
    for (let i = 0; i < 3; i++) expect(Math.max(...it.next().indices!)).toBeLessThan(5);
    const data = (trainExamples: number) => parseTrainConfig({ model: { preset: 'DiT-FMNIST-S/4' }, diffusion: {}, train: { steps: 1, batchSize: 1, lr: 1e-3 }, data: { trainExamples } }).data;
    const fm = await datasetFor(data(300));
    expect([fm.train.n, fm.train.labels.length, fm.train.images.length, fm.test.n]).toEqual([300, 300, 300 * 32 * 32, 10000]);
    expect(fm.source).toMatch(/first 300 training images/);
    await expect(datasetFor(data(60001))).rejects.toThrow(/data\.trainExamples: 60001 is more than the 60000 training images/);
  });
});
