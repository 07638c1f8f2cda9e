// v-prediction: the target inverts to ε and x0 with the schedule's coefficients, and one loss draw
// equals a float64 recomputation from the same Rng numbers (the ε objective's draws).
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { type DenoiseFn, addNoise, cosineSchedule, linearSchedule } from '@difflab/models';
import { LossInputError, diffusionLossTerms, vPredictionLossTerms, vTarget } from '../src/index.js';

await tf.setBackend('cpu');

describe('vTarget', () => {
  for (const [name, schedule] of [['linear', linearSchedule()], ['cosine', cosineSchedule()]] as const) {
    it(`ε = √(1−ᾱ_t)·x_t + √ᾱ_t·v and x0 = √ᾱ_t·x_t − √(1−ᾱ_t)·v (${name} schedule)`, () => {
      const r = new Rng(4);
      const t = [0, 10, 500, 999];
      const n = 2 * 2 * 3;
      const x0 = tf.tensor4d(r.normalArray(4 * n, 0, 0.5), [4, 2, 2, 3]);
      const noise = tf.tensor4d(r.normalArray(4 * n), [4, 2, 2, 3]);
      const v = vTarget(schedule, x0, noise, t).dataSync();
      const xt = addNoise(schedule, x0, noise, t).dataSync();
      const [e, x] = [noise.dataSync(), x0.dataSync()];
      t.forEach((ti, i) => {
        const ab = schedule.alphasCumprod[ti]!; // float64 schedule coefficients
        for (let j = i * n; j < (i + 1) * n; j++) {
          expect(Math.sqrt(1 - ab) * xt[j]! + Math.sqrt(ab) * v[j]!).toBeCloseTo(e[j]!, 5);
          expect(Math.sqrt(ab) * xt[j]! - Math.sqrt(1 - ab) * v[j]!).toBeCloseTo(x[j]!, 5);
        }
      });
    });
  }

  it('refuses mismatched shapes and timestep counts', () => {
    const s = linearSchedule();
    expect(() => vTarget(s, tf.zeros([2, 1, 1, 1]), tf.zeros([2, 1, 1, 2]), [1, 2])).toThrow(LossInputError);
    expect(() => vTarget(s, tf.zeros([2, 1, 1, 1]), tf.zeros([2, 1, 1, 1]), [1])).toThrow(/timesteps/);
  });
});

describe('vPredictionLossTerms', () => {
  const schedule = linearSchedule(100);
  const model: DenoiseFn = (xt, t) => tf.tidy(() => tf.add(tf.mul(0.8, xt), tf.reshape(tf.div(t, 100), [-1, 1, 1, 1])) as tf.Tensor4D);
  const per = 2 * 2;
  const xArr = new Rng(2).normalArray(3 * per, 0, 0.7);

  it('equals a float64 recomputation of x_t, v and the MSE from the same draws (t, then ε)', () => {
    const rng = new Rng(13);
    const terms = vPredictionLossTerms(model, tf.tensor4d(xArr, [3, 2, 2, 1]), tf.tensor1d([1, 2, 3], 'int32'), rng, schedule);
    const r = new Rng(13);
    const t = Array.from({ length: 3 }, () => r.int(100));
    const eps = r.normalArray(3 * per);
    let se = 0;
    t.forEach((ti, i) => {
      const ab = schedule.alphasCumprod[ti]!;
      for (let j = i * per; j < (i + 1) * per; j++) {
        const xt = Math.sqrt(ab) * xArr[j]! + Math.sqrt(1 - ab) * eps[j]!;
        const v = Math.sqrt(ab) * eps[j]! - Math.sqrt(1 - ab) * xArr[j]!;
        se += (0.8 * xt + ti / 100 - v) ** 2;
      }
    });
    expect(terms.mse.dataSync()[0]! / (se / (3 * per))).toBeCloseTo(1, 5);
    expect(terms.total.dataSync()[0]).toBe(terms.mse.dataSync()[0]);
    expect(rng.getState()).toEqual(r.getState());
  });

  it('draws what the ε loss draws: the same Rng state after either', () => {
    const [a, b] = [new Rng(9), new Rng(9)];
    const x = tf.tensor4d(xArr, [3, 2, 2, 1]);
    const y = tf.tensor1d([0, 0, 0], 'int32');
    vPredictionLossTerms(model, x, y, a, schedule);
    diffusionLossTerms(model, x, y, b, schedule);
    expect(a.getState()).toEqual(b.getState());
  });

  it('refuses a variance-channel output', () => {
    const doubled: DenoiseFn = (xt) => tf.concat([xt, xt], 3) as tf.Tensor4D;
    expect(() => vPredictionLossTerms(doubled, tf.tensor4d(xArr, [3, 2, 2, 1]), tf.tensor1d([0, 0, 0], 'int32'), new Rng(0), schedule)).toThrow(/v target/);
  });
});
