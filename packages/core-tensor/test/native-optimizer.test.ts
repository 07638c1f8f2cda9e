// The fused clip + AdamW + EMA update (native/src/optimizer.cc, src/update-step.ts) against the
// reference it replaces — clipByGlobalNorm, AdamW.step and Ema.update as tfjs ops on the same
// backend — bit for bit, and its kernels against hand-written float32 arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AdamW, clipAdamWEma, Ema, OptimizerStateError, Rng, UpdateEngineError, decodeSafetensors, encodeSafetensors, entriesToTensors, tensorsToEntries,
} from '../src/index.js';
import { loadAddon, type NativeAddon } from '../src/native/addon.js';
import type { NativeBackend } from '../src/native/native-backend.js';
import { requireNative } from './native-helpers.js';

let addon: NativeAddon;
beforeAll(async () => {
  requireNative();
  const load = loadAddon();
  if (!load.ok) throw new Error(load.reason);
  addon = load.addon;
  await tf.setBackend('native');
});
afterEach(async () => {
  await tf.setBackend('native');
});

const bits = (a: ArrayLike<number>) => Buffer.from(Float32Array.from(a).buffer);
const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && bits(a).equals(bits(b));
const f = Math.fround;

/** Parameter shapes: matrices, biases, a scalar-like one, one above the threading grain, and a frozen one (no gradient). */
const SHAPES: Record<string, number[]> = { 'a.weight': [64, 192], 'a.bias': [192], 'b.weight': [300, 7], gain: [1], big: [256, 1031], frozen: [5, 5] };
const TRAINED = Object.keys(SHAPES).filter((n) => n !== 'frozen');

interface Setup {
  params: Record<string, tf.Variable>;
  opt: AdamW;
  ema: Ema;
}

function setup(seed = 1): Setup {
  const r = new Rng(seed);
  const params = Object.fromEntries(Object.entries(SHAPES).map(([k, s]) => [k, tf.variable(r.normalTensor(s, 0, 1))]));
  const opt = new AdamW({ lr: 1e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, decay: (n) => n.endsWith('weight') });
  return { params, opt, ema: new Ema(params, 0.9) };
}

function dispose(s: Setup): void {
  s.opt.dispose();
  s.ema.dispose();
  tf.dispose(Object.values(s.params));
}

/** Step k's gradients: large on even steps (clipping acts at maxNorm 1), small on odd ones (it does not). */
function gradsAt(k: number, seed = 7): Record<string, tf.Tensor> {
  const r = new Rng(seed + k);
  return Object.fromEntries(TRAINED.map((n) => [n, r.normalTensor(SHAPES[n]!, 0, k % 2 === 0 ? 1 : 1e-3)]));
}

const schedule = (k: number) => ({ maxNorm: 1, lr: 1e-2 / (k + 1), emaDecay: 0.9 + 0.01 * k });

function snapshot(s: Setup): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, p] of Object.entries(s.params)) out[`p/${k}`] = p.dataSync().slice() as Float32Array;
  for (const [k, t] of Object.entries(s.opt.getState().tensors)) out[k] = t.dataSync().slice() as Float32Array;
  for (const [k, t] of Object.entries(s.ema.weights)) out[`ema/${k}`] = t.dataSync().slice() as Float32Array;
  return out;
}

function expectSameState(a: Setup, b: Setup): void {
  const [sa, sb] = [snapshot(a), snapshot(b)];
  expect(Object.keys(sa).sort()).toEqual(Object.keys(sb).sort());
  for (const k of Object.keys(sa)) expect(sameBits(sa[k]!, sb[k]!), k).toBe(true);
  expect(a.opt.getState().step).toBe(b.opt.getState().step);
}

describe('native optimizer kernels', () => {
  it('sumsOfSquares equals the Sum of the Square kernel on each array, bit for bit', () => {
    const r = new Rng(3);
    const sizes = [0, 1, 7, 8, 9, 17, 1000, 100_003];
    const arrays = sizes.map((n) => r.normalArray(n, 0, 3));
    const out = new Float32Array(sizes.length);
    addon.sumsOfSquares!(arrays, Float64Array.from(sizes), out);
    sizes.forEach((n, j) => {
      const want = n === 0 ? 0 : tf.tidy(() => tf.sum(tf.square(tf.tensor1d(arrays[j]!))).dataSync()[0]!);
      expect(out[j], `size ${n}`).toBe(want);
    });
  });

  it('adamwEma is the float32 AdamW and EMA update written out by hand: fresh and saved moments, decay, clipping scale, EMA-only', () => {
    const r = new Rng(4);
    const n = 37;
    const g = r.normalArray(n), p = r.normalArray(n), m = r.normalArray(n, 0, 0.1), v = r.uniformArray(n, 0, 0.01), e = r.normalArray(n);
    const frozenP = r.normalArray(n), frozenE = r.normalArray(n);
    const [b1, b2, eps, lr, wd, t, scale, decay] = [0.9, 0.999, 1e-8, 3e-3, 0.05, 4, 0.37, 0.99];
    const shrink = 1 - lr * wd, sqrtBc2 = Math.sqrt(1 - b2 ** t), stepSize = lr / (1 - b1 ** t);
    const scalars = Float64Array.of(b1, 1 - b1, b2, 1 - b2, sqrtBc2, eps, stepSize, shrink, scale, decay, 1 - decay);
    const fresh = { p: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n), e: new Float32Array(n) };
    const saved = { p: p.slice(), m: m.slice(), v: v.slice(), e: e.slice() }; // updated in place
    const frozenOut = new Float32Array(n);
    addon.adamwEma!(
      [
        g, p, fresh.p, null, fresh.m, null, fresh.v, e, fresh.e,
        g, saved.p, saved.p, saved.m, saved.m, saved.v, saved.v, saved.e, saved.e,
        null, frozenP, null, null, null, null, null, frozenE, frozenOut,
      ],
      Float64Array.of(n, n, n),
      Uint8Array.of(0, 1, 0),
      scalars,
      true,
    );
    for (let i = 0; i < n; i++) {
      const gs = f(g[i]! * f(scale));
      const expectOne = (mi: number | null, vi: number | null, decays: boolean) => {
        const mNew = mi === null ? f(gs * f(1 - b1)) : f(f(mi * f(b1)) + f(gs * f(1 - b1)));
        const vNew = vi === null ? f(f(gs * gs) * f(1 - b2)) : f(f(vi * f(b2)) + f(f(gs * gs) * f(1 - b2)));
        const denom = f(f(f(Math.sqrt(vNew)) / f(sqrtBc2)) + f(eps));
        const pNew = f((decays ? f(p[i]! * f(shrink)) : p[i]!) - f(f(mNew / denom) * f(stepSize)));
        return { m: mNew, v: vNew, p: pNew, e: f(f(e[i]! * f(decay)) + f(pNew * f(1 - decay))) };
      };
      const a = expectOne(null, null, false), b = expectOne(m[i]!, v[i]!, true);
      expect([fresh.p[i], fresh.m[i], fresh.v[i], fresh.e[i]]).toEqual([a.p, a.m, a.v, a.e]);
      expect([saved.p[i], saved.m[i], saved.v[i], saved.e[i]]).toEqual([b.p, b.m, b.v, b.e]);
      expect(frozenOut[i]).toBe(f(f(frozenE[i]! * f(decay)) + f(frozenP[i]! * f(1 - decay))));
    }
  });

  it('adamwEma refuses arrays shorter than their size and incomplete parameter entries', () => {
    const a = new Float32Array(4), short = new Float32Array(3);
    const scalars = new Float64Array(11);
    expect(() => addon.adamwEma!([a, short, a, null, a, null, a, null, null], Float64Array.of(4), Uint8Array.of(0), scalars, false)).toThrow(/pIn has 3 elements/);
    expect(() => addon.adamwEma!([a, a, a, a, a, null, a, null, null], Float64Array.of(4), Uint8Array.of(0), scalars, false)).toThrow(/come in pairs/);
    expect(() => addon.adamwEma!([a, a], Float64Array.of(4), Uint8Array.of(0), scalars, false)).toThrow(/9 entries/);
  });
});

describe('clipAdamWEma', () => {
  it('on the native backend equals clipByGlobalNorm + AdamW.step + Ema.update bit for bit over six steps, clipping on and off', () => {
    const fused = setup(), reference = setup();
    for (let k = 0; k < 6; k++) {
      const grads = gradsAt(k);
      const a = clipAdamWEma(fused.params, grads, fused.opt, fused.ema, { ...schedule(k), engine: 'native' });
      const b = clipAdamWEma(reference.params, grads, reference.opt, reference.ema, { ...schedule(k), engine: 'tfjs' });
      expect([a.engine, b.engine]).toEqual(['native', 'tfjs']);
      expect(a.norm).toBe(b.norm);
      expect(a.norm > 1).toBe(k % 2 === 0); // clipping acted on even steps only
      expect(a.updated && b.updated).toBe(true);
      tf.dispose(Object.values(grads));
    }
    expectSameState(fused, reference);
    dispose(fused);
    dispose(reference);
  });

  it('withoutEma: AdamW updates the listed parameters, the EMA neither tracks nor follows them, on both engines alike', () => {
    // An objective's auxiliary weights (REPA's projector) train with the model but have no average.
    const make = () => {
      const s = setup();
      const aux = tf.variable(new Rng(5).normalTensor([4, 3]));
      const model = Object.fromEntries(Object.entries(s.params));
      return { s, aux, all: { ...s.params, 'aux.weight': aux }, ema: new Ema(model, 0.9) };
    };
    const fused = make(), reference = make();
    for (let k = 0; k < 3; k++) {
      const grads = { ...gradsAt(k), 'aux.weight': new Rng(40 + k).normalTensor([4, 3]) };
      const a = clipAdamWEma(fused.all, grads, fused.s.opt, fused.ema, { ...schedule(k), engine: 'native', withoutEma: ['aux.weight'] });
      const b = clipAdamWEma(reference.all, grads, reference.s.opt, reference.ema, { ...schedule(k), engine: 'tfjs', withoutEma: ['aux.weight'] });
      expect(a.norm).toBe(b.norm);
      tf.dispose(Object.values(grads));
    }
    expect(sameBits(fused.aux.dataSync(), reference.aux.dataSync())).toBe(true);
    expect(fused.s.opt.getState().tensors['m/aux.weight']).toBeDefined();
    for (const k of Object.keys(fused.s.params)) expect(sameBits(fused.ema.weights[k]!.dataSync(), reference.ema.weights[k]!.dataSync()), k).toBe(true);
    expect(Object.keys(fused.ema.weights)).not.toContain('aux.weight');
    // Without the option the untracked parameter is refused, as before.
    const grads = { ...gradsAt(3), 'aux.weight': tf.zeros([4, 3]) };
    expect(() => clipAdamWEma(fused.all, grads, fused.s.opt, fused.ema, schedule(3))).toThrow(/not tracked/);
    tf.dispose(Object.values(grads));
    for (const x of [fused, reference]) {
      x.ema.dispose();
      x.aux.dispose();
      dispose(x.s);
    }
  });

  it('resumes bit-exactly from a saved optimizer and EMA state (safetensors round trip)', () => {
    const run = setup();
    for (let k = 0; k < 3; k++) tf.dispose(Object.values(step(run, k)));
    const saved = decodeSafetensors(
      encodeSafetensors(tensorsToEntries({ ...prefixed('p/', run.params), ...run.opt.getState().tensors, ...prefixed('ema/', run.ema.weights) })),
    );
    for (let k = 3; k < 6; k++) tf.dispose(Object.values(step(run, k)));

    const loaded = entriesToTensors(saved.tensors);
    const resumed = setup(99); // other initial values, all replaced by the saved ones
    for (const [k, p] of Object.entries(resumed.params)) p.assign(loaded[`p/${k}`]!);
    resumed.opt.loadState({ step: 3, tensors: Object.fromEntries(Object.entries(loaded).filter(([k]) => /^[mv]\//.test(k))) });
    resumed.ema.loadState({ decay: 0.9, tensors: Object.fromEntries(Object.entries(loaded).filter(([k]) => k.startsWith('ema/')).map(([k, t]) => [k.slice(4), t])) });
    tf.dispose(Object.values(loaded));
    for (let k = 3; k < 6; k++) tf.dispose(Object.values(step(resumed, k)));
    expectSameState(run, resumed);
    dispose(run);
    dispose(resumed);
  });

  it('updates in place once it owns the arrays, never an array someone read or shares', () => {
    const s = setup();
    const backend = tf.backend() as NativeBackend;
    const p = s.params['a.weight']!;
    const alias = tf.clone(p); // shares p's data until p is rebound
    const before = p.dataSync(); // the backend's own array, handed out
    const copy = before.slice();
    tf.dispose(Object.values(step(s, 0)));
    expect(sameBits(before, copy)).toBe(true);
    expect(sameBits(alias.dataSync(), copy)).toBe(true);
    expect(sameBits(p.dataSync(), copy)).toBe(false);
    alias.dispose();
    tf.dispose(Object.values(step(s, 1))); // p was read above: rebound once more
    const arrays = () => [p, s.opt.getState().tensors['m/a.weight']!, s.ema.weights['a.weight']!].map((t) => backend.float32Values(t.dataId));
    const owned = arrays();
    const tensors = tf.memory().numTensors;
    for (let k = 2; k < 5; k++) tf.dispose(Object.values(step(s, k)));
    arrays().forEach((a, i) => expect(a, `array ${i}`).toBe(owned[i]));
    expect(tf.memory().numTensors).toBe(tensors);
    dispose(s);
  });

  it('changes nothing when the norm is not finite or apply is false, and reports the norm', () => {
    const s = setup();
    tf.dispose(Object.values(step(s, 0)));
    const before = snapshot(s);
    const grads = gradsAt(1);
    const bad = { ...grads, gain: tf.tensor1d([NaN]) };
    const r1 = clipAdamWEma(s.params, bad, s.opt, s.ema, { ...schedule(1), engine: 'native' });
    expect(Number.isNaN(r1.norm)).toBe(true);
    expect(r1.updated).toBe(false);
    const r2 = clipAdamWEma(s.params, grads, s.opt, s.ema, { ...schedule(1), apply: false, engine: 'native' });
    expect(r2.norm).toBeGreaterThan(0);
    expect(r2.updated).toBe(false);
    const after = snapshot(s);
    for (const k of Object.keys(before)) expect(sameBits(after[k]!, before[k]!), k).toBe(true);
    expect(s.opt.getState().step).toBe(1);
    tf.dispose([...Object.values(grads), bad.gain]);
    dispose(s);
  });

  it('checks names and shapes before changing anything', () => {
    const s = setup();
    const grads = gradsAt(0);
    const before = snapshot(s);
    expect(() => clipAdamWEma(s.params, { ...grads, stray: tf.zeros([2]) }, s.opt, s.ema, schedule(0))).toThrow(OptimizerStateError);
    expect(() => clipAdamWEma(s.params, { ...grads, gain: tf.zeros([2]) }, s.opt, s.ema, schedule(0))).toThrow(/shape/);
    const after = snapshot(s);
    for (const k of Object.keys(before)) expect(sameBits(after[k]!, before[k]!), k).toBe(true);
    tf.dispose(Object.values(grads));
    dispose(s);
  });

  it('on another backend runs the reference ops and says so in one line; engine native is an error there', async () => {
    await tf.setBackend('cpu');
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const a = setup(), b = setup();
      for (let k = 0; k < 2; k++) {
        const grads = gradsAt(k);
        expect(clipAdamWEma(a.params, grads, a.opt, a.ema, schedule(k)).engine).toBe('tfjs');
        clipAdamWEma(b.params, grads, b.opt, b.ema, { ...schedule(k), engine: 'tfjs' });
        tf.dispose(Object.values(grads));
      }
      expectSameState(a, b);
      const lines = write.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('difflab:'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^difflab: gradient clipping, AdamW and EMA run as tfjs ops, not the fused native kernel: the tfjs backend is 'cpu', not native\n$/);
      const grads = gradsAt(2);
      expect(() => clipAdamWEma(a.params, grads, a.opt, a.ema, { ...schedule(2), engine: 'native' })).toThrow(UpdateEngineError);
      tf.dispose(Object.values(grads));
      dispose(a);
      dispose(b);
    } finally {
      write.mockRestore();
    }
  });
});

function step(s: Setup, k: number): Record<string, tf.Tensor> {
  const grads = gradsAt(k);
  const r = clipAdamWEma(s.params, grads, s.opt, s.ema, { ...schedule(k), engine: 'native' });
  expect(r.updated).toBe(true);
  return grads;
}

function prefixed(prefix: string, ts: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(ts).map(([k, t]) => [prefix + k, t]));
}
