// The native backend's memory footprint counts each buffer once (views share it) plus its pool.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NativeBackend } from '../src/native/native-backend.js';
import { nativeMemoryFootprint, resetNativePeakMemory } from '../src/native/register.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});

const bytes = () => nativeMemoryFootprint()!.bytes;

describe('nativeMemoryFootprint', () => {
  it('counts buffers once, keeps pooled buffers, and tracks the peak', () => {
    const start = bytes();
    resetNativePeakMemory();
    const a = tf.tensor2d(new Float32Array(100_000), [1000, 100]);
    expect(bytes() - start).toBe(400_000);
    const views = [tf.reshape(a, [100, 1000]), tf.slice(a, [10, 0], [20, 100]), tf.clone(a)];
    expect(bytes() - start).toBe(400_000); // reshape, contiguous slice and clone share a's buffer
    const b = tf.add(a, a);
    expect(bytes() - start).toBe(800_000);
    b.dispose(); // into the pool: still held
    expect(bytes() - start).toBe(800_000);
    const c = tf.mul(a, a); // reuses the pooled buffer
    expect(bytes() - start).toBe(800_000);
    tf.dispose([c, ...views, a]);
    expect(bytes() - start).toBe(400_000); // a's own array is the caller's, never pooled
    expect(nativeMemoryFootprint()!.peakBytes - start).toBe(800_000);
    resetNativePeakMemory();
    expect(nativeMemoryFootprint()!.peakBytes).toBe(bytes());
  });

  it('pools a buffer that a reshape shared, but never one a slice viewed or a read handed out', () => {
    const backend = tf.backend() as NativeBackend;
    const a = tf.tensor2d(new Float32Array(4096).fill(1), [64, 64]);
    const arrayOf = (t: tf.Tensor) => backend.float32Values(t.dataId)!;
    // The same data under another shape (one data id, counted references) is freed once both are gone.
    let b = tf.add(a, 1);
    const first = arrayOf(b);
    const r = tf.reshape(b, [4096]);
    tf.dispose([b, r]);
    b = tf.add(a, 2);
    expect(arrayOf(b)).toBe(first);
    // A contiguous slice is a view of b's array under a new data id, and may outlive b: not pooled.
    const s = tf.slice(b, [0, 0], [8, 64]);
    b.dispose();
    const c = tf.add(a, 3);
    expect(arrayOf(c)).not.toBe(first);
    expect(s.dataSync()[0]).toBe(3);
    // Nor is an array dataSync returned (the caller holds it).
    const read = c.dataSync();
    c.dispose();
    const d = tf.add(a, 4);
    expect(arrayOf(d)).not.toBe(read);
    tf.dispose([a, s, d]);
  });

  it('is null on other backends', async () => {
    await tf.setBackend('cpu');
    expect(nativeMemoryFootprint()).toBeNull();
    await tf.setBackend('native');
  });
});
