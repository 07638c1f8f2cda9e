// The native backend's memory footprint counts each buffer once (views share it) plus its pool.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
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

  it('is null on other backends', async () => {
    await tf.setBackend('cpu');
    expect(nativeMemoryFootprint()).toBeNull();
    await tf.setBackend('native');
  });
});
