import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm, Ema, expectNoTensorLeaks, initBackend, OptimizerStateError, TensorLeakError, withLeakGuard } from '../src/index.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu', log: () => {} });
});

/** torch.optim.AdamW's documented update, in float64, one parameter vector. */
function adamwReference(p0: number[], grads: number[][], lrs: number[], o: { b1: number; b2: number; eps: number; wd: number }) {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k]!;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - lr * o.wd);
      m[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! * g[i]!;
      const mHat = m[i]! / (1 - o.b1 ** t);
      const vHat = v[i]! / (1 - o.b2 ** t);
      p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
  });
  return p;
}

const vars: tf.Variable[] = [];
function variable(values: number[]): tf.Variable {
  const v = tf.variable(tf.tensor1d(values));
  vars.push(v);
  return v;
}

function expectClose(got: ArrayLike<number>, want: number[], rel: number): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(rel * Math.max(1e-3, Math.abs(want[i]!)));
}

describe('AdamW', () => {
  const grads = [
    [0.5, -1, 2, 0.001],
    [0.4, -0.2, -3, 0],
    [-0.1, 1.5, 0.3, 0.002],
    [0.2, 0.2, 0.2, -0.5],
    [1, -1, 0.5, 0.25],
  ];
  const p0 = [1, -2, 0.5, 3];

  it('matches a float64 evaluation of torch.optim.AdamW over five steps with decay and an lr schedule', async () => {
    const o = { b1: 0.8, b2: 0.95, eps: 1e-6, wd: 0.1 };
    const lrs = [0.1, 0.05, 0.05, 0.02, 0.01];
    const w = variable(p0);
    const frozen = variable(p0);
    const opt = new AdamW({ lr: 0.1, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, decay: (n) => n !== 'frozen' });
    // The only new tensors are the optimizer's state: two moments per parameter.
    await withLeakGuard(
      () => {
        grads.forEach((g, k) => {
          const gw = tf.tensor1d(g);
          opt.step({ w, frozen }, { w: gw, frozen: gw }, lrs[k]);
          gw.dispose();
        });
      },
      { allow: 4 },
    );
    expectClose(w.dataSync(), adamwReference(p0, grads, lrs, o), 2e-6);
    expectClose(frozen.dataSync(), adamwReference(p0, grads, lrs, { ...o, wd: 0 }), 2e-6);
    expect(opt.getState().step).toBe(5);
    opt.dispose();
  });

  it('first step moves each weight by lr·g/(|g|+eps) (the bias-corrected moments equal g and g²)', () => {
    const w = variable([1, 1, 1]);
    const opt = new AdamW({ lr: 0.01, eps: 1e-8 });
    const g = tf.tensor1d([3, -0.5, 0]);
    opt.step({ w }, { w: g });
    expectClose(w.dataSync(), [1 - 0.01, 1 + 0.01, 1], 1e-6);
    g.dispose();
    opt.dispose();
  });

  it('does not leak tensors once its state exists', async () => {
    const w = variable(p0);
    const opt = new AdamW({ lr: 0.01, weightDecay: 0.01 });
    const g = tf.tensor1d(grads[0]!);
    opt.step({ w }, { w: g });
    await expectNoTensorLeaks(() => {
      for (let i = 0; i < 3; i++) opt.step({ w }, { w: g });
    });
    g.dispose();
    opt.dispose();
  });

  it('resuming from getState/loadState continues exactly like an uninterrupted run', () => {
    const o = { lr: 0.05, beta1: 0.9, beta2: 0.99, weightDecay: 0.05 };
    const a = variable(p0);
    const b = variable(p0);
    const optA = new AdamW(o);
    const optB = new AdamW(o);
    const gs = grads.map((g) => tf.tensor1d(g));
    gs.forEach((g) => optA.step({ w: a }, { w: g }));
    gs.slice(0, 2).forEach((g) => optB.step({ w: b }, { w: g }));
    const saved = optB.getState();
    const copies = Object.fromEntries(Object.entries(saved.tensors).map(([k, t]) => [k, tf.clone(t)]));
    expect(Object.keys(copies).sort()).toEqual(['m/w', 'v/w']);
    const resumed = new AdamW(o);
    resumed.loadState({ step: saved.step, tensors: copies });
    tf.dispose(Object.values(copies));
    optB.dispose();
    gs.slice(2).forEach((g) => resumed.step({ w: b }, { w: g }));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose(gs);
    optA.dispose();
    resumed.dispose();
  });

  it('rejects mismatched gradients, unknown names, bad state and bad options', () => {
    const w = variable([1, 2]);
    const opt = new AdamW({ lr: 0.1 });
    const g3 = tf.tensor1d([1, 2, 3]);
    expect(() => opt.step({ w }, { w: g3 })).toThrow(/gradient 'w' has shape \[3\] but the parameter has \[2\]/);
    expect(() => opt.step({ w }, { x: g3 })).toThrow(OptimizerStateError);
    expect(() => opt.loadState({ step: 1, tensors: { 'm/w': g3 } })).toThrow(/needs both m\/w and v\/w/);
    expect(() => opt.loadState({ step: 1, tensors: { w: g3 } })).toThrow(/must start with 'm\/' or 'v\/'/);
    expect(() => new AdamW({ lr: 0.1, beta2: 1 })).toThrow(/beta2=1 is out of range/);
    g3.dispose();
  });
});

describe('clipByGlobalNorm', () => {
  it('scales by maxNorm/(norm+1e-6) when the global norm exceeds maxNorm', async () => {
    const a = tf.tensor1d([3, 0]);
    const b = tf.tensor2d([[0, 4]]); // global norm sqrt(9 + 16) = 5
    await expectNoTensorLeaks(() => {
      const { grads, norm } = clipByGlobalNorm({ a, b }, 1);
      expect(norm).toBeCloseTo(5, 6);
      const coef = 1 / (5 + 1e-6);
      expectClose(grads['a']!.dataSync(), [3 * coef, 0], 1e-6);
      expectClose(grads['b']!.dataSync(), [0, 4 * coef], 1e-6);
      expect(grads['b']!.shape).toEqual([1, 2]);
      tf.dispose(Object.values(grads));
    });
    tf.dispose([a, b]);
  });

  it('leaves gradients unchanged when the norm is within maxNorm, and reports non-finite norms', () => {
    const a = tf.tensor1d([0.3, 0.4]);
    const { grads, norm } = clipByGlobalNorm({ a }, 1);
    expect(norm).toBeCloseTo(0.5, 6);
    expect(Array.from(grads['a']!.dataSync())).toEqual(Array.from(a.dataSync()));
    const bad = tf.tensor1d([NaN, 1]);
    const r = clipByGlobalNorm({ bad }, 1);
    expect(r.norm).toBeNaN();
    tf.dispose([a, bad, ...Object.values(grads), ...Object.values(r.grads)]);
    expect(() => clipByGlobalNorm({}, 0)).toThrow(/maxNorm must be positive/);
    expect(clipByGlobalNorm({}, 1)).toEqual({ grads: {}, norm: 0 });
  });
});

describe('Ema', () => {
  it('after k updates toward a constant p, equals p + decay^k·(e0 − p)', async () => {
    const e0 = tf.tensor1d([1, -1]);
    const p = tf.tensor1d([3, 5]);
    const ema = new Ema({ w: e0 }, 0.9);
    await expectNoTensorLeaks(() => {
      for (let k = 0; k < 4; k++) ema.update({ w: p });
    });
    const d = 0.9 ** 4;
    expectClose(ema.weights['w']!.dataSync(), [3 + d * (1 - 3), 5 + d * (-1 - 5)], 1e-6);
    ema.update({ w: p }, 0); // decay 0 copies the weights (DiT's initial sync)
    expect(Array.from(ema.weights['w']!.dataSync())).toEqual([3, 5]);
    tf.dispose([e0, p]);
    ema.dispose();
  });

  it('round-trips its state and rejects unknown or mis-shaped parameters', () => {
    const ema = new Ema({ w: tf.tidy(() => tf.tensor1d([1, 2])) }, 0.99);
    const copy = tf.tensor1d([7, 8]);
    const other = new Ema({}, 0.5);
    other.loadState({ decay: 0.99, tensors: { w: copy } });
    expect(other.decay).toBe(0.99);
    expect(Array.from(other.weights['w']!.dataSync())).toEqual([7, 8]);
    const wrong = tf.tensor1d([1, 2, 3]);
    expect(() => ema.update({ w: wrong })).toThrow(/'w' has shape \[3\] but the average has \[2\]/);
    expect(() => ema.update({ x: copy })).toThrow(/parameter 'x' is not tracked/);
    expect(() => new Ema({}, 1.5)).toThrow(/decay must be in \[0, 1\]/);
    tf.dispose([copy, wrong]);
    ema.dispose();
    other.dispose();
  });
});

describe('leak guard', () => {
  it('passes a tidy function and reports leaked tensors from sync and async functions', async () => {
    await expect(withLeakGuard(() => tf.tidy(() => tf.sum(tf.ones([3])).dataSync()[0]))).resolves.toBe(3);
    let kept: tf.Tensor[] = [];
    await expect(expectNoTensorLeaks(() => { kept = [tf.ones([2]), tf.zeros([2])]; }, 'step')).rejects.toThrow(
      /step leaked 2 tensor\(s\)/,
    );
    tf.dispose(kept);
    const err = await withLeakGuard(async () => {
      await new Promise((r) => setTimeout(r, 1));
      kept = [tf.ones([1])];
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TensorLeakError);
    expect((err as TensorLeakError).leaked).toBe(1);
    await expect(withLeakGuard(() => { kept = [tf.ones([1])]; }, { allow: 1 })).resolves.toBeUndefined();
    tf.dispose(kept);
  });
});
