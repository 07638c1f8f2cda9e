import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../src/register-gradients.js';
import { expect } from 'vitest';
import { Rng } from '../src/rng.js';
import { registerNativeBackend } from '../src/native/register.js';

/** Registers the native backend or fails the test file with the reason (the addon must be built). */
export function requireNative(): void {
  const r = registerNativeBackend();
  if (!r.ok) throw new Error(`native backend unavailable: ${r.reason}; run npm run build-native -w @difflab/core-tensor`);
}

export interface Result {
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
  dtype: string;
}

/** Runs fn on a backend and copies out its result(s). fn builds its own tensors from plain arrays. */
export async function runOn(backend: 'cpu' | 'native', fn: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const out = fn();
    return (Array.isArray(out) ? out : [out]).map((t) => ({ shape: t.shape, values: t.dataSync().slice(), dtype: t.dtype }));
  });
}

export function expectClose(actual: Result[], expected: Result[], rtol = 1e-5, atol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    expect(a.shape).toEqual(e.shape);
    expect(a.dtype).toBe(e.dtype);
    let worst = 0, at = -1;
    for (let j = 0; j < e.values.length; j++) {
      const x = a.values[j]!, y = e.values[j]!;
      if (Number.isNaN(y)) {
        expect(Number.isNaN(x), `element ${j} should be NaN`).toBe(true);
        continue;
      }
      if (x === y) continue; // also equal infinities
      const err = Math.abs(x - y) - rtol * Math.abs(y);
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        at = j;
      }
    }
    expect(worst, at >= 0 ? `output ${i} element ${at}: ${a.values[at]} vs ${e.values[at]}` : '').toBeLessThanOrEqual(atol);
  }
}

/** Same function on cpu and native (or `cpuFn` on cpu when given), compared elementwise. */
export async function expectSameAsCpu(fn: () => tf.Tensor | tf.Tensor[], rtol = 1e-5, atol = 1e-5, cpuFn = fn): Promise<void> {
  const expected = await runOn('cpu', cpuFn);
  const actual = await runOn('native', fn);
  expectClose(actual, expected, rtol, atol);
}

export function randomArray(rng: Rng, shape: number[], lo = -2, hi = 2): Float32Array {
  return rng.uniformArray(shape.reduce((p, d) => p * d, 1), lo, hi);
}
