// ESD's target and loss against a float64 hand computation: value, the gradient into the trained output only,
// the closed forms at η = 0 and η = 1, and the refusals.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { LossInputError, esdLoss, esdTarget } from '../src/index.js';

await tf.setBackend('cpu');

const SHAPE: [number, number, number, number] = [2, 3, 3, 1];
const draw = (rng: Rng, shape = SHAPE) => rng.normalTensor(shape) as tf.Tensor4D;
const f64 = (t: tf.Tensor) => Float64Array.from(t.dataSync());

describe('esdTarget and esdLoss', () => {
  it('equal a float64 recomputation, and only the trained output gets a gradient', () => {
    const rng = new Rng(5);
    const [output, cond, uncond] = [draw(rng), draw(rng), draw(rng)];
    const eta = 1.7;
    const [o, c, u] = [f64(output), f64(cond), f64(uncond)];
    const target = c.map((ci, i) => ci - eta * (ci - u[i]!));
    const n = o.length;
    const want = o.reduce((s, oi, i) => s + (oi - target[i]!) ** 2, 0) / n;

    const got = esdTarget(cond, uncond, eta).dataSync();
    got.forEach((v, i) => expect(v).toBeCloseTo(target[i]!, 5));
    expect(esdLoss(output, cond, uncond, eta).dataSync()[0]).toBeCloseTo(want, 5);

    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => esdLoss(a as tf.Tensor4D, b as tf.Tensor4D, d as tf.Tensor4D, eta))([output, cond, uncond]);
    f64(grads[0]!).forEach((g, i) => expect(g).toBeCloseTo((2 * (o[i]! - target[i]!)) / n, 5));
    for (const g of grads.slice(1)) expect(Array.from(g.dataSync()).every((v) => v === 0)).toBe(true);
  });

  it('is the conditional output at η = 0 and the unconditional one at η = 1', () => {
    const rng = new Rng(6);
    const [cond, uncond] = [draw(rng), draw(rng)];
    expect(Array.from(esdTarget(cond, uncond, 0).dataSync())).toEqual(Array.from(cond.dataSync()));
    esdTarget(cond, uncond, 1).dataSync().forEach((v, i) => expect(v).toBeCloseTo(uncond.dataSync()[i]!, 6));
    expect(esdLoss(cond, cond, uncond, 0).dataSync()[0]).toBe(0);
  });

  it('reads the first C channels of a learned-sigma output', () => {
    const rng = new Rng(7);
    const [cond, uncond] = [draw(rng), draw(rng)];
    const output = draw(rng, [2, 3, 3, 2]);
    const eps = tf.slice(output, [0, 0, 0, 0], [-1, -1, -1, 1]) as tf.Tensor4D;
    expect(esdLoss(output, cond, uncond, 1).dataSync()[0]).toBe(esdLoss(eps, cond, uncond, 1).dataSync()[0]);
  });

  it('refuses a negative or non-finite η and outputs of different shapes', () => {
    const rng = new Rng(8);
    const [cond, uncond] = [draw(rng), draw(rng)];
    expect(() => esdTarget(cond, uncond, -0.5)).toThrow(LossInputError);
    expect(() => esdTarget(cond, uncond, Number.NaN)).toThrow(/eta/);
    expect(() => esdTarget(cond, draw(rng, [1, 3, 3, 1]), 1)).toThrow(/differ in shape/);
    expect(() => esdLoss(draw(rng, [2, 3, 3, 3]), cond, uncond, 1)).toThrow(LossInputError);
  });
});
