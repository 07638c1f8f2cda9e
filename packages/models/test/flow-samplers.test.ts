import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import {
  FLOW_TIME_SCALE,
  FlowSampler,
  ModelConfigError,
  ModelInputError,
  createDiT,
  createSampler,
  sample,
  type DenoiseFn,
  type FlowSamplerKind,
  type SamplerConfig,
} from '../src/index.js';

await tf.setBackend('cpu');

const flow = { kind: 'flow' } as const;

/**
 * Data x ~ N(μ, σ²) per element, x_t = (1−t)x + tε: x_t ~ N((1−t)μ, V_t) with V_t = (1−t)²σ² + t²,
 * Cov(ε, x_t) = t and Cov(x, x_t) = (1−t)σ², so the exact velocity E[ε − x | x_t] is
 * −μ + k(t)·(x_t − (1−t)μ) with k(t) = (t − (1−t)σ²)/V_t. Returned as v = k·x + c.
 */
function gaussianVelocity(mu: number, s2: number, t: number): { k: number; c: number } {
  const v = (1 - t) ** 2 * s2 + t * t;
  const k = (t - (1 - t) * s2) / v;
  return { k, c: -mu - k * (1 - t) * mu };
}

/** The exact velocity field as a network: one Gaussian (μ, σ²) per label; the network time is FLOW_TIME_SCALE·t. */
function gaussianField(byLabel: readonly (readonly [number, number])[]): DenoiseFn {
  return (x, t, y) =>
    tf.tidy(() => {
      if (byLabel.length === 1) {
        // One law: scalar coefficients, cheap for the 20k-example moment tests.
        const { k, c } = gaussianVelocity(byLabel[0]![0], byLabel[0]![1], t.dataSync()[0]! / FLOW_TIME_SCALE);
        return tf.add(tf.mul(x, k), c) as tf.Tensor4D;
      }
      const tt = t.dataSync();
      const labels = y.dataSync();
      const coef = Array.from(labels, (l, i) => gaussianVelocity(byLabel[l]![0], byLabel[l]![1], tt[i]! / FLOW_TIME_SCALE));
      const b = labels.length;
      const k = tf.tensor4d(coef.map((q) => q.k), [b, 1, 1, 1]);
      const c = tf.tensor4d(coef.map((q) => q.c), [b, 1, 1, 1]);
      return tf.add(tf.mul(x, k), c) as tf.Tensor4D;
    });
}

function moments(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

const MU = 1.5;
const S2 = 0.25;

describe('flow samplers on Gaussian data with the exact velocity', () => {
  const n = 20_000;
  // 4 standard errors of the sample mean (σ/√n = 0.0035) and of the sample std (σ/√(2n) = 0.0025), plus the
  // O(1/N) discretisation bias of the std, which propagating the (affine) steps' law in float64 puts at
  // ≤ 1.5e-3 for Euler at N = 500 and ≤ 1.0e-3 for the SDE at N = 200; the mean has no bias (m_t = (1−t)μ is
  // linear in t, so every step follows it exactly).
  const meanTol = 4 * Math.sqrt(S2 / n);
  const stdTol = 4 * Math.sqrt(S2 / (2 * n)) + 0.002;

  for (const [kind, steps] of [['euler', 500], ['sde', 200]] as const) {
    it(`${kind}, ${steps} steps: maps N(0, 1) to N(μ, σ²)`, async () => {
      const x = sample(gaussianField([[MU, S2]]), createSampler(flow, { kind, steps }), { shape: [n, 1, 1, 1], labels: new Int32Array(n), rng: new Rng(3) });
      const m = moments(await x.data());
      x.dispose();
      expect(Math.abs(m.mean - MU)).toBeLessThan(meanTol);
      expect(Math.abs(m.std - Math.sqrt(S2))).toBeLessThan(stdTol);
    });
  }

  /**
   * The ODE's exact solution: x_t = (1−t)μ + √V_t·z solves dx/dt = −μ + k(t)(x − (1−t)μ) (d√V_t/dt·z =
   * V_t'/(2V_t)·(x − m_t) and V_t'/2 = t − (1−t)σ²), so x_1 = z maps to x_0 = μ + σ·z.
   */
  const z = [-2.5, -1, -0.3, 0, 0.5, 1.2, 2.5];
  function mapError(kind: FlowSamplerKind, steps: number): number {
    const noise = tf.tensor4d(z, [z.length, 1, 1, 1]);
    const x = sample(gaussianField([[MU, S2]]), createSampler(flow, { kind, steps }), { shape: [z.length, 1, 1, 1], labels: new Int32Array(z.length), rng: new Rng(0), noise });
    const got = x.dataSync();
    tf.dispose([x, noise]);
    return Math.max(...z.map((zi, i) => Math.abs(got[i]! - (MU + Math.sqrt(S2) * zi))));
  }

  it('Euler is first order, Heun second order, and Heun wins at equal model evaluations', () => {
    // N intervals: Euler takes N evaluations, Heun 2N − 1.
    const euler = [8, 16, 32].map((nn) => mapError('euler', nn));
    const heun = [8, 16, 32].map((nn) => mapError('heun', 2 * nn - 1));
    for (let i = 0; i < 2; i++) {
      expect(euler[i]! / euler[i + 1]!).toBeGreaterThan(1.7); // halving h halves a first-order error
      expect(euler[i]! / euler[i + 1]!).toBeLessThan(2.3);
      expect(heun[i]! / heun[i + 1]!).toBeGreaterThan(3.4); // and quarters a second-order one
      expect(heun[i]! / heun[i + 1]!).toBeLessThan(4.8);
    }
    expect(heun[0]!).toBeLessThan(euler[0]! / 4);
    expect(heun[0]!).toBeLessThan(mapError('euler', 15) / 2);
  });
});

describe('flow sampler steps, evaluations and guidance', () => {
  /** Counts the model's calls and the examples it sees. */
  function counting(fn: DenoiseFn) {
    const seen = { calls: 0, times: [] as number[] };
    const model: DenoiseFn = (x, t, y) => {
      seen.calls++;
      seen.times.push(t.dataSync()[0]!);
      return fn(x, t, y);
    };
    return { model, seen };
  }

  it('`steps` counts model evaluations: Euler and SDE one per step, Heun at most `steps` (2 per step but the last)', () => {
    // Network times (FLOW_TIME_SCALE·t) of the model's calls: the grid points, the Heun corrector at the next one, never t = 0.
    for (const [kind, steps, times] of [
      ['euler', 4, [1, 0.75, 0.5, 0.25]],
      ['sde', 4, [1, 0.75, 0.5, 0.25]],
      ['heun', 5, [1, 2 / 3, 2 / 3, 1 / 3, 1 / 3]],
      ['heun', 6, [1, 2 / 3, 2 / 3, 1 / 3, 1 / 3]],
      ['heun', 1, [1]],
    ] as const) {
      const { model, seen } = counting(gaussianField([[MU, S2]]));
      const progress: [number, number][] = [];
      const x = sample(model, createSampler(flow, { kind, steps }), {
        shape: [2, 1, 1, 1], labels: [0, 0], rng: new Rng(1), onStep: (d, t) => progress.push([d, t]),
      });
      x.dispose();
      expect(seen.calls).toBe(times.length);
      expect(progress.at(-1)).toEqual([times.length, times.length]);
      seen.times.forEach((tt, i) => expect(tt).toBeCloseTo(FLOW_TIME_SCALE * times[i]!, 3));
    }
  });

  for (const kind of ['euler', 'heun', 'sde'] as const) {
    it(`${kind}: guidance scale s gives v̂ = v̂_u + s·(v̂_c − v̂_u)`, async () => {
      // Label 0 and 1: two data laws; label 2 (the null class): a third, as an unconditional model would learn.
      const laws = [[1.5, 0.25], [-1, 0.5], [0.2, 1.5]] as const;
      const s = 2.5;
      const combined: DenoiseFn = (x, t, y) =>
        tf.tidy(() => {
          const tt = t.dataSync()[0]! / FLOW_TIME_SCALE;
          const u = gaussianVelocity(laws[2][0], laws[2][1], tt);
          const coef = Array.from(y.dataSync(), (l) => {
            const c = gaussianVelocity(laws[l]![0], laws[l]![1], tt);
            return { k: u.k + s * (c.k - u.k), c: u.c + s * (c.c - u.c) };
          });
          const b = coef.length;
          return tf.add(tf.mul(x, tf.tensor4d(coef.map((q) => q.k), [b, 1, 1, 1])), tf.tensor4d(coef.map((q) => q.c), [b, 1, 1, 1])) as tf.Tensor4D;
        });
      const opts = { shape: [4, 2, 2, 1] as [number, number, number, number], labels: [0, 1, 1, 0] };
      const { model, seen } = counting(gaussianField(laws));
      const guided = sample(model, createSampler(flow, { kind, steps: 7, guidanceScale: s }), { ...opts, rng: new Rng(5), nullClass: 2 });
      const reference = sample(combined, createSampler(flow, { kind, steps: 7 }), { ...opts, rng: new Rng(5) });
      const g = await guided.data();
      const r = await reference.data();
      g.forEach((v, i) => expect(v).toBeCloseTo(r[i]!, 4));
      expect(seen.calls).toBe(createSampler(flow, { kind, steps: 7 }).evaluations); // one call on the doubled batch
      tf.dispose([guided, reference]);
    });
  }

  it('samples a DiT with guidance through every flow sampler without leaking tensors', () => {
    const dit = createDiT(
      { inputSize: 8, patchSize: 4, inChannels: 1, hiddenSize: 8, depth: 1, numHeads: 2, mlpRatio: 2,
        numClasses: 3, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero' },
      new Rng(0),
    );
    const model: DenoiseFn = (x, t, y) => dit.forward(x, t, y);
    for (const kind of ['euler', 'heun', 'sde'] as const) {
      const before = tf.memory().numTensors;
      const x = sample(model, createSampler(flow, { kind, steps: 3, guidanceScale: 3 }), { shape: [2, 8, 8, 1], labels: [0, 2], rng: new Rng(1), nullClass: 3 });
      expect(x.shape).toEqual([2, 8, 8, 1]);
      expect(Array.from(x.dataSync()).every(Number.isFinite)).toBe(true);
      x.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    dit.dispose();
  });

  it('names the bad setting', () => {
    const ddpmKind = { kind: 'ddim', steps: 4 } as const;
    expect(() => createSampler(flow, ddpmKind)).toThrow(ModelConfigError);
    expect(() => createSampler(flow, ddpmKind)).toThrow(/kind must be one of euler, heun, sde, got 'ddim' \('ddim' samples the ddpm process; this model's is flow\)/);
    expect(() => createSampler(flow, { kind: 'rk4', steps: 4 } as unknown as SamplerConfig)).toThrow(/one of euler, heun, sde, got 'rk4'$/);
    expect(() => createSampler(flow, { kind: 'euler', steps: 0 })).toThrow(/steps must be an integer ≥ 1, got 0/);
    expect(() => createSampler(flow, { kind: 'heun', steps: 2.5 })).toThrow(/steps must be an integer ≥ 1, got 2.5/);
    expect(() => createSampler(flow, { kind: 'sde', steps: 4, guidanceScale: -0.5 })).toThrow(/guidanceScale must be a finite number ≥ 0/);
    expect(() => createSampler(flow, { kind: 'sde', steps: 4, eta: 1 })).toThrow(/eta applies to ddim only; the stochastic flow sampler is kind 'sde'/);
    expect(() => createSampler(flow, { kind: 'euler', steps: 4, clipDenoised: true })).toThrow(/clipDenoised applies to the ddpm process only/);
    expect(createSampler(flow, { kind: 'euler', steps: 4, clipDenoised: false }).config).toEqual({ kind: 'euler', steps: 4, guidanceScale: 1 });
    const twoC: DenoiseFn = (x) => tf.concat([x, x], 3) as tf.Tensor4D;
    expect(() => sample(twoC, new FlowSampler('euler', { steps: 2 }), { shape: [1, 2, 2, 1], labels: [0], rng: new Rng(0) })).toThrow(ModelInputError);
    expect(() => sample(twoC, new FlowSampler('euler', { steps: 2 }), { shape: [1, 2, 2, 1], labels: [0], rng: new Rng(0) })).toThrow(
      /a flow model outputs the velocity \(1 channels\), got 2/,
    );
  });
});
