// Every native kernel against the tfjs cpu backend on random shapes: broadcasting, transposes,
// odd sizes, batch 1, empty dimensions, and sizes large enough to take the multithreaded paths.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { loadAddon } from '../src/native/addon.js';
import { expectSameAsCpu, randomArray, requireNative, runOn } from './native-helpers.js';

beforeAll(() => requireNative());

const rng = new Rng(20261122);
const t = (shape: number[], lo = -2, hi = 2) => {
  const v = randomArray(rng, shape, lo, hi);
  return () => tf.tensor(v, shape, 'float32');
};

const broadcastPairs: [number[], number[]][] = [
  [[2, 3, 4], [2, 3, 4]],
  [[2, 3, 4], [4]],
  [[2, 1, 4], [3, 1]],
  [[5], []],
  [[], [7]],
  [[1], [7, 1]],
  [[0, 3], [3]],
  [[7, 13], [13]],
  [[2, 1, 3, 1, 5], [1, 4, 1, 6, 1]],
  [[64, 1024], [1024]], // threaded, bias-row pattern
  [[256, 300], [256, 1]], // threaded, per-row pattern
];

describe('native binary ops match cpu', () => {
  for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'squaredDifference', 'pow'] as const) {
    it(op, async () => {
      for (const [sa, sb] of broadcastPairs) {
        const a = op === 'pow' ? t(sa, 0.1, 2) : t(sa);
        const b = t(sb);
        await expectSameAsCpu(() => tf[op](a(), b()), 2e-5, 1e-5);
      }
    });
  }
  it('propagates NaN through maximum and minimum like Math.max/min', async () => {
    const mk = () => [tf.tensor([NaN, 1, 2]), tf.tensor([0, NaN, 3])] as const;
    await expectSameAsCpu(() => { const [a, b] = mk(); return [tf.maximum(a, b), tf.minimum(a, b)]; });
  });
  it('leaves int32 arithmetic to the cpu kernel (dtype preserved)', async () => {
    const [r] = await runOn('native', () => tf.add(tf.tensor([1, 2], [2], 'int32'), tf.tensor([3, 4], [2], 'int32')));
    expect(r!.dtype).toBe('int32');
    expect(Array.from(r!.values)).toEqual([4, 6]);
  });
});

describe('native unary ops match cpu', () => {
  const shapes = [[3, 5], [1], [0, 4], [70000]];
  const positive = new Set(['log', 'sqrt', 'rsqrt']);
  for (const op of ['neg', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'tanh', 'sigmoid', 'relu', 'abs', 'reciprocal', 'erf'] as const) {
    it(op, async () => {
      for (const s of shapes) {
        const x = positive.has(op) ? t(s, 0.05, 3) : t(s, -3, 3);
        await expectSameAsCpu(() => tf[op](x()), 2e-5, 2e-6);
      }
    });
  }
});

describe('native exp, sigmoid, tanh at the edges of their range', () => {
  it('match cpu on extremes, infinities and NaN', async () => {
    const x = [-1e4, -100, -88, -87, -20, -1e-5, 0, 1e-5, 0.003, 0.005, 20, 88, 88.7, 89, Infinity, -Infinity, NaN];
    await expectSameAsCpu(() => [tf.exp(tf.tensor(x)), tf.sigmoid(tf.tensor(x)), tf.tanh(tf.tensor(x)), tf.softmax(tf.tensor([[-1e4, 0, 3], [88, 88, -88]]))], 2e-6, 1e-30);
  });
});

describe('native reductions match cpu', () => {
  const cases: [number[], number | number[] | undefined][] = [
    [[3, 4, 5, 6], 0], [[3, 4, 5, 6], 3], [[3, 4, 5, 6], [1, 2]], [[3, 4, 5, 6], [0, 2]],
    [[3, 4, 5, 6], [0, 3]], [[3, 4, 5, 6], undefined], [[3, 4, 5, 6], -1], [[1, 5, 1], 1], [[5, 1], 1],
    [[4096, 64], 0], [[64, 4096], 1], [[2, 3000, 40], 1], [[7], 0],
  ];
  for (const op of ['sum', 'mean', 'max', 'min'] as const) {
    it(op, async () => {
      for (const [shape, axis] of cases) {
        const x = t(shape);
        for (const keepDims of [false, true]) {
          await expectSameAsCpu(() => tf[op](x(), axis, keepDims), 1e-5, 1e-5);
        }
      }
    });
  }
  it('empty inputs go to the cpu kernel', async () => {
    await expectSameAsCpu(() => [tf.sum(tf.zeros([0, 3]), 0), tf.sum(tf.zeros([3, 0]), 1)]);
  });
});

describe('native transpose and softmax match cpu', () => {
  it('transposes', async () => {
    const cases: [number[], number[]][] = [
      [[2, 3], [1, 0]], [[2, 3, 4], [0, 2, 1]], [[2, 3, 4, 5], [0, 2, 1, 3]], [[2, 3, 4, 5], [3, 1, 0, 2]],
      [[1, 7, 1, 3], [2, 3, 0, 1]], [[0, 3], [1, 0]], [[300, 257], [1, 0]], [[8, 64, 6, 32], [0, 2, 1, 3]], [[5], [0]],
    ];
    for (const [shape, perm] of cases) {
      const x = t(shape);
      await expectSameAsCpu(() => tf.transpose(x(), perm));
    }
  });
  it('softmax over the last axis', async () => {
    for (const shape of [[1, 5], [3, 7, 33], [512, 100], [4, 1]]) {
      const x = t(shape, -10, 10);
      await expectSameAsCpu(() => tf.softmax(x()), 1e-5, 1e-6);
    }
  });
});

describe('native matmul matches cpu', () => {
  it('covers transposes, batch broadcasting, batch 1, odd and empty sizes', async () => {
    const cases: [number[], number[], boolean, boolean][] = [
      [[3, 4], [4, 5], false, false], [[4, 3], [4, 5], true, false], [[3, 4], [5, 4], false, true], [[4, 3], [5, 4], true, true],
[[1, 7, 9], [3, 9, 2], false, false], [[6, 2, 5], [6, 5, 3], false, false],
      [[1, 1, 1], [1, 1, 1], false, false], [[3, 0], [0, 4], false, false], [[0, 4], [4, 3], false, false],
      [[300, 200], [200, 100], false, false], [[3, 500], [500, 400], false, false], [[200, 300], [100, 200], true, true],
      [[384, 17, 16], [384, 16, 17], false, false],
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const a = t(sa), b = t(sb);
      await expectSameAsCpu(() => tf.matMul(a(), b(), ta, tb), 1e-4, 1e-4);
    }
  });
  it('broadcasts batch dims both ways (the cpu kernel cannot: reference broadcasts first)', async () => {
    const a = t([2, 1, 3, 4]), b = t([5, 4, 6]);
    await expectSameAsCpu(() => tf.matMul(a(), b()), 1e-5, 1e-5,
      () => tf.matMul(tf.broadcastTo(a(), [2, 5, 3, 4]), tf.broadcastTo(b(), [2, 5, 4, 6])));
  });
  it('fused matmul with bias and each activation', async () => {
    const a = t([6, 7]), b = t([7, 5]), bT = t([5, 7]), bias = t([5]), scalarBias = t([1]), fullBias = t([6, 5]), alpha = t([5]);
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid'] as const) {
      await expectSameAsCpu(() => tf.fused.matMul({ a: a(), b: b(), bias: bias(), activation, leakyreluAlpha: 0.1 }), 1e-5, 1e-5);
    }
    await expectSameAsCpu(() => [
      tf.fused.matMul({ a: a(), b: b(), bias: scalarBias(), activation: 'relu' }),
      tf.fused.matMul({ a: a(), b: b(), bias: fullBias() }),
      tf.fused.matMul({ a: a(), b: b(), activation: 'prelu', preluActivationWeights: alpha() }),
      tf.fused.matMul({ a: a(), b: bT(), transposeB: true, bias: bias() }),
    ], 1e-5, 1e-5);
  });
});

describe('native UnsortedSegmentSum (the gradient of gather) matches cpu', () => {
  it('sums rows into segments, repeated and absent ids included', async () => {
    const x = t([6, 3, 2]);
    const ids = [2, 0, 2, 4, 0, 2];
    await expectSameAsCpu(() => [
      tf.unsortedSegmentSum(x(), tf.tensor1d(ids, 'int32'), 5),
      tf.unsortedSegmentSum(tf.reshape(x(), [6, 6]), tf.tensor1d(ids, 'int32'), 7),
      tf.grad((table: tf.Tensor) => tf.sum(tf.mul(tf.gather(table, tf.tensor1d([1, 3, 1], 'int32')), tf.tensor2d([[1, 2], [3, 4], [5, 6]]))))(tf.ones([4, 2])),
    ]);
  });
});

describe('native conv2d matches cpu', () => {
  const cases: { x: number[]; f: number[]; strides: number | [number, number]; pad: 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]]; dil?: number }[] = [
    { x: [2, 9, 8, 3], f: [3, 3, 3, 4], strides: 1, pad: 'same' },
    { x: [1, 9, 8, 3], f: [3, 2, 3, 5], strides: [2, 1], pad: 'valid' },
    { x: [2, 8, 8, 1], f: [4, 4, 1, 6], strides: 4, pad: 'valid' }, // patch embedding
    { x: [2, 5, 6, 4], f: [1, 1, 4, 3], strides: 1, pad: 'valid' }, // pointwise
    { x: [1, 10, 9, 2], f: [3, 3, 2, 2], strides: 1, pad: 'same', dil: 2 },
    { x: [2, 7, 7, 2], f: [3, 3, 2, 3], strides: 2, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  ];
  it('forward, fused forward, and both gradients', async () => {
    for (const c of cases) {
      const x = t(c.x), f = t(c.f), bias = t([c.f[3]!]);
      const dil = c.dil ?? 1;
      await expectSameAsCpu(() => {
        const conv = (xx: tf.Tensor4D, ff: tf.Tensor4D) => tf.conv2d(xx, ff, c.strides, c.pad, 'NHWC', dil);
        const y = conv(x() as tf.Tensor4D, f() as tf.Tensor4D);
        const fused = tf.fused.conv2d({ x: x() as tf.Tensor4D, filter: f() as tf.Tensor4D, strides: c.strides, pad: c.pad, dilations: dil, bias: bias(), activation: 'relu' });
        const w = tf.tensor(randomArray(new Rng(1), y.shape), y.shape);
        const grads = dil === 1
          ? tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.mul(conv(xx as tf.Tensor4D, ff as tf.Tensor4D), w)))([x(), f()])
          : [];
        return [y, fused, ...grads];
      }, 1e-4, 1e-4);
    }
  });
});

describe('native output buffer reuse', () => {
  const n = 8192; // above the pool's minimum size
  const ones = () => tf.ones([n]);
  it('never reuses an array that dataSync handed out', async () => {
    await tf.setBackend('native');
    const read = tf.tidy(() => tf.mul(ones(), 3).dataSync());
    tf.tidy(() => { for (let i = 0; i < 4; i++) tf.mul(ones(), 5).dataSync(); });
    for (let i = 0; i < 4; i++) tf.dispose(tf.add(tf.ones([n]), 7));
    expect(read.every((v) => v === 3)).toBe(true);
  });
  it('never reuses an array a zero-copy slice still views', async () => {
    await tf.setBackend('native');
    const parent = tf.mul(ones(), 2);
    const view = tf.slice(parent, [0], [n / 2]); // contiguous: the cpu kernel returns a subarray
    parent.dispose();
    for (let i = 0; i < 4; i++) tf.dispose(tf.tidy(() => tf.mul(ones(), 9)));
    expect(Array.from(view.dataSync()).every((v) => v === 2)).toBe(true);
    view.dispose();
  });
  it('never reuses an array the caller passed to tf.tensor', async () => {
    await tf.setBackend('native');
    const mine = new Float32Array(n).fill(4);
    tf.tensor(mine).dispose();
    for (let i = 0; i < 4; i++) tf.dispose(tf.tidy(() => tf.mul(ones(), 9)));
    expect(mine.every((v) => v === 4)).toBe(true);
  });
  it('reuses freed outputs, which then hold correct results', async () => {
    await tf.setBackend('native');
    for (let i = 1; i <= 5; i++) {
      const r = tf.tidy(() => tf.add(tf.mul(ones(), i), 1).dataSync());
      expect(r.every((v) => v === i + 1)).toBe(true);
    }
  });
});

describe('native addon rejects bad input', () => {
  it('throws instead of reading past a typed array', () => {
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    const { addon } = load;
    const small = new Float32Array(3), out = new Float32Array(16);
    expect(() => addon.binary(0, small, [2, 2], small, [2, 2], out, [2, 2])).toThrow(/a has 3 elements; its shape needs 4/);
    expect(() => addon.matmul(small, small, out, Int32Array.of(0), Int32Array.of(0), 2, 2, 2, false, false, null, 0, 0)).toThrow(/offset out of range/);
    expect(() => addon.transpose(out, [4, 4], [0, 0], out)).toThrow(/not a permutation/);
    expect(() => addon.unary(0, new Int32Array(2) as unknown as Float32Array, out)).toThrow(/must be a Float32Array/);
  });
});
