import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { forgetDisposedInScope } from '../src/scope.js';

describe('forgetDisposedInScope', () => {
  it('drops disposed tensors from a long-lived scope and still disposes the live ones when it ends', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    tf.engine().startScope();
    const track = () => tf.engine().state.activeScope.track;
    let state = tf.zeros([4]);
    const kept = tf.ones([2]);
    const step = () => {
      const next = tf.tidy(() => tf.add(state, 1));
      state.dispose();
      state = next;
    };
    for (let i = 0; i < 100; i++) step();
    // Each step's result stays listed after it is disposed.
    expect(track().length).toBeGreaterThanOrEqual(100);
    forgetDisposedInScope();
    expect(track().every((t) => !t.isDisposed)).toBe(true);
    expect(track()).toContain(state);
    expect(track()).toContain(kept);
    const live = track().length;
    for (let i = 0; i < 100; i++) {
      step();
      forgetDisposedInScope();
    }
    expect(track().length).toBe(live);
    expect(Array.from(state.dataSync())).toEqual([200, 200, 200, 200]);
    tf.engine().endScope();
    expect(state.isDisposed).toBe(true);
    expect(kept.isDisposed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
