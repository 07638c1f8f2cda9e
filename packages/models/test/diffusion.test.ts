import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import {
  DDIMSampler,
  DDPMSampler,
  type DenoiseFn,
  ModelInputError,
  addNoise,
  createDiT,
  createSampler,
  cosineSchedule,
  linearSchedule,
  type NoiseSchedule,
  sample,
  spacedTimesteps,
  withGuidance,
} from '../src/index.js';

await tf.setBackend('cpu');

const lin = linearSchedule();

function moments(a: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - mean) ** 2;
  return { mean, variance: v / a.length };
}

describe('schedules', () => {
  it('linear: β from 1e-4 to 0.02 and hand-checked ᾱ', () => {
    expect(lin.betas[0]).toBe(1e-4);
    expect(lin.betas[999]).toBeCloseTo(0.02, 15);
    expect(lin.betas[1]).toBeCloseTo(1e-4 + 0.0199 / 999, 15);
    expect(lin.alphasCumprod[0]).toBeCloseTo(1 - 1e-4, 15);
    expect(lin.alphasCumprod[1]).toBeCloseTo((1 - 1e-4) * (1 - 1e-4 - 0.0199 / 999), 15);
    // log ᾱ_T = Σ log(1 − β) ≈ −Σβ − Σβ²/2 − Σβ³/3 with Σβ = 10.05 (DDPM's ᾱ_T ≈ 4.04e−5)
    expect(lin.alphasCumprod[999]).toBeGreaterThan(4.03e-5);
    expect(lin.alphasCumprod[999]).toBeLessThan(4.04e-5);
    expect(lin.alphasCumprodPrev[0]).toBe(1);
    expect(lin.posteriorVariance[0]).toBe(0);
    expect(lin.posteriorLogVarianceClipped[0]).toBe(Math.log(lin.posteriorVariance[1]!));
  });

  it('cosine: ᾱ_t = f(t+1)/f(0) where unclipped, last β clipped at 0.999', () => {
    const s = cosineSchedule(1000);
    const f = (u: number) => Math.cos(((u / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (const t of [0, 1, 250, 500, 900]) expect(s.alphasCumprod[t]! / (f(t + 1) / f(0))).toBeCloseTo(1, 10);
    expect(s.betas[999]).toBe(0.999);
  });

  it('addNoise: exact per-example formula and the right statistics', async () => {
    const x0 = tf.fill([2, 40, 40, 3], 2);
    const noise = new Rng(1).normalTensor([2, 40, 40, 3]);
    const t = [10, 700];
    const xt = addNoise(lin, x0, noise, t);
    const xv = await xt.data();
    const nv = await noise.data();
    const per = 40 * 40 * 3;
    for (let b = 0; b < 2; b++) {
      const ac = lin.alphasCumprod[t[b]!]!;
      for (const i of [0, 17, per - 1]) {
        expect(xv[b * per + i]).toBeCloseTo(Math.sqrt(ac) * 2 + Math.sqrt(1 - ac) * nv[b * per + i]!, 5);
      }
      const m = moments(xv.subarray(b * per, (b + 1) * per));
      expect(m.mean).toBeCloseTo(Math.sqrt(ac) * 2, 1);
      expect(m.variance / (1 - ac)).toBeGreaterThan(0.93);
      expect(m.variance / (1 - ac)).toBeLessThan(1.07);
    }
    expect(() => addNoise(lin, x0, noise, [10])).toThrow(ModelInputError);
    expect(() => addNoise(lin, x0, noise, [10, 1000])).toThrow(/t\[1\] = 1000 must be an integer in \[0, 1000\)/);
  });
});

describe('DDPM posterior', () => {
  it('mean and variance equal the Bayes posterior q(x_{t−1} | x_t, x_0) in float64', async () => {
    const sampler = new DDPMSampler(lin);
    const x0 = 0.7;
    const eps = -1.3;
    for (const t of [1, 50, 999]) {
      const ac = lin.alphasCumprod[t]!;
      const acPrev = lin.alphasCumprod[t - 1]!;
      const beta = lin.betas[t]!;
      const xt = Math.sqrt(ac) * x0 + Math.sqrt(1 - ac) * eps;
      // x_{t−1} ~ N(√ᾱ_{t−1} x0, 1−ᾱ_{t−1}); x_t | x_{t−1} ~ N(√(1−β) x_{t−1}, β): product of Gaussians.
      const variance = 1 / (1 / (1 - acPrev) + (1 - beta) / beta);
      const mean = variance * ((Math.sqrt(acPrev) * x0) / (1 - acPrev) + (Math.sqrt(1 - beta) * xt) / beta);
      const { mean: m, logVariance } = sampler.posterior(tf.fill([1, 1, 1, 1], eps) as tf.Tensor4D, t, tf.fill([1, 1, 1, 1], xt) as tf.Tensor4D);
      expect((await m.data())[0]! / mean).toBeCloseTo(1, 4);
      expect(Math.exp((await logVariance.data())[0]!) / variance).toBeCloseTo(1, 4);
    }
  });

  it('learned variance interpolates log β̃_t (v = −1) to log β_t (v = +1)', async () => {
    const sampler = new DDPMSampler(lin);
    const out = tf.concat([tf.zeros([2, 1, 1, 1]), tf.tensor4d([-1, 1], [2, 1, 1, 1])], 3) as tf.Tensor4D;
    const { logVariance } = sampler.posterior(out, 100, tf.zeros([2, 1, 1, 1]) as tf.Tensor4D);
    const lv = await logVariance.data();
    expect(lv[0]).toBeCloseTo(Math.log(lin.posteriorVariance[100]!), 4);
    expect(lv[1]).toBeCloseTo(Math.log(lin.betas[100]!), 4);
  });
});

/** ε̂ of an oracle that knows x0: the exact noise that produced x_t. */
function oracle(x0: tf.Tensor4D, schedule = lin): DenoiseFn {
  return (x, t) =>
    tf.tidy(() => {
      const tv = t.dataSync();
      const ac = schedule.alphasCumprod[tv[0]!]!;
      return tf.div(tf.sub(x, tf.mul(x0, Math.sqrt(ac))), Math.sqrt(1 - ac)) as tf.Tensor4D;
    });
}

/** Optimal ε̂ for data x0 ~ N(μ, s²): E[ε | x_t] = √(1−ᾱ)(x − √ᾱ μ)/(ᾱ s² + 1 − ᾱ). */
function gaussianOptimal(mu: number, s2: number): DenoiseFn {
  return (x, t) =>
    tf.tidy(() => {
      const ac = lin.alphasCumprod[t.dataSync()[0]!]!;
      return tf.mul(tf.sub(x, Math.sqrt(ac) * mu), Math.sqrt(1 - ac) / (ac * s2 + 1 - ac)) as tf.Tensor4D;
    });
}

describe('samplers', () => {
  it('spaced timesteps cover both ends evenly', () => {
    expect(spacedTimesteps(1000, 4)).toEqual([0, 333, 666, 999]);
    expect(() => spacedTimesteps(1000, 1)).toThrow(/steps must be an integer in \[2, 1000\]/);
  });

  it('DDIM (η = 0) with the true noise recovers x0 exactly and is deterministic', async () => {
    const x0 = new Rng(3).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const opts = { shape: [2, 4, 4, 1] as [number, number, number, number], labels: [0, 1] };
    const a = sample(oracle(x0), new DDIMSampler(lin, { steps: 20 }), { ...opts, rng: new Rng(1) });
    expect(tf.memory().numTensors).toBe(before + 1);
    const av = await a.data();
    const xv = await x0.data();
    av.forEach((v, i) => expect(v).toBeCloseTo(xv[i]!, 4));
    const noise = new Rng(1).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const b = sample(oracle(x0), new DDIMSampler(lin, { steps: 20 }), { ...opts, rng: new Rng(99), noise });
    expect(await b.data()).toEqual(av);
  });

  /**
   * For Gaussian data and the optimal ε̂ every sampler step is affine in x plus Gaussian noise, so the
   * law of the output is N(m, v) with m, v propagated exactly in float64 — the discretisation error of
   * a few-step sampler included. Each step: x' = A·x + B + σ·z.
   */
  function propagate(ts: number[], eta: number | 'ddpm', mu: number, s2: number) {
    let m = 0;
    let v = 1;
    ts.forEach((t, i) => {
      const a = lin.alphasCumprod[t]!;
      const ap = i + 1 < ts.length ? lin.alphasCumprod[ts[i + 1]!]! : 1;
      const k = Math.sqrt(1 - a) / (a * s2 + 1 - a); // ε̂ = k(x − √a μ)
      // x̂0 = (x − √(1−a) ε̂)/√a = P x + Q
      const P = (1 - Math.sqrt(1 - a) * k) / Math.sqrt(a);
      const Q = k * Math.sqrt(1 - a) * mu;
      let A: number, B: number, sig2: number;
      if (eta === 'ddpm') {
        const beta = 1 - a / ap;
        const c1 = (beta * Math.sqrt(ap)) / (1 - a);
        const c2 = ((1 - ap) * Math.sqrt(1 - beta)) / (1 - a);
        A = c1 * P + c2;
        B = c1 * Q;
        sig2 = i + 1 < ts.length ? (beta * (1 - ap)) / (1 - a) : 0;
      } else {
        sig2 = eta * eta * ((1 - ap) / (1 - a)) * (1 - a / ap);
        const d = Math.sqrt(1 - ap - sig2);
        A = Math.sqrt(ap) * P + d * k;
        B = Math.sqrt(ap) * Q - d * k * Math.sqrt(a) * mu;
      }
      m = A * m + B;
      v = A * A * v + sig2;
    });
    return { mean: m, variance: v };
  }

  const desc = (n: number) => spacedTimesteps(1000, n).reverse();
  for (const [name, make, ts, eta] of [
    ['DDPM, 1000 steps', () => new DDPMSampler(lin), desc(1000), 'ddpm'],
    ['DDPM, respaced to 100 steps', () => new DDPMSampler(lin, { steps: 100 }), desc(100), 'ddpm'],
    ['DDIM η=0, 50 steps', () => new DDIMSampler(lin, { steps: 50 }), desc(50), 0],
    ['DDIM η=1, 50 steps', () => new DDIMSampler(lin, { steps: 50, eta: 1 }), desc(50), 1],
  ] as const) {
    it(`${name}: with the optimal ε̂ for Gaussian data, output law as propagated exactly`, async () => {
      const mu = 1.5;
      const s2 = 0.25;
      const n = 8000;
      const want = propagate([...ts], eta, mu, s2);
      const x = sample(gaussianOptimal(mu, s2), make(), { shape: [n, 1, 1, 1], labels: new Int32Array(n), rng: new Rng(11) });
      const got = moments(await x.data());
      // ~4 standard errors: mean SE = √(v/n) ≈ 0.0056, variance-ratio SE = √(2/n) ≈ 0.016.
      expect(Math.abs(got.mean - want.mean)).toBeLessThan(0.025);
      expect(Math.abs(got.variance / want.variance - 1)).toBeLessThan(0.065);
      // and the sampler targets the data law: within discretisation error of N(μ, s²)
      expect(Math.abs(want.mean - mu)).toBeLessThan(0.01);
      expect(want.variance / s2).toBeGreaterThan(ts.length === 1000 ? 0.97 : 0.75);
      x.dispose();
    });
  }

  it('exact propagation converges to the data law as DDIM steps grow', () => {
    const v = (n: number) => propagate(desc(n), 0, 1.5, 0.25).variance / 0.25;
    expect(v(50)).toBeLessThan(v(250));
    expect(v(1000)).toBeGreaterThan(0.99);
  });

  it('classifier-free guidance: ε = ε_u + s(ε_c − ε_u), variance channels from the conditional half', async () => {
    // ε̂ = label value everywhere; variance channel = 10 + label.
    const model: DenoiseFn = (x, _t, y) =>
      tf.tidy(() => {
        const lab = tf.reshape(tf.cast(y, 'float32'), [-1, 1, 1, 1]);
        return tf.concat([tf.mul(tf.onesLike(x), lab), tf.add(tf.mul(tf.onesLike(x), lab), 10)], 3) as tf.Tensor4D;
      });
    const guided = withGuidance(model, 4, 7);
    const out = guided(tf.zeros([2, 2, 2, 1]) as tf.Tensor4D, tf.tensor1d([5, 5]), tf.tensor1d([1, 3], 'int32'));
    expect(out.shape).toEqual([2, 2, 2, 2]);
    const v = await out.array();
    expect(v[0]![0]![0]).toEqual([7 + 4 * (1 - 7), 11]);
    expect(v[1]![1]![1]).toEqual([7 + 4 * (3 - 7), 13]);
    expect(() =>
      sample(model, new DDIMSampler(lin, { steps: 2 }), { shape: [1, 1, 1, 1], labels: [0], rng: new Rng(0), guidanceScale: 2 }),
    ).toThrow(/needs nullClass/);
  });

  it('samples a learned-sigma DiT with guidance through DDPM and DDIM without leaking tensors', () => {
    const dit = createDiT(
      { inputSize: 8, patchSize: 4, inChannels: 1, hiddenSize: 8, depth: 1, numHeads: 2, mlpRatio: 2,
        numClasses: 3, classDropoutProb: 0.1, learnSigma: true, block: 'adaLN' },
      new Rng(0),
    );
    const model: DenoiseFn = (x, t, y) => dit.forward(x, t, y);
    for (const sampler of [new DDPMSampler(lin, { steps: 4 }), new DDIMSampler(lin, { steps: 4, eta: 0.5 })]) {
      const before = tf.memory().numTensors;
      const x = sample(model, sampler, { shape: [2, 8, 8, 1], labels: [0, 2], rng: new Rng(1), guidanceScale: 3, nullClass: 3 });
      expect(x.shape).toEqual([2, 8, 8, 1]);
      expect(Array.from(x.dataSync()).every(Number.isFinite)).toBe(true);
      x.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    dit.dispose();
  });

  it('rejects a model output with the wrong channel count', () => {
    const sampler = new DDPMSampler(lin);
    expect(() => sampler.step(() => tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, 0, tf.zeros([1, 2, 2, 1]) as tf.Tensor4D, new Rng(0))).toThrow(
      /3 channels; expected 1/,
    );
  });
});

describe('v-prediction', () => {
  /**
   * An ε̂ model as the v̂ model with the same x̂_0: v̂ = √ᾱ·ε̂ − √(1−ᾱ)·x̂_0, x̂_0 = (x − √(1−ᾱ)·ε̂)/√ᾱ, at the base
   * schedule's ᾱ of the network timestep it is called with (so a respaced sampler must convert at that ᾱ too).
   */
  function asV(eps: DenoiseFn, schedule: NoiseSchedule): DenoiseFn {
    return (x, t, y) =>
      tf.tidy(() => {
        const ac = schedule.alphasCumprod[t.dataSync()[0]!]!;
        const e = eps(x, t, y);
        const x0 = tf.div(tf.sub(x, tf.mul(e, Math.sqrt(1 - ac))), Math.sqrt(ac));
        return tf.sub(tf.mul(e, Math.sqrt(ac)), tf.mul(x0, Math.sqrt(1 - ac))) as tf.Tensor4D;
      });
  }

  const cos = cosineSchedule(1000);
  const x0 = new Rng(7).normalTensor([3, 2, 2, 1]) as tf.Tensor4D;
  for (const [name, schedule, eps, config] of [
    ['DDIM η=0, 20 steps, Gaussian-optimal ε̂', lin, gaussianOptimal(1.5, 0.25), { kind: 'ddim', steps: 20 }],
    ['DDIM η=0.5, 10 steps, clipped, cosine', cos, oracle(x0, cos), { kind: 'ddim', steps: 10, eta: 0.5, clipDenoised: true }],
    ['DDPM, respaced to 50 steps, Gaussian-optimal ε̂', lin, gaussianOptimal(1.5, 0.25), { kind: 'ddpm', steps: 50 }],
    ['DDPM, 1000 steps, cosine', cos, oracle(x0, cos), { kind: 'ddpm', steps: 1000 }],
  ] as const) {
    it(`${name}: the v-model samples as the equivalent ε-model`, async () => {
      const run = (model: DenoiseFn, prediction: 'epsilon' | 'v') =>
        sample(model, createSampler({ kind: 'ddpm', schedule, prediction }, config), { shape: [3, 2, 2, 1], labels: [0, 1, 2], rng: new Rng(2) });
      const a = run(eps, 'epsilon');
      const b = run(asV(eps, schedule), 'v');
      const av = await a.data();
      const bv = await b.data();
      // float32 round-off only (the two conversions round differently; seen ≤ 4e-7): a wrong ᾱ is off by O(1)
      av.forEach((v, i) => expect(Math.abs(v - bv[i]!)).toBeLessThan(1e-5));
      tf.dispose([a, b]);
    });
  }

  it('refuses variance channels with v-prediction', () => {
    const twoC: DenoiseFn = (x) => tf.concat([x, x], 3) as tf.Tensor4D;
    for (const kind of ['ddpm', 'ddim'] as const) {
      const sampler = createSampler({ kind: 'ddpm', schedule: lin, prediction: 'v' }, { kind, steps: 4 });
      expect(() => sample(twoC, sampler, { shape: [1, 2, 2, 1], labels: [0], rng: new Rng(0) })).toThrow(ModelInputError);
      expect(() => sample(twoC, sampler, { shape: [1, 2, 2, 1], labels: [0], rng: new Rng(0) })).toThrow(
        /a v-prediction model outputs 1 channels, got 2; learned variances \(2 channels\) go with ε-prediction only/,
      );
    }
  });
});
