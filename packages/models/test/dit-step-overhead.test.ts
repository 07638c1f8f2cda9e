// The DiT's dense layer (fused.ts linear) and SwiGLU gate (swiglu.ts swigluGate) run as one native
// kernel each way on the native backend (issue #16, small-step overhead). They must train exactly what
// the composed tfjs ops trained: values and gradients equal bit for bit on the native backend, the
// composed path unchanged on cpu, and no tensor left behind.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng, registerNativeBackend } from '@difflab/core-tensor';
import { linear } from '../src/dit/fused.js';
import { swigluGate } from '../src/dit/swiglu.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);

const composedLinear = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor => {
  const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]!]);
  const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: w as tf.Tensor2D, ...(b ? { bias: b } : {}) });
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]!]);
};
const composedGate = (a: tf.Tensor, g: tf.Tensor): tf.Tensor => tf.mul(tf.mul(a, tf.sigmoid(a)), g);

/** Float32 bit patterns of each tensor. */
const bitsOf = (ts: tf.Tensor[]): number[][] => ts.map((t) => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer)));

/** Value and gradients (w.r.t. every input, for a fixed random cotangent) of f on the current backend. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: Float32Array[], shapes: number[][], dySeed: number): number[][] {
  return tf.tidy(() => {
    const xs = inputs.map((v, i) => tf.tensor(v, shapes[i]!));
    const y = f(...xs);
    const dy = tf.tensor(new Rng(dySeed).normalArray(y.size), y.shape);
    const grads = tf.grads((...a: tf.Tensor[]) => f(...a))(xs, dy);
    return bitsOf([y, ...grads]);
  });
}

async function onBackend<T>(name: 'cpu' | 'native', fn: () => T): Promise<T> {
  await tf.setBackend(name);
  return fn();
}

describe('linear (DifflabLinear on native)', () => {
  it.each([
    [[2, 5, 6], 4, true],
    [[3, 6], 7, true],
    [[2, 2, 3, 8], 5, false],
    [[4, 64, 32], 96, true],
  ] as [number[], number, boolean][])('x [%j] to %i features (bias %s): the tape values and gradients of tf.fused.matMul, bit for bit', async (xShape, out, withBias) => {
    const rng = new Rng(xShape.length + out);
    const inDim = xShape.at(-1)!;
    const inputs = [rng.normalArray(xShape.reduce((p, q) => p * q, 1)), rng.normalArray(inDim * out, 0, 0.3), ...(withBias ? [rng.normalArray(out)] : [])];
    const shapes = [xShape, [inDim, out], ...(withBias ? [[out]] : [])];
    const fused = (...t: tf.Tensor[]) => linear(t[0]!, t[1]!, t[2]);
    const composed = (...t: tf.Tensor[]) => composedLinear(t[0]!, t[1]!, t[2]);
    const before = await onBackend('native', () => tf.memory().numTensors);
    const native = await onBackend('native', () => valueAndGrads(fused, inputs, shapes, 9));
    expect(tf.memory().numTensors).toBe(before);
    expect(native).toEqual(await onBackend('native', () => valueAndGrads(composed, inputs, shapes, 9)));
    // Elsewhere the op is the composed one.
    expect(await onBackend('cpu', () => valueAndGrads(fused, inputs, shapes, 9))).toEqual(await onBackend('cpu', () => valueAndGrads(composed, inputs, shapes, 9)));
  });
});

describe('swigluGate (DifflabSwigluGate on native)', () => {
  it.each([[[2, 3, 8]], [[4, 64, 256]], [[7]]] as [number[]][])('[%j]: values and gradients of mul(mul(a, sigmoid(a)), gate), bit for bit', async (shape) => {
    const n = shape.reduce((p, q) => p * q, 1);
    const rng = new Rng(n);
    const inputs = [rng.normalArray(n, 0, 4), rng.normalArray(n, 0, 2)];
    const shapes = [shape, shape];
    const fused = (a: tf.Tensor, g: tf.Tensor) => swigluGate(a, g);
    const before = await onBackend('native', () => tf.memory().numTensors);
    const native = await onBackend('native', () => valueAndGrads(fused as (...xs: tf.Tensor[]) => tf.Tensor, inputs, shapes, 4));
    expect(tf.memory().numTensors).toBe(before);
    expect(native).toEqual(await onBackend('native', () => valueAndGrads(composedGate as (...xs: tf.Tensor[]) => tf.Tensor, inputs, shapes, 4)));
    expect(await onBackend('cpu', () => valueAndGrads(fused as (...xs: tf.Tensor[]) => tf.Tensor, inputs, shapes, 4))).toEqual(
      await onBackend('cpu', () => valueAndGrads(composedGate as (...xs: tf.Tensor[]) => tf.Tensor, inputs, shapes, 4)),
    );
  });

  it('falls back to the composed ops when a and gate differ in shape (broadcasting)', async () => {
    await tf.setBackend('native');
    tf.tidy(() => {
      const a = tf.tensor2d([[1, -2, 3]]), g = tf.tensor2d([[2], [3]]);
      expect(bitsOf([swigluGate(a, g)])).toEqual(bitsOf([composedGate(a, g)]));
    });
  });
});
