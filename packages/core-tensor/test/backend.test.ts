import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, backendInfo, BackendUnavailableError, initBackend } from '../src/index.js';
import { registerNativeBackend } from '../src/native/register.js';

afterEach(() => {
  delete process.env['DIFFLAB_BACKEND'];
});

function capture() {
  const lines: string[] = [];
  return { lines, log: (l: string) => lines.push(l) };
}

describe('initBackend', () => {
  it('picks the best available backend in order and prints one notice line', async () => {
    const { lines, log } = capture();
    const info = await initBackend({ log });
    expect(info.skipped.map((s) => s.name)).toEqual(BACKEND_NAMES.slice(0, BACKEND_NAMES.indexOf(info.name as never)));
    // tfjs-node(-gpu) are never dependencies here, so they are skipped as not installed.
    expect(info.skipped[0]).toEqual({ name: 'tfjs-node-gpu', reason: '@tensorflow/tfjs-node-gpu is not installed' });
    expect(info.skipped[1]).toEqual({ name: 'tfjs-node', reason: '@tensorflow/tfjs-node is not installed' });
    const native = registerNativeBackend();
    expect(info.name).toBe(native.ok ? 'native' : 'wasm');
    expect(tf.getBackend()).toBe(info.name);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^difflab: backend ${info.name} \\(`));
    if (!native.ok) {
      expect(lines[0]).toContain(`native backend unavailable: ${native.reason}`);
      expect(lines[0]!.match(/run npm run build-native -w @difflab\/core-tensor/g)).toHaveLength(1);
    }
    expect(backendInfo()).toEqual(info);
  });

  it('is idempotent: the same outcome again prints nothing', async () => {
    await initBackend({ backend: 'wasm', log: () => {} });
    const { lines, log } = capture();
    const info = await initBackend({ backend: 'wasm', log });
    expect(info).toEqual({ name: 'wasm', detail: expect.stringMatching(/SIMD, 1 thread/), skipped: [] });
    expect(lines).toEqual([]);
  });

  it('DIFFLAB_BACKEND selects a backend; opts.backend overrides it', async () => {
    process.env['DIFFLAB_BACKEND'] = 'cpu';
    const { lines, log } = capture();
    expect((await initBackend({ log })).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(lines).toEqual(['difflab: backend cpu (pure JavaScript, 1 thread)']);
    expect((await initBackend({ backend: 'wasm', log })).name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('an unknown name is an error listing the valid names', async () => {
    process.env['DIFFLAB_BACKEND'] = 'gpu';
    const err = await initBackend({ log: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toBe("DIFFLAB_BACKEND='gpu' is not a backend; valid names: tfjs-node-gpu, tfjs-node, native, wasm, cpu");
  });

  it('an unavailable choice is an error saying why', async () => {
    await expect(initBackend({ backend: 'tfjs-node', log: () => {} })).rejects.toThrow(
      "opts.backend='tfjs-node' is unavailable: @tensorflow/tfjs-node is not installed. Valid names: tfjs-node-gpu, tfjs-node, native, wasm, cpu",
    );
  });

  it('the selected backend computes correctly and trains (gradients are registered)', async () => {
    for (const backend of ['cpu', 'wasm'] as const) {
      await initBackend({ backend, log: () => {} });
      const g = tf.grad((x: tf.Tensor) => tf.mean(tf.square(x)))(tf.tensor1d([1, 2, 3, 4]));
      expect(Array.from(g.dataSync())).toEqual([0.5, 1, 1.5, 2]);
    }
  });
});
