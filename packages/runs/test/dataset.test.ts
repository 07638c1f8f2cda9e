import { describe, expect, it } from 'vitest';
import { BatchIterator, type ImageSplit } from '@difflab/data';
import { FloatBatchIterator, scaleUint8Split, sequentialFloatBatches } from '../src/dataset.js';

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
});
