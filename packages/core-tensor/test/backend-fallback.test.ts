import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it, vi } from 'vitest';
import { initBackend } from '../src/index.js';

// Simulates a checkout where the native addon was never built.
vi.mock('../src/native/register.js', () => ({
  registerNativeBackend: () => ({ ok: false, reason: 'addon missing' }),
  NATIVE_BACKEND_NAME: 'native',
}));

describe('initBackend without the native addon', () => {
  it('falls back to wasm and says why and how to build native, in one line', async () => {
    const lines: string[] = [];
    const info = await initBackend({ log: (l) => lines.push(l) });
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.skipped.map((s) => s.name)).toEqual(['tfjs-node-gpu', 'tfjs-node', 'native']);
    expect(lines).toEqual([
      `difflab: backend wasm (${info.detail}; native backend unavailable: addon missing; run npm run build-native -w @difflab/core-tensor)`,
    ]);
  });

  it('forcing native is an error that says why', async () => {
    await expect(initBackend({ backend: 'native', log: () => {} })).rejects.toThrow(
      "opts.backend='native' is unavailable: addon missing. Valid names: tfjs-node-gpu, tfjs-node, native, wasm, cpu",
    );
  });
});
