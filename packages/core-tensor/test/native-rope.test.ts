// The native rotary-embedding kernel (2-D RoPE's rotation of interleaved channel pairs): forward and its
// gradient (the inverse rotation) against float64 closed forms written out here, the round trip, the
// threaded path against one thread, and the checks on bad input at the kernel and at the addon.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { loadAddon, type NativeAddon } from '../src/native/addon.js';
import { ROTARY_KERNEL, nativeKernelConfigs } from '../src/native/kernels.js';
import { randomArray, requireNative } from './native-helpers.js';

let addon: NativeAddon;
let threadsBefore = 1;

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
  const load = loadAddon();
  if (!load.ok) throw new Error(load.reason);
  addon = load.addon;
  threadsBefore = addon.info().threads;
});

afterAll(() => addon?.setThreads(threadsBefore));

/** |a − b| ≤ tol · (1 + |b|) everywhere. */
function expectNear(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = ''): void {
  expect(actual.length, what).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i]! - want[i]!) / (tol * (1 + Math.abs(want[i]!)));
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  expect(worst, `${what} element ${at}: ${actual[at]} vs ${want[at]}`).toBeLessThan(1);
}

interface Case {
  b: number;
  /** Rotated tokens, then `extra` tokens whose tables are cos = 1, sin = 0 (RoPE's unrotated t and y tokens). */
  t: number;
  extra: number;
  p: number;
}

/** Random x [b, t + extra, 2p] and tables of random angles (identity rows for the extra tokens), float32. */
function inputsOf({ b, t, extra, p }: Case, seed: number) {
  const rng = new Rng(seed);
  const tokens = t + extra;
  const x = randomArray(rng, [b, tokens, 2 * p], -2, 2);
  const angles = randomArray(rng, [t, p], -4, 4);
  const cos = new Float32Array(tokens * p).fill(1), sin = new Float32Array(tokens * p);
  angles.forEach((a, i) => {
    cos[i] = Math.cos(a);
    sin[i] = Math.sin(a);
  });
  return { x, cos, sin, tokens, shape: [b, tokens, 2 * p] as [number, number, number] };
}

/**
 * float64 y[b,t,2p] = x0·cos − x1·sin, y[b,t,2p+1] = x1·cos + x0·sin with tables [t, p]; `transpose`
 * applies Rᵀ instead: (x0·cos + x1·sin, x1·cos − x0·sin), the gradient of Σ dy·R x with respect to x.
 */
function rotateRef(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, b: number, tokens: number, p: number, transpose = false): Float64Array {
  const y = new Float64Array(b * tokens * 2 * p);
  for (let bi = 0; bi < b; bi++) {
    for (let t = 0; t < tokens; t++) {
      for (let k = 0; k < p; k++) {
        const i = ((bi * tokens + t) * p + k) * 2;
        const c = cos[t * p + k]!, s = transpose ? -sin[t * p + k]! : sin[t * p + k]!;
        const x0 = x[i]!, x1 = x[i + 1]!;
        y[i] = x0 * c - x1 * s;
        y[i + 1] = x1 * c + x0 * s;
      }
    }
  }
  return y;
}

const rotate = (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, inverse = false): tf.Tensor =>
  tf.engine().runKernel(ROTARY_KERNEL, { x, cos, sin }, { inverse }) as tf.Tensor;

/** The kernel as models wraps it: the gradient is the inverse rotation of dy, the tables get none. */
const rotary = (cos: tf.Tensor, sin: tf.Tensor) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x] = args as [tf.Tensor];
    return { value: rotate(x, cos, sin), gradFunc: (dy: tf.Tensor) => rotate(dy, cos, sin, true) };
  });

const run = (c: Case, seed: number, fn: (x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor) => tf.Tensor) => {
  const ins = inputsOf(c, seed);
  const before = tf.memory().numTensors;
  let out: Float32Array = new Float32Array();
  // Not returned from tidy, which would walk every element of a typed array looking for tensors.
  tf.tidy(() => {
    const x = tf.tensor3d(ins.x, ins.shape), cos = tf.tensor2d(ins.cos, [ins.tokens, c.p]), sin = tf.tensor2d(ins.sin, [ins.tokens, c.p]);
    const y = fn(x, cos, sin);
    expect(y.shape).toEqual(ins.shape);
    out = y.dataSync().slice() as Float32Array;
  });
  expect(tf.memory().numTensors, 'tensors leaked').toBe(before);
  return { ...ins, out };
};

// Batch 1 and above, extra unrotated tokens, odd sizes (a single pair, an odd pair count past a vector width),
// and a size above the threading grain.
const CASES: Case[] = [
  { b: 1, t: 1, extra: 0, p: 1 },
  { b: 2, t: 9, extra: 2, p: 12 },
  { b: 3, t: 5, extra: 1, p: 17 },
  { b: 4, t: 65, extra: 2, p: 97 },
];
const label = (c: Case) => `x [${c.b}, ${c.t}+${c.extra}, 2·${c.p}]`;

describe('native rotary kernel', () => {
  it.each(CASES.map((c) => [label(c), c] as const))('forward equals the float64 rotation, %s; extra tokens pass through unchanged', (_, c) => {
    const r = run(c, c.b * 1000 + c.t * 10 + c.p, rotate);
    expectNear(r.out, rotateRef(r.x, r.cos, r.sin, c.b, r.tokens, c.p), 1e-6, 'y');
    for (let bi = 0; bi < c.b; bi++) {
      const from = (bi * r.tokens + c.t) * 2 * c.p, to = (bi + 1) * r.tokens * 2 * c.p;
      expect(Array.from(r.out.subarray(from, to))).toEqual(Array.from(r.x.subarray(from, to)));
    }
  });

  it.each(CASES.map((c) => [label(c), c] as const))('inverse: true undoes the forward, %s', (_, c) => {
    const r = run(c, c.p * 7 + c.b, (x, cos, sin) => rotate(rotate(x, cos, sin), cos, sin, true));
    expectNear(r.out, r.x, 1e-6, 'round trip');
    const back = run(c, c.p * 7 + c.b, (x, cos, sin) => rotate(rotate(x, cos, sin, true), cos, sin));
    expectNear(back.out, back.x, 1e-6, 'round trip from the inverse');
  });

  it.each(CASES.map((c) => [label(c), c] as const))('the gradient through tf.grad is the float64 transpose Rᵀ·dy, %s', (_, c) => {
    const dy = randomArray(new Rng(c.t + 77), [c.b, c.t + c.extra, 2 * c.p]);
    const r = run(c, c.b + c.p, (x, cos, sin) =>
      tf.grad((v: tf.Tensor) => tf.sum(tf.mul(rotary(cos, sin)(v), tf.tensor(dy, x.shape))))(x));
    expectNear(r.out, rotateRef(dy, r.cos, r.sin, c.b, r.tokens, c.p, true), 1e-6, 'dx');
  });

  it('two threads give the single thread\'s result bit for bit on a size above the threading grain', () => {
    const c = CASES[CASES.length - 1]!;
    for (const inverse of [false, true]) {
      const on = (threads: number) => {
        addon.setThreads(threads);
        return run(c, 5, (x, cos, sin) => rotate(x, cos, sin, inverse)).out;
      };
      const one = on(1), two = on(2);
      addon.setThreads(threadsBefore);
      expect(two.length).toBe(one.length);
      expect(one.findIndex((v, i) => !Object.is(v, two[i])), `inverse ${inverse}: first differing element`).toBe(-1);
    }
  });

  it('is registered only where the addon has it, so an addon built before it still loads', () => {
    const names = (a: NativeAddon) => nativeKernelConfigs(a, 'native').map((k) => k.kernelName);
    expect(names(addon)).toContain(ROTARY_KERNEL);
    expect(names({ ...addon, rotaryPairs: undefined })).not.toContain(ROTARY_KERNEL);
  });

  it('rejects bad input with an error that names the argument', () => {
    tf.tidy(() => {
      const x = tf.zeros([2, 3, 8]), cos = tf.ones([3, 4]), sin = tf.zeros([3, 4]);
      expect(() => rotate(tf.zeros([2, 3, 7]), cos, sin)).toThrow(/DifflabRotaryPairs: x \[2,3,7\] must be \[batch, tokens, 2·pairs\] = \[batch, 3, 8\] for cos and sin \[3,4\]/);
      expect(() => rotate(tf.zeros([3, 8]), cos, sin)).toThrow(/x \[3,8\] must be \[batch, tokens, 2·pairs\]/);
      expect(() => rotate(tf.zeros([2, 5, 8]), cos, sin)).toThrow(/cos and sin \[3,4\] must have one row per token of x \[2,5,8\], 5 rows/);
      expect(() => rotate(x, cos, tf.zeros([3, 5]))).toThrow(/sin \[3,5\] and cos \[3,4\] must have the same shape/);
      expect(() => rotate(x, tf.ones([12]), tf.zeros([12]))).toThrow(/cos \[12\] must be \[tokens, pairs\]/);
      expect(() => rotate(tf.zeros([2, 3, 8], 'int32'), cos, sin)).toThrow(/DifflabRotaryPairs: x must be a float32 tensor, got int32/);
      expect(() => rotate(x, tf.ones([3, 4], 'int32'), sin)).toThrow(/cos must be a float32 tensor, got int32/);
      expect(() => rotate(x, cos, tf.zeros([3, 4], 'int32'))).toThrow(/sin must be a float32 tensor, got int32/);
    });
    const f = (n: number) => new Float32Array(n);
    expect(() => addon.rotaryPairs!(f(47), f(12), f(12), 2, 3, 4, false, f(48))).toThrow(/x has 47 elements; its shape needs 48/);
    expect(() => addon.rotaryPairs!(f(48), f(11), f(12), 2, 3, 4, false, f(48))).toThrow(/cos has 11 elements; its shape needs 12/);
    expect(() => addon.rotaryPairs!(f(48), f(12), f(12), 2, 3, 4, false, f(40))).toThrow(/y has 40 elements/);
    expect(() => addon.rotaryPairs!(f(48), f(12), new Float64Array(12) as unknown as Float32Array, 2, 3, 4, false, f(48))).toThrow(/sin must be a Float32Array/);
    expect(() => addon.rotaryPairs!(f(48), f(12), f(12), 2, -3, 4, false, f(48))).toThrow(/non-negative/);
  });
});
