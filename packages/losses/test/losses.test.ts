import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { type DiTConfig, addNoise, createDiT, linearSchedule } from '@difflab/models';
import {
  LossInputError,
  diffusionTrainingLoss,
  discretizedGaussianLogLikelihood,
  epsilonMse,
  vlbTerm,
} from '../src/index.js';

await tf.setBackend('cpu');
const schedule = linearSchedule();

describe('epsilonMse', () => {
  it('is the mean squared error over all elements, first C channels of a learned-sigma output', async () => {
    const noise = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const out = tf.tensor4d([1, 0, 3, 8, 9, 9, 9, 9], [1, 2, 2, 2]);
    // ε̂ channel = [1, 3, 9, 9]: errors 0, −1... (1−1)² + (3−2)² + (9−3)² + (9−4)² = 0 + 1 + 36 + 25
    expect((await epsilonMse(out, noise).data())[0]).toBeCloseTo(62 / 4, 6);
    expect((await epsilonMse(noise, noise).data())[0]).toBe(0);
    expect(() => epsilonMse(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, noise)).toThrow(LossInputError);
  });
});

describe('vlbTerm', () => {
  const x0 = tf.tensor4d([0.2, -0.4, 0.6, 0.0], [2, 1, 1, 2]);
  const noise = tf.tensor4d([0.5, -1, 1.5, 0.3], [2, 1, 1, 2]);

  it('KL is 0 for the true ε and v = −1, and matches the Gaussian KL closed form for v = +1', async () => {
    const t = [10, 400];
    const xt = addNoise(schedule, x0, noise, t) as tf.Tensor4D;
    const withV = (v: number) => tf.concat([noise, tf.fill([2, 1, 1, 2], v)], 3) as tf.Tensor4D;
    const zero = await vlbTerm(schedule, withV(-1), x0, xt, t).data();
    expect(Math.abs(zero[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(zero[1]!)).toBeLessThan(1e-5);
    const kl = await vlbTerm(schedule, withV(1), x0, xt, t).data();
    t.forEach((ti, i) => {
      // KL(N(m, β̃) ‖ N(m, β)) = ½(log β − log β̃ − 1 + β̃/β), in bits
      const bt = schedule.posteriorVariance[ti]!;
      const b = schedule.betas[ti]!;
      expect(kl[i]! / ((0.5 * (Math.log(b) - Math.log(bt) - 1 + bt / b)) / Math.LN2)).toBeCloseTo(1, 2); // float32 cancellation
    });
  });

  it('t = 0 uses the discretized decoder NLL, close to the exact normal bin probability', async () => {
    // bin [−1/255, 1/255] around the mean, σ = 0.01: P = 2Φ(0.3921...) − 1
    const ll = await discretizedGaussianLogLikelihood(tf.scalar(0), tf.scalar(0), tf.scalar(Math.log(0.01))).data();
    const exact = 0.30504; // 2Φ(0.392157) − 1 (normal table)
    expect(Math.exp(ll[0]!) / exact).toBeCloseTo(1, 3);
  });

  it('gives no gradient to ε̂ (stop-gradient on the mean), some to the variance channels', async () => {
    const t = [0, 300];
    const xt = addNoise(schedule, x0, noise, t) as tf.Tensor4D;
    const out = tf.concat([tf.add(noise, 0.3), tf.fill([2, 1, 1, 2], 0.2)], 3) as tf.Tensor4D;
    const g = tf.grad((o: tf.Tensor) => tf.mean(vlbTerm(schedule, o as tf.Tensor4D, x0, xt, t)))(out);
    const [ge, gv] = tf.split(g, 2, 3);
    expect(Array.from(await ge!.data()).every((v) => v === 0)).toBe(true);
    expect(Math.max(...Array.from(await gv!.data(), Math.abs))).toBeGreaterThan(1e-4);
  });
});

describe('diffusionTrainingLoss', () => {
  it('draws t then ε from the Rng and scores the model on x_t', async () => {
    const x0 = new Rng(1).normalTensor([3, 2, 2, 1]) as tf.Tensor4D;
    const y = tf.tensor1d([0, 1, 2], 'int32');
    const seen: { t: number[] } = { t: [] };
    const model = (x: tf.Tensor4D, t: tf.Tensor1D) => {
      seen.t = Array.from(t.dataSync());
      return tf.mul(x, 0.5) as tf.Tensor4D;
    };
    const loss = (await diffusionTrainingLoss(model, x0, y, new Rng(42), schedule).data())[0]!;
    const r = new Rng(42);
    const t = [r.int(1000), r.int(1000), r.int(1000)];
    expect(seen.t).toEqual(t);
    const noise = r.normalTensor([3, 2, 2, 1]);
    const xt = addNoise(schedule, x0, noise, t);
    const want = (await tf.mean(tf.square(tf.sub(tf.mul(xt, 0.5), noise))).data())[0]!;
    expect(loss).toBeCloseTo(want, 6);
    expect(() => diffusionTrainingLoss(model, x0, tf.tensor1d([0], 'int32'), new Rng(0), schedule)).toThrow(/labels y must have shape \[3\]/);
  });

  for (const learnSigma of [false, true]) {
    it(`a few Adam steps of a tiny DiT lower the loss on a fixed batch (learnSigma=${learnSigma}), no leaks`, async () => {
      const cfg: DiTConfig = {
        inputSize: 8, patchSize: 2, inChannels: 1, hiddenSize: 32, depth: 2, numHeads: 2,
        mlpRatio: 4, numClasses: 2, classDropoutProb: 0.1, learnSigma, block: 'adaLN-Zero',
      };
      const model = createDiT(cfg, new Rng(0));
      const x0 = tf.tidy(() => tf.tile(tf.reshape(tf.linspace(-1, 1, 8), [1, 8, 1, 1]), [4, 1, 8, 1])) as tf.Tensor4D;
      const y = tf.tensor1d([0, 1, 0, 1], 'int32');
      const opt = tf.train.adam(3e-3);
      // The same t and ε every step (fixed seed), so the loss is a deterministic function of the weights.
      const lossFn = () =>
        diffusionTrainingLoss((x, t, yy) => model.forward(x, t, yy), x0, y, new Rng(5), schedule, {
          vlbWeight: learnSigma ? 1 : 0,
        });
      const first = (await lossFn().data())[0]!;
      const before = tf.memory().numTensors;
      for (let i = 0; i < 25; i++) opt.minimize(lossFn, true)?.dispose();
      const after = (await lossFn().data())[0]!;
      expect(after).toBeLessThan(0.7 * first);
      // Adam's two moment slots per variable are the only new tensors.
      expect(tf.memory().numTensors - before).toBe(2 * Object.keys(model.params).length + 1);
      model.dispose();
    });
  }
});
