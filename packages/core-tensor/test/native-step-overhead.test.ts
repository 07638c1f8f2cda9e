// The kernels that cut a small DiT step's op count (issue #16, "small-step overhead"): the dense layer
// (DifflabLinear) and SwiGLU's gate (DifflabSwigluGate). Both replace composed tfjs ops on the native
// backend and must give the composed ops' results bit for bit, forward and backward, so a run trains
// the same weights either way. They are compared against those composed ops on the same backend, and
// against a float64 reference for a sanity bound.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { LINEAR_GRAD_KERNEL, LINEAR_KERNEL, SWIGLU_GATE_GRAD_KERNEL, SWIGLU_GATE_KERNEL } from '../src/native/kernels.js';
import { requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});

const bits = (t: tf.Tensor): Uint32Array => new Uint32Array((t.dataSync() as Float32Array).slice().buffer);

/** Same shape and the same float32 bit patterns (so also the same NaNs, infinities and signed zeros). */
function expectSameBits(actual: tf.Tensor, expected: tf.Tensor, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  const a = bits(actual), e = bits(expected);
  let first = -1;
  for (let i = 0; i < e.length && first < 0; i++) if (a[i] !== e[i]) first = i;
  expect(first, `${what}: first differing element ${first}`).toBe(-1);
}

const tensor = (rng: Rng, shape: number[], std = 1): tf.Tensor => tf.tensor(rng.normalArray(shape.reduce((p, q) => p * q, 1), 0, std), shape);

describe('native DifflabLinear kernels', () => {
  // What the DiT ran before: the 2-D view of x through tf.fused.matMul, reshaped back, and its autodiff.
  const composed = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
    const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: w as tf.Tensor2D, ...(b ? { bias: b } : {}) });
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]!]);
  };
  const composedGrads = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, dy: tf.Tensor): tf.Tensor[] =>
    b
      ? tf.grads((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor) => composed(xs, ws, bs))([x, w, b], dy)
      : tf.grads((xs: tf.Tensor, ws: tf.Tensor) => composed(xs, ws))([x, w], dy);

  // [x shape, out]: the DiT's token layout, a 2-D input, rank 4, single rows and columns, odd sizes, and
  // a product big enough for the multithreaded GEMM paths.
  const cases: [number[], number][] = [[[4, 16, 8], 24], [[5, 7], 3], [[2, 3, 4, 5], 6], [[1, 1, 9], 1], [[3, 1], 11], [[8, 64, 64], 192], [[2, 33, 17], 65]];

  for (const [xShape, out] of cases) {
    for (const withBias of [true, false]) {
      it(`x [${xShape}] · [${xShape.at(-1)}, ${out}]${withBias ? ' + bias' : ''}: forward and gradients equal tf.fused.matMul's bit for bit`, () => {
        tf.tidy(() => {
          const rng = new Rng(xShape.length * 1000 + out);
          const inDim = xShape.at(-1)!;
          const x = tensor(rng, xShape), w = tensor(rng, [inDim, out], 0.3), b = withBias ? tensor(rng, [out]) : undefined;
          const dy = tensor(rng, [...xShape.slice(0, -1), out]);
          const y = tf.engine().runKernel(LINEAR_KERNEL, b ? { x, weight: w, bias: b } : { x, weight: w }) as tf.Tensor;
          expectSameBits(y, composed(x, w, b), 'y');
          const grads = tf.engine().runKernel(LINEAR_GRAD_KERNEL, { dy, x, weight: w }, { hasBias: withBias }) as tf.Tensor[];
          const want = composedGrads(x, w, b, dy);
          expect(grads.length).toBe(want.length);
          ['dx', 'dweight', 'dbias'].slice(0, want.length).forEach((name, i) => expectSameBits(grads[i]!, want[i]!, name));
        });
      });
    }
  }

  it('is x·W + b within float32 rounding of a float64 product', () => {
    tf.tidy(() => {
      const rng = new Rng(5);
      const x = tensor(rng, [3, 10, 12]), w = tensor(rng, [12, 7]), b = tensor(rng, [7]);
      const y = (tf.engine().runKernel(LINEAR_KERNEL, { x, weight: w, bias: b }) as tf.Tensor).dataSync();
      const xv = x.dataSync(), wv = w.dataSync(), bv = b.dataSync();
      let worst = 0;
      for (let r = 0; r < 30; r++) {
        for (let j = 0; j < 7; j++) {
          let s = bv[j]!, mag = Math.abs(bv[j]!);
          for (let k = 0; k < 12; k++) {
            s += xv[r * 12 + k]! * wv[k * 7 + j]!;
            mag += Math.abs(xv[r * 12 + k]! * wv[k * 7 + j]!);
          }
          worst = Math.max(worst, Math.abs(y[r * 7 + j]! - s) / (mag * 2 ** -20));
        }
      }
      expect(worst).toBeLessThan(1);
    });
  });

  it('handles zero rows and rejects mismatched shapes', () => {
    tf.tidy(() => {
      const w = tf.ones([4, 3]), b = tf.ones([3]);
      const y = tf.engine().runKernel(LINEAR_KERNEL, { x: tf.zeros([0, 4]), weight: w, bias: b }) as tf.Tensor;
      expect(y.shape).toEqual([0, 3]);
      const [dx, dw, db] = tf.engine().runKernel(LINEAR_GRAD_KERNEL, { dy: tf.zeros([0, 3]), x: tf.zeros([0, 4]), weight: w }) as tf.Tensor[];
      expect([dx!.shape, Array.from(dw!.dataSync()), Array.from(db!.dataSync())]).toEqual([[0, 4], new Array(12).fill(0), [0, 0, 0]]);
      expect(() => tf.engine().runKernel(LINEAR_KERNEL, { x: tf.ones([2, 5]), weight: w })).toThrow(/input size/);
      expect(() => tf.engine().runKernel(LINEAR_KERNEL, { x: tf.ones([2, 4]), weight: w, bias: tf.ones([4]) })).toThrow(/bias/);
      expect(() => tf.engine().runKernel(LINEAR_GRAD_KERNEL, { dy: tf.ones([2, 4]), x: tf.ones([2, 4]), weight: w })).toThrow(/dy/);
      expect(() => tf.engine().runKernel(LINEAR_KERNEL, { x: tf.ones([2, 4], 'int32'), weight: w })).toThrow(/float32/);
    });
  });
});

describe('native DifflabSwigluGate kernels', () => {
  const composed = (a: tf.Tensor, g: tf.Tensor): tf.Tensor => tf.mul(tf.mul(a, tf.sigmoid(a)), g);

  // 300k values (multithreaded sizes, many 1024-element spans and a ragged tail), wide ranges so σ
  // saturates on both sides, and the special values.
  const rng = new Rng(21);
  const n = 300_001;
  const av = rng.normalArray(n, 0, 6), gv = rng.normalArray(n, 0, 2), dyv = rng.normalArray(n, 0, 1);
  const special = [0, -0, 1e-30, -1e-30, 50, -50, 88.8, -88.8, 104, -104, 1e30, -1e30, Infinity, -Infinity, NaN];
  special.forEach((v, i) => {
    av[i] = v;
    gv[special.length + i] = v;
    dyv[2 * special.length + i] = v;
  });

  it('forward equals tf.mul(tf.mul(a, tf.sigmoid(a)), gate) bit for bit', () => {
    tf.tidy(() => {
      const a = tf.tensor2d(av, [1, n]), g = tf.tensor2d(gv, [1, n]);
      expectSameBits(tf.engine().runKernel(SWIGLU_GATE_KERNEL, { a, gate: g }) as tf.Tensor, composed(a, g), 'y');
    });
  });

  it('gradients equal tfjs autodiff of the composed ops bit for bit', () => {
    tf.tidy(() => {
      const a = tf.tensor1d(av), g = tf.tensor1d(gv), dy = tf.tensor1d(dyv);
      const [da, dg] = tf.engine().runKernel(SWIGLU_GATE_GRAD_KERNEL, { dy, a, gate: g }) as tf.Tensor[];
      const [wantA, wantG] = tf.grads((x: tf.Tensor, y: tf.Tensor) => composed(x, y))([a, g], dy);
      expectSameBits(da!, wantA!, 'da');
      expectSameBits(dg!, wantG!, 'dgate');
    });
  });

  it('is silu(a)·g and its derivatives within float32 rounding of float64', () => {
    tf.tidy(() => {
      const m = 5000;
      const a = tf.tensor1d(av.subarray(100, 100 + m)), g = tf.tensor1d(gv.subarray(100, 100 + m)), dy = tf.tensor1d(dyv.subarray(100, 100 + m));
      const y = (tf.engine().runKernel(SWIGLU_GATE_KERNEL, { a, gate: g }) as tf.Tensor).dataSync();
      const [da, dg] = (tf.engine().runKernel(SWIGLU_GATE_GRAD_KERNEL, { dy, a, gate: g }) as tf.Tensor[]).map((t) => t.dataSync());
      let worst = 0;
      for (let i = 0; i < m; i++) {
        const x = av[100 + i]!, gate = gv[100 + i]!, d = dyv[100 + i]!;
        const s = 1 / (1 + Math.exp(-x));
        const want = [x * s * gate, d * gate * (s + x * s * (1 - s)), d * x * s];
        const got = [y[i]!, da![i]!, dg![i]!];
        want.forEach((w, k) => (worst = Math.max(worst, Math.abs(got[k]! - w) / (1e-5 * (1 + Math.abs(w))))));
      }
      expect(worst).toBeLessThan(1);
    });
  });

  it('rejects mismatched shapes and non-float inputs', () => {
    tf.tidy(() => {
      expect(() => tf.engine().runKernel(SWIGLU_GATE_KERNEL, { a: tf.ones([2, 3]), gate: tf.ones([3, 2]) })).toThrow(/same shape/);
      expect(() => tf.engine().runKernel(SWIGLU_GATE_GRAD_KERNEL, { dy: tf.ones([2]), a: tf.ones([2, 3]), gate: tf.ones([2, 3]) })).toThrow(/same shape/);
      expect(() => tf.engine().runKernel(SWIGLU_GATE_KERNEL, { a: tf.ones([2], 'int32'), gate: tf.ones([2], 'int32') })).toThrow(/float32/);
    });
  });
});
