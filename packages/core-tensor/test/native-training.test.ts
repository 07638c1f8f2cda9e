// Gradients through the native kernels checked numerically, a small training run that follows
// the cpu backend's loss curve, and no tensor leaks over 1,000 training steps.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { withLeakGuard } from '../src/leak-guard.js';
import { randomArray, requireNative } from './native-helpers.js';

beforeAll(() => requireNative());

interface Params {
  [name: string]: { shape: number[]; values: Float32Array };
}

function initParams(seed: number): Params {
  const rng = new Rng(seed);
  const p = (shape: number[], scale: number) => ({ shape, values: randomArray(rng, shape, -scale, scale) });
  return {
    filter: p([2, 2, 1, 4], 0.5), // patch embedding of 4x4x1 images into 2x2 tokens of width 4
    wq: p([4, 4], 0.5), wk: p([4, 4], 0.5), wv: p([4, 4], 0.5),
    w1: p([4, 8], 0.5), b1: p([8], 0.1), w2: p([8, 4], 0.5), head: p([4, 3], 0.5),
  };
}

// A miniature transformer: conv patch embedding, layer norm, single-head attention, a GELU-free MLP,
// mean pool, softmax cross-entropy. It exercises every native kernel family and its gradient.
function loss(v: Record<string, tf.Tensor>, images: tf.Tensor4D, labels: tf.Tensor2D): tf.Scalar {
  const b = images.shape[0];
  const tokens = tf.reshape(tf.conv2d(images, v['filter'] as tf.Tensor4D, 2, 'valid'), [b, 4, 4]);
  const mean = tf.mean(tokens, -1, true);
  const centered = tf.sub(tokens, mean);
  const normed = tf.div(centered, tf.sqrt(tf.add(tf.mean(tf.square(centered), -1, true), 1e-5)));
  const proj = (w: string) => tf.matMul(normed, tf.broadcastTo(v[w]!, [b, 4, 4]));
  const scores = tf.mul(tf.matMul(proj('wq'), proj('wk'), false, true), 0.5);
  const attended = tf.add(tokens, tf.matMul(tf.softmax(scores), proj('wv')));
  const flat = tf.reshape(attended, [b * 4, 4]);
  const hidden = tf.fused.matMul({ a: flat, b: v['w1'] as tf.Tensor2D, bias: v['b1'], activation: 'relu' });
  const out = tf.add(flat, tf.matMul(tf.sigmoid(hidden), v['w2'] as tf.Tensor2D));
  const pooled = tf.mean(tf.reshape(out, [b, 4, 4]), 1);
  const logits = tf.matMul(tf.tanh(pooled), v['head'] as tf.Tensor2D);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

function batch(seed: number, size: number): { images: Float32Array; labels: Float32Array } {
  const rng = new Rng(seed);
  const labels = new Float32Array(size * 3);
  for (let i = 0; i < size; i++) labels[i * 3 + rng.int(3)] = 1;
  return { images: randomArray(rng, [size, 4, 4, 1]), labels };
}

async function train(backend: 'cpu' | 'native', steps: number, checkLeaks: boolean): Promise<number[]> {
  await tf.setBackend(backend);
  const params = initParams(7);
  const vars = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.tensor(p.values, p.shape))]));
  const optimizer = tf.train.adam(0.01);
  const data = batch(11, 8);
  const images = tf.tensor4d(data.images, [8, 4, 4, 1]);
  const labels = tf.tensor2d(data.labels, [8, 3]);
  const losses: number[] = [];
  const step = () => {
    const l = optimizer.minimize(() => loss(vars, images, labels), true)!;
    losses.push(l.dataSync()[0]!);
    l.dispose();
  };
  step(); // creates the optimizer's slots
  if (checkLeaks) {
    await withLeakGuard(() => { for (let i = 1; i < steps; i++) step(); }, { label: `${steps} native training steps` });
  } else {
    for (let i = 1; i < steps; i++) step();
  }
  optimizer.dispose();
  tf.dispose([images, labels, ...Object.values(vars)]);
  return losses;
}

describe('native backend gradients', () => {
  it('match central finite differences', async () => {
    await tf.setBackend('native');
    const params = initParams(3);
    const data = batch(5, 2);
    const images = tf.tensor4d(data.images, [2, 4, 4, 1]);
    const labels = tf.tensor2d(data.labels, [2, 3]);
    const names = Object.keys(params);
    const tensors = names.map((k) => tf.tensor(params[k]!.values, params[k]!.shape));
    const f = (...xs: tf.Tensor[]) => loss(Object.fromEntries(names.map((k, i) => [k, xs[i]!])), images, labels);
    const analytic = tf.grads(f)(tensors).map((g) => g.dataSync());
    const rng = new Rng(9);
    const eps = 1e-2;
    for (let i = 0; i < names.length; i++) {
      const p = params[names[i]!]!;
      for (let trial = 0; trial < 3; trial++) {
        const j = rng.int(p.values.length);
        const at = (delta: number) => {
          const v = p.values.slice();
          v[j]! += delta;
          const xs = tensors.map((t, q) => (q === i ? tf.tensor(v, p.shape) : t));
          const out = tf.tidy(() => f(...xs).dataSync()[0]!);
          tf.dispose(xs[i]);
          return out;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(analytic[i]![j]! - numeric), `${names[i]}[${j}]`).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
      }
    }
    tf.dispose([images, labels, ...tensors]);
  });
});

describe('native backend training', () => {
  it('follows the cpu loss curve to float tolerance', async () => {
    const cpu = await train('cpu', 20, false);
    const native = await train('native', 20, false);
    expect(native[19]).toBeLessThan(native[0]! * 0.9); // it learns
    for (let i = 0; i < 20; i++) expect(Math.abs(native[i]! - cpu[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu[i]!)));
  });
  it('leaks no tensors over 1,000 training steps', async () => {
    const losses = await train('native', 1000, true);
    expect(losses).toHaveLength(1000);
    expect(losses.every(Number.isFinite)).toBe(true);
  });
});
