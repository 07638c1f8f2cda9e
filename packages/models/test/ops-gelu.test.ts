import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { GELU_TANH_GRAD_KERNEL, GELU_TANH_KERNEL, Rng, registerNativeBackend } from '@difflab/core-tensor';
import { geluTanh } from '../src/index.js';

await tf.setBackend('cpu');

// PyTorch's gelu(approximate='tanh') in double precision, and its derivative in closed form.
const C = Math.sqrt(2 / Math.PI);
const geluRef = (x: number): number => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
const geluGradRef = (x: number): number => {
  const th = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * C * (1 + 3 * 0.044715 * x * x);
};

const sample = (): number[] => [
  ...new Rng(3).normalArray(200, 0, 3),
  0, -0, 1, -1, 1e-6, -1e-6, 5, -5, 12, -12, 40, -40,
];

describe('geluTanh', () => {
  it('matches the closed form in value and gradient', async () => {
    const xs = sample();
    const x = tf.tensor1d(xs);
    const w = new Rng(4).normalArray(xs.length, 0, 1); // a non-uniform upstream gradient
    const { value, grads } = tf.valueAndGrads((t: tf.Tensor) => tf.sum(tf.mul(geluTanh(t), w)))([x]);
    const y = await geluTanh(x).data();
    const g = await grads[0]!.data();
    xs.forEach((v, i) => {
      expect(y[i]).toBeCloseTo(geluRef(v), 5);
      expect(g[i]! / w[i]!).toBeCloseTo(geluGradRef(v), 4);
    });
    expect(Object.is(y[xs.length - 1], -0) || y[xs.length - 1] === 0).toBe(true);
    tf.dispose([x, value, ...grads]);
  });

  it('agrees with central finite differences of itself', async () => {
    const xs = [-3.2, -0.7, 0.1, 0.9, 2.5];
    const x = tf.tensor1d(xs, 'float32');
    const g = await tf.grad((t: tf.Tensor) => tf.sum(geluTanh(t)))(x).data();
    const h = 1e-3;
    for (const [i, v] of xs.entries()) {
      const f = (d: number) => tf.tidy(() => geluTanh(tf.scalar(v + d)).dataSync()[0]!);
      expect(g[i]).toBeCloseTo((f(h) - f(-h)) / (2 * h), 2);
    }
    x.dispose();
  });

  it('keeps only its input for the backward pass and leaks nothing', () => {
    const x = tf.variable(new Rng(5).normalTensor([32, 64]));
    const before = tf.memory();
    let heldBytes = 0;
    const { value, grads } = tf.variableGrads(() => {
      const y = geluTanh(x);
      heldBytes = tf.memory().numBytes - before.numBytes;
      return tf.sum(y) as tf.Scalar;
    }, [x]);
    // tfjs counts bytes per tensor handle: the output and the saved input (the composed form holds 7+)
    expect(heldBytes).toBe(2 * x.size * 4);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    x.dispose();
  });

  it('runs as the native kernels on the native backend, with the same values and gradients as on cpu', async () => {
    const reg = registerNativeBackend();
    if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);
    const xs = new Rng(6).normalArray(3000, 0, 3);
    const dys = new Rng(7).normalArray(3000, 0, 1);
    const run = async (backend: string) => {
      await tf.setBackend(backend);
      const x = tf.tensor2d(xs, [30, 100]);
      const dy = tf.tensor2d(dys, [30, 100]);
      let values: Float32Array[] = [];
      const prof = await tf.profile(() => {
        const y = geluTanh(x);
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(geluTanh(t), dy)))(x);
        values = [y, dx].map((t) => t.dataSync().slice() as Float32Array);
        tf.dispose([y, dx]);
      });
      tf.dispose([x, dy]);
      return { values, kernels: prof.kernels.map((k) => k.name) };
    };
    const cpu = await run('cpu');
    const native = await run('native');
    await tf.setBackend('cpu');
    expect(native.kernels).toContain(GELU_TANH_KERNEL);
    expect(native.kernels).toContain(GELU_TANH_GRAD_KERNEL);
    expect(cpu.kernels).not.toContain(GELU_TANH_KERNEL);
    for (const k of [0, 1]) {
      const a = native.values[k]!, b = cpu.values[k]!;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(b[i]!)));
    }
  });
});
