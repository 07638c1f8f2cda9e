// The rectified-flow loss against closed forms: the exact velocity field of Gaussian data reaches the
// irreducible loss and nothing beats it; one draw equals a float64 recomputation from the same Rng
// numbers; logit-normal times have the asked moments; the direction term is 0 / 1 / 2 where it must be.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { type DenoiseFn, FLOW_TIME_SCALE } from '@difflab/models';
import { COSINE_EPS, LossInputError, cosinePerExample, flowLossTerms, sampleFlowTimes, velocityDirectionLoss } from '../src/index.js';

await tf.setBackend('cpu');

const scalar = (t: tf.Tensor | undefined) => t!.dataSync()[0]!;

/** ∫_0^1 f(t) dt by Simpson's rule on `n` (even) intervals, in float64. */
function integrate(f: (t: number) => number, n = 100_000): number {
  const h = 1 / n;
  let s = f(0) + f(1);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return (s * h) / 3;
}

/*
 * Gaussian data x ~ N(μ, σ²) elementwise, ε ~ N(0, 1), x_t = (1 − t)·x + t·ε, target u = ε − x.
 * (x_t, u) is jointly Gaussian: E[x_t] = (1 − t)μ, V(t) = Var(x_t) = (1 − t)²σ² + t², E[u] = −μ,
 * Var(u) = 1 + σ², Cov(u, x_t) = t − (1 − t)σ². Hence the exact field is linear in x_t,
 *   v*(x_t, t) = E[u | x_t] = −μ + k(t)·(x_t − (1 − t)μ),  k(t) = (t − (1 − t)σ²) / V(t),
 * and the conditional variance is Var(u) − Cov²/V = σ² / V(t) (the numerator collapses to σ²).
 * The flow MSE of v* over t ~ U(0, 1) is E_t[σ² / V(t)], the loss no field can beat.
 */
const MU = 0.3;
const SIGMA = 0.5;
const V = (t: number) => (1 - t) ** 2 * SIGMA ** 2 + t ** 2;
const k = (t: number) => (t - (1 - t) * SIGMA ** 2) / V(t);
const condVar = (t: number) => SIGMA ** 2 / V(t);

/** Per-example tensors [B, 1, 1, 1] of a field: t, k(t) and the mean (1 − t)μ of x_t. */
interface FieldCoefficients {
  t: tf.Tensor;
  k: tf.Tensor;
  mean: tf.Tensor;
}

/** A DenoiseFn computing v*(x_t, t) + perturbation, reading t back from the fed FLOW_TIME_SCALE·t. */
function gaussianField(perturb: (c: FieldCoefficients, x: tf.Tensor, vStar: tf.Tensor) => tf.Tensor = (_c, _x, v) => v): DenoiseFn {
  return (xt, ts) =>
    tf.tidy(() => {
      const times = Array.from(ts.dataSync(), (s) => s / FLOW_TIME_SCALE);
      const col = (f: (t: number) => number) => tf.tensor4d(times.map(f), [times.length, 1, 1, 1]);
      const c = { t: col((t) => t), k: col(k), mean: col((t) => (1 - t) * MU) };
      const vStar = tf.add(-MU, tf.mul(c.k, tf.sub(xt, c.mean)));
      return perturb(c, xt, vStar) as tf.Tensor4D;
    });
}

function gaussianBatch(seed: number, b: number, shape: [number, number, number]): tf.Tensor4D {
  const r = new Rng(seed);
  return tf.tensor4d(r.normalArray(b * shape[0] * shape[1] * shape[2], MU, SIGMA), [b, ...shape]);
}

describe('rectified-flow loss on Gaussian data', () => {
  const B = 4096;
  const E = 16; // elements per example
  const x0 = gaussianBatch(1, B, [4, 4, 1]);
  const y = tf.zeros([B], 'int32') as tf.Tensor1D;
  const lossOf = (field: DenoiseFn) => scalar(flowLossTerms(field, x0, y, new Rng(77)).mse);

  it('the integrator is right where the integral is known: σ = 1 gives ∫ dt / (2t² − 2t + 1) = π/2', () => {
    expect(integrate((t) => 1 / ((1 - t) ** 2 + t ** 2))).toBeCloseTo(Math.PI / 2, 10);
  });

  it('the exact field v* reaches the irreducible loss E_t[σ²/V(t)] within Monte-Carlo error', () => {
    const irreducible = integrate(condVar);
    // Per example the mean of E squared residuals r ~ N(0, c(t)): mean c(t), variance Var_t(c) + 2E[c²]/E.
    const c2 = integrate((t) => condVar(t) ** 2);
    const se = Math.sqrt((c2 - irreducible ** 2 + (2 * c2) / E) / B);
    const loss = lossOf(gaussianField());
    expect(Math.abs(loss - irreducible)).toBeLessThan(4 * se);
    expect(se).toBeLessThan(0.01 * irreducible); // the check is tight
  });

  it('any perturbed field has a larger loss, by about E[δ²]', () => {
    const oracle = lossOf(gaussianField());
    const perturbations: { name: string; field: DenoiseFn; expected: number }[] = [
      { name: 'shift 0.1', field: gaussianField((_c, _x, v) => tf.add(v, 0.1)), expected: 0.01 },
      {
        name: 'slope × 1.1',
        field: gaussianField((c, x, v) => tf.add(v, tf.mul(tf.mul(0.1, c.k), tf.sub(x, c.mean)))),
        expected: integrate((t) => 0.01 * k(t) ** 2 * V(t)),
      },
      { name: 'time-dependent shift', field: gaussianField((c, _x, v) => tf.add(v, tf.mul(0.2, tf.sub(c.t, 0.5)))), expected: 0.04 / 12 },
      { name: 'shrunk to 0.9·v*', field: gaussianField((_c, _x, v) => tf.mul(v, 0.9)), expected: NaN },
    ];
    for (const p of perturbations) {
      const loss = lossOf(p.field);
      expect(loss, p.name).toBeGreaterThan(oracle);
      if (!Number.isNaN(p.expected)) expect((loss - oracle) / p.expected, p.name).toBeCloseTo(1, 0);
    }
  });
});

describe('flowLossTerms draws', () => {
  // A small nonlinear model written twice: in tf (what the loss calls) and in float64 JS.
  const [a, bT, cY, d] = [0.7, 0.9, -0.05, 0.2];
  const model: DenoiseFn = (xt, ts, y) =>
    tf.tidy(() => {
      const tt = tf.reshape(tf.div(ts, FLOW_TIME_SCALE), [-1, 1, 1, 1]);
      const yy = tf.reshape(tf.cast(y, 'float32'), [-1, 1, 1, 1]);
      return tf.add(tf.add(tf.mul(a, xt), tf.mul(d, tf.square(xt))), tf.add(tf.mul(bT, tt), tf.mul(cY, yy))) as tf.Tensor4D;
    });
  const shape: [number, number, number, number] = [3, 2, 3, 2]; // odd batch: logit-normal leaves a Box–Muller spare for ε
  const per = 2 * 3 * 2;
  const xArr = new Rng(3).normalArray(3 * per, 0, 0.6);
  const labels = Int32Array.from([4, 0, 9]);

  function independent(seed: number, opts: { timeSampling: 'uniform' | 'logit-normal'; timeMean?: number; timeStd?: number }) {
    const r = new Rng(seed);
    const t = Array.from({ length: 3 }, () =>
      opts.timeSampling === 'uniform' ? r.uniform() : 1 / (1 + Math.exp(-((opts.timeMean ?? 0) + (opts.timeStd ?? 1) * r.normal()))),
    );
    const eps = r.normalArray(3 * per); // float32, as the loss's noise tensor holds it
    let se = 0;
    let direction = 0;
    for (let i = 0; i < 3; i++) {
      const fed = Math.fround(FLOW_TIME_SCALE * t[i]!) / FLOW_TIME_SCALE;
      let dot = 0, nn = 0, vv = 0;
      for (let j = 0; j < per; j++) {
        const x = xArr[i * per + j]!;
        const e = eps[i * per + j]!;
        const xt = (1 - t[i]!) * x + t[i]! * e;
        const v = e - x;
        const vHat = a * xt + d * xt * xt + bT * fed + cY * labels[i]!;
        se += (vHat - v) ** 2;
        dot += vHat * v;
        nn += vHat * vHat;
        vv += v * v;
      }
      direction += 1 - dot / Math.sqrt(nn * vv);
    }
    return { mse: se / (3 * per), direction: direction / 3, state: r.getState() };
  }

  for (const opts of [{ timeSampling: 'uniform' as const }, { timeSampling: 'logit-normal' as const, timeMean: 0.4, timeStd: 1.3 }]) {
    it(`equals a float64 recomputation of x_t, v, mse and 1 − cos from the same draws (${opts.timeSampling})`, () => {
      const rng = new Rng(21);
      const x = tf.tensor4d(xArr, shape);
      const y = tf.tensor1d(labels, 'int32');
      const w = 0.3;
      const terms = flowLossTerms(model, x, y, rng, { ...opts, velocityDirectionWeight: w });
      const ref = independent(21, opts);
      expect(scalar(terms.mse) / ref.mse).toBeCloseTo(1, 5);
      expect(scalar(terms.direction) / ref.direction).toBeCloseTo(1, 4);
      expect(scalar(terms.total) / (ref.mse + w * ref.direction)).toBeCloseTo(1, 5);
      expect(rng.getState()).toEqual(ref.state); // t, then ε, and nothing else
    });
  }

  it('w = 0: total is the mse and no direction term is computed', () => {
    const terms = flowLossTerms(model, tf.tensor4d(xArr, shape), tf.tensor1d(labels, 'int32'), new Rng(21));
    expect(terms.direction).toBeUndefined();
    expect(scalar(terms.total)).toBe(scalar(terms.mse));
  });

  it('refuses mismatched labels, a negative weight and a variance-channel output', () => {
    const x = tf.tensor4d(xArr, shape);
    expect(() => flowLossTerms(model, x, tf.tensor1d([1, 2], 'int32'), new Rng(0))).toThrow(LossInputError);
    expect(() => flowLossTerms(model, x, tf.tensor1d(labels, 'int32'), new Rng(0), { velocityDirectionWeight: -1 })).toThrow(/velocityDirectionWeight/);
    const doubled: DenoiseFn = (xt) => tf.concat([xt, xt], 3) as tf.Tensor4D;
    expect(() => flowLossTerms(doubled, x, tf.tensor1d(labels, 'int32'), new Rng(0))).toThrow(/must match the velocity target/);
  });
});

describe('sampleFlowTimes', () => {
  it("logit-normal: logit(t) has mean m and std s within sampling error; every t in (0, 1)", () => {
    const n = 200_000;
    const [m, s] = [0.5, 0.7];
    const t = sampleFlowTimes(new Rng(5), n, { timeSampling: 'logit-normal', timeMean: m, timeStd: s });
    expect(t.every((v) => v > 0 && v < 1)).toBe(true);
    const logits = Array.from(t, (v) => Math.log(v / (1 - v)));
    const mean = logits.reduce((acc, v) => acc + v, 0) / n;
    const std = Math.sqrt(logits.reduce((acc, v) => acc + (v - mean) ** 2, 0) / (n - 1));
    expect(Math.abs(mean - m)).toBeLessThan((4 * s) / Math.sqrt(n));
    expect(Math.abs(std - s)).toBeLessThan((4 * s) / Math.sqrt(2 * n));
  });

  it('logit-normal defaults to m = 0, s = 1; uniform is U[0, 1)', () => {
    const n = 100_000;
    const logits = Array.from(sampleFlowTimes(new Rng(6), n, { timeSampling: 'logit-normal' }), (v) => Math.log(v / (1 - v)));
    const mean = logits.reduce((acc, v) => acc + v, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(logits.reduce((acc, v) => acc + v * v, 0) / n) - 1)).toBeLessThan(4 / Math.sqrt(2 * n));
    const u = sampleFlowTimes(new Rng(6), n);
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(Math.abs(u.reduce((acc, v) => acc + v, 0) / n - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
  });

  it('refuses a non-positive std and an unknown sampling', () => {
    expect(() => sampleFlowTimes(new Rng(0), 2, { timeSampling: 'logit-normal', timeStd: 0 })).toThrow(LossInputError);
    expect(() => sampleFlowTimes(new Rng(0), 2, { timeSampling: 'beta' as 'uniform' })).toThrow(/timeSampling/);
  });
});

describe('velocity-direction term', () => {
  const r = new Rng(8);
  const v = Array.from({ length: 4 }, () => Array.from(r.normalArray(12), Number));
  const u = Array.from(r.normalArray(12), Number);
  const dotOf = (p: number[], q: number[]) => p.reduce((s, pi, i) => s + pi * q[i]!, 0);
  const ortho = u.map((ui, i) => ui - (dotOf(u, v[2]!) / dotOf(v[2]!, v[2]!)) * v[2]![i]!); // Gram–Schmidt in float64
  const pred = [v[0]!.map((x) => 2.5 * x), v[1]!.map((x) => -x), ortho, v[3]!.map((x) => 0.1 * x)];
  const asTensor = (rows: number[][]) => tf.tensor4d(rows.flat(), [rows.length, 2, 3, 2]);

  it('is 0 for v̂ = c·v (c > 0), 2 for v̂ = −v, 1 for v̂ ⊥ v, per example and as the batch mean', () => {
    const cos = Array.from(cosinePerExample(asTensor(pred), asTensor(v)).dataSync());
    [1, -1, 0, 1].forEach((want, i) => expect(cos[i]).toBeCloseTo(want, 5));
    expect(scalar(velocityDirectionLoss(asTensor(pred), asTensor(v)))).toBeCloseTo((0 + 2 + 1 + 0) / 4, 5);
    for (const [i, want] of [[0, 0], [1, 2], [2, 1], [3, 0]] as const) {
      expect(scalar(velocityDirectionLoss(asTensor([pred[i]!]), asTensor([v[i]!])))).toBeCloseTo(want, 5);
    }
  });

  it('is 1 with a finite gradient at v̂ = 0 (the zero-initialised final layer), thanks to COSINE_EPS', () => {
    expect(COSINE_EPS).toBeLessThan(1e-8);
    const target = asTensor([v[0]!]);
    const zero = tf.zeros([1, 2, 3, 2]);
    expect(scalar(velocityDirectionLoss(zero, target))).toBeCloseTo(1, 6);
    const g = tf.grad((p: tf.Tensor) => velocityDirectionLoss(p, target))(zero).dataSync();
    expect(g.every(Number.isFinite)).toBe(true);
    const field: DenoiseFn = (xt) => tf.mul(xt, 0) as tf.Tensor4D;
    const terms = flowLossTerms(field, target as tf.Tensor4D, tf.tensor1d([0], 'int32'), new Rng(1), { velocityDirectionWeight: 1 });
    expect(Number.isFinite(scalar(terms.total))).toBe(true);
  });
});
