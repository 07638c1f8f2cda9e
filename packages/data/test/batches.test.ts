import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchIterator, batchToTensors, DataError, makeBatch, sequentialBatches, type ImageSplit } from '../src/index.js';

/** n images of 2×3 pixels; image k has pixel values 10k .. 10k+5 and label k % 10. */
function tinySplit(n: number): ImageSplit {
  const images = new Uint8Array(n * 6);
  for (let k = 0; k < n; k++) for (let p = 0; p < 6; p++) images[k * 6 + p] = 10 * k + p;
  return { images, labels: Uint8Array.from({ length: n }, (_, k) => k % 10), count: n, height: 2, width: 3 };
}

function take(it: BatchIterator, k: number): number[][] {
  return Array.from({ length: k }, () => Array.from(it.next().indices));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('makeBatch', () => {
  it('scales 0..255 to [-1, 1] as v / 127.5 - 1', () => {
    const split: ImageSplit = { images: Uint8Array.from([0, 51, 255, 127]), labels: Uint8Array.from([3]), count: 1, height: 2, width: 2 };
    const b = makeBatch(split, Int32Array.from([0]));
    expect(b.shape).toEqual([1, 2, 2, 1]);
    // 51/127.5 - 1 = -0.6; 127/127.5 - 1 = -1/255
    expect(Array.from(b.x)).toEqual([-1, -0.6, 1, -1 / 255].map(Math.fround));
    expect(Array.from(b.y)).toEqual([3]);
  });

  it('pads with -1 and centres the image', () => {
    const split = tinySplit(2);
    const b = makeBatch(split, Int32Array.from([1]), { padding: 2 });
    expect(b.shape).toEqual([1, 6, 7, 1]);
    const at = (r: number, c: number) => b.x[r * 7 + c];
    expect(at(0, 0)).toBe(-1);
    expect(at(1, 6)).toBe(-1);
    expect(at(2, 1)).toBe(-1);
    expect(at(2, 2)).toBeCloseTo(10 / 127.5 - 1, 6); // image 1, pixel (0, 0) = 10
    expect(at(3, 4)).toBeCloseTo(15 / 127.5 - 1, 6); // image 1, pixel (1, 2) = 15
    expect(at(4, 2)).toBe(-1);
    expect(b.x.filter((v) => v === -1).length).toBe(6 * 7 - 6);
  });

  it('turns 28×28 into 32×32 with padding 2', () => {
    const split: ImageSplit = { images: new Uint8Array(784).fill(255), labels: new Uint8Array(1), count: 1, height: 28, width: 28 };
    const b = makeBatch(split, Int32Array.from([0]), { padding: 2 });
    expect(b.shape).toEqual([1, 32, 32, 1]);
    expect(b.x.reduce((s, v) => s + v, 0)).toBe(784 - (1024 - 784));
  });

  it('rejects bad padding and indices', () => {
    expect(() => makeBatch(tinySplit(2), Int32Array.from([2]))).toThrow(/index 2 is outside 0\.\.1/);
    expect(() => makeBatch(tinySplit(2), Int32Array.from([0]), { padding: -1 })).toThrow(DataError);
  });
});

describe('BatchIterator', () => {
  it('visits each example at most once per epoch and drops the partial last batch', () => {
    const it = new BatchIterator(tinySplit(10), { batchSize: 3, seed: 1 });
    for (let epoch = 0; epoch < 3; epoch++) {
      const seen = take(it, 3).flat();
      expect(new Set(seen).size).toBe(9);
      expect(seen.every((i) => i >= 0 && i < 10)).toBe(true);
      expect(it.currentEpoch).toBe(epoch);
    }
    take(it, 1);
    expect(it.currentEpoch).toBe(3);
  });

  it('covers the split exactly when the batch size divides it, in a new order each epoch', () => {
    const it = new BatchIterator(tinySplit(12), { batchSize: 4, seed: 7 });
    const e0 = take(it, 3).flat();
    const e1 = take(it, 3).flat();
    expect([...e0].sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect([...e1].sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(e1).not.toEqual(e0);
  });

  it('is determined by the seed', () => {
    const a = take(new BatchIterator(tinySplit(50), { batchSize: 8, seed: 3 }), 10);
    const b = take(new BatchIterator(tinySplit(50), { batchSize: 8, seed: 3 }), 10);
    const c = take(new BatchIterator(tinySplit(50), { batchSize: 8, seed: 4 }), 10);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('resumes from a JSON-serialised state with exactly the same batches, across epoch boundaries', () => {
    const split = tinySplit(10);
    for (const stopAfter of [0, 1, 2, 3, 4, 7]) {
      const original = new BatchIterator(split, { batchSize: 3, seed: 11 });
      take(original, stopAfter);
      const saved = JSON.parse(JSON.stringify(original.getState()));
      const resumed = new BatchIterator(split, { batchSize: 3, state: saved });
      const rest = take(original, 8);
      expect(take(resumed, 8)).toEqual(rest);
    }
  });

  it('keeps labels and pixels aligned with indices', () => {
    const split = tinySplit(10);
    const b = new BatchIterator(split, { batchSize: 4, seed: 2 }).next();
    b.indices.forEach((k, j) => {
      expect(b.y[j]).toBe(k % 10);
      expect(b.x[j * 6]).toBeCloseTo((10 * k) / 127.5 - 1, 6);
    });
  });

  it('rejects a state saved for another batch size or split, and bad batch sizes', () => {
    const state = new BatchIterator(tinySplit(10), { batchSize: 3, seed: 1 }).getState();
    expect(() => new BatchIterator(tinySplit(10), { batchSize: 4, state })).toThrow(/saved batch state is for batchSize 3 over 10/);
    expect(() => new BatchIterator(tinySplit(9), { batchSize: 3, state })).toThrow(DataError);
    expect(() => new BatchIterator(tinySplit(10), { batchSize: 11 })).toThrow(/batchSize must be an integer in 1\.\.10/);
  });
});

describe('sequentialBatches and batchToTensors', () => {
  it('yields every example once in order with a partial last batch', () => {
    const batches = [...sequentialBatches(tinySplit(7), 3)];
    expect(batches.map((b) => Array.from(b.indices))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(batches[2]!.shape).toEqual([1, 2, 3, 1]);
  });

  it('makes float32 NHWC images and int32 labels', () => {
    const b = makeBatch(tinySplit(3), Int32Array.from([2, 0]), { padding: 1 });
    const { x, y } = batchToTensors(b);
    expect(x.shape).toEqual([2, 4, 5, 1]);
    expect(x.dtype).toBe('float32');
    expect(y.dtype).toBe('int32');
    expect(Array.from(y.dataSync())).toEqual([2, 0]);
    expect(x.dataSync()[1 * 5 + 1]).toBeCloseTo(20 / 127.5 - 1, 6);
    tf.dispose([x, y]);
  });
});
