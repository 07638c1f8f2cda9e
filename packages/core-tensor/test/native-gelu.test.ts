// The native-only GELU kernels (tanh approximation) against the closed form in double precision.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { loadAddon } from '../src/native/addon.js';
import { GELU_TANH_GRAD_KERNEL, GELU_TANH_KERNEL } from '../src/native/kernels.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});

const C = Math.sqrt(2 / Math.PI);
const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
const geluGrad = (x: number): number => {
  const th = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * C * (1 + 3 * 0.044715 * x * x);
};

const run = (kernel: string, inputs: Record<string, tf.Tensor>): Float32Array =>
  tf.tidy(() => (tf.engine().runKernel(kernel, inputs) as tf.Tensor).dataSync().slice() as Float32Array);

function expectNear(actual: Float32Array, want: (i: number) => number, tol: number): void {
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const w = want(i);
    worst = Math.max(worst, Math.abs(actual[i]! - w) / (tol * (1 + Math.abs(w))));
  }
  expect(worst).toBeLessThan(1);
}

describe('native GeluTanh kernels', () => {
  // 100k values: large enough for the multithreaded path.
  const xs = new Rng(11).normalArray(100_000, 0, 4);

  it('forward matches 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³)))', () => {
    const x = tf.tensor2d(xs, [400, 250]);
    expectNear(run(GELU_TANH_KERNEL, { x }), (i) => gelu(xs[i]!), 2e-6);
    x.dispose();
  });

  it('backward is dy times the closed-form derivative', () => {
    const dys = new Rng(12).normalArray(xs.length, 0, 1);
    const x = tf.tensor1d(xs), dy = tf.tensor1d(dys);
    expectNear(run(GELU_TANH_GRAD_KERNEL, { dy, x }), (i) => dys[i]! * geluGrad(xs[i]!), 1e-5);
    tf.dispose([x, dy]);
  });

  it('handles infinities, NaN and huge magnitudes like the formula', () => {
    // -∞ gives NaN as the formula does (−∞ · 0), and as PyTorch and the composed tfjs form do.
    const x = tf.tensor1d([Infinity, -Infinity, NaN, 1e30, -1e30, 60, -60, 0]);
    expect(Array.from(run(GELU_TANH_KERNEL, { x }))).toEqual([Infinity, NaN, NaN, Math.fround(1e30), -0, 60, -0, 0]);
    const xg = tf.tensor1d([NaN, 60, -60, 0]);
    const g = run(GELU_TANH_GRAD_KERNEL, { dy: tf.onesLike(xg), x: xg });
    expect(Number.isNaN(g[0])).toBe(true);
    expect(Array.from(g.subarray(1)).map(Math.abs)).toEqual([1, 0, 0.5]);
    tf.dispose([x, xg]);
  });

  it('rejects mismatched shapes and non-float inputs with the kernel name', () => {
    const x = tf.zeros([2, 3]), dy = tf.zeros([3, 2]), xi = tf.zeros([2], 'int32');
    expect(() => tf.engine().runKernel(GELU_TANH_GRAD_KERNEL, { dy, x })).toThrow(/GeluTanhGrad: dy \[3,2\] and x \[2,3\]/);
    expect(() => tf.engine().runKernel(GELU_TANH_KERNEL, { x: xi })).toThrow(/GeluTanh: inputs must be float32/);
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    expect(() => load.addon.geluTanhGrad(new Float32Array(2), new Float32Array(3), new Float32Array(3))).toThrow(/dy has 2/);
    tf.dispose([x, dy, xi]);
  });
});
