// DiT's fused ops (layer norm + modulate, self-attention core, gated residual) on the cpu backend
// (composed tfjs ops / custom gradients) and the native backend (fused kernels): values against float64
// closed forms, gradients against float64 central finite differences of those closed forms.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { LAYER_NORM_MODULATE_KERNEL, Rng, registerNativeBackend } from '@difflab/core-tensor';
import { gatedResidual, normModulate, selfAttentionCore } from '../src/dit/fused.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);

const EPS = 1e-6;
type Ref = (ins: Float64Array[]) => Float64Array;

/** Layer norm (or, uncentred, RMSNorm) + modulate in float64. */
function lnModRef([x, shift, scale]: Float64Array[], b: number, d: number, center = true): Float64Array {
  const rows = x!.length / d, per = rows / b, y = new Float64Array(x!.length);
  for (let r = 0; r < rows; r++) {
    const row = x!.subarray(r * d, (r + 1) * d);
    const m = center ? row.reduce((s, v) => s + v, 0) / d : 0;
    const rstd = 1 / Math.sqrt(row.reduce((s, v) => s + (v - m) ** 2, 0) / d + EPS);
    const g = Math.floor(r / per) * d;
    for (let c = 0; c < d; c++) y[r * d + c] = (row[c]! - m) * rstd * (1 + scale![g + c]!) + shift![g + c]!;
  }
  return y;
}

function attentionRef([qkv]: Float64Array[], b: number, n: number, heads: number, d: number): Float64Array {
  const hd = d / heads, out = new Float64Array(b * n * d);
  const at = (bi: number, t: number, part: number, h: number, j: number) => qkv![(bi * n + t) * 3 * d + part * d + h * hd + j]!;
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        const logits = Array.from({ length: n }, (_, m) => {
          let s = 0;
          for (let j = 0; j < hd; j++) s += at(bi, i, 0, h, j) * at(bi, m, 1, h, j);
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const z = e.reduce((s, v) => s + v, 0);
        for (let j = 0; j < hd; j++) {
          let acc = 0;
          for (let m = 0; m < n; m++) acc += (e[m]! / z) * at(bi, m, 2, h, j);
          out[(bi * n + i) * d + h * hd + j] = acc;
        }
      }
    }
  }
  return out;
}

function gatedRef([h, gate, x]: Float64Array[], b: number, d: number): Float64Array {
  const per = h!.length / (b * d);
  return h!.map((v, i) => v + gate![Math.floor(i / (per * d)) * d + (i % d)]! * x![i]!);
}

/** Central differences in float64 of Σ w·f(ins) with respect to every input. */
function finiteDiffs(f: Ref, ins: Float64Array[], w: Float32Array, h = 1e-5): Float64Array[] {
  const loss = () => f(ins).reduce((s, v, i) => s + v * w[i]!, 0);
  return ins.map((x) => {
    const g = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const x0 = x[i]!;
      x[i] = x0 + h;
      const up = loss();
      x[i] = x0 - h;
      g[i] = (up - loss()) / (2 * h);
      x[i] = x0;
    }
    return g;
  });
}

function expectNear(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  let worst = 0, at = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i]! - want[i]!) / (tol * (1 + Math.abs(want[i]!)));
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  expect(worst, `${what} element ${at}: ${actual[at]} vs ${want[at]}`).toBeLessThan(1);
}

/** Value and input gradients of op on `backend` against the float64 reference; returns the kernels it ran. */
async function check(
  backend: 'cpu' | 'native', op: (...ts: tf.Tensor[]) => tf.Tensor, ref: Ref, inputs: { values: Float32Array; shape: number[] }[], tol: number,
): Promise<string[]> {
  await tf.setBackend(backend);
  const outShape = tf.tidy(() => op(...inputs.map((i) => tf.tensor(i.values, i.shape))).shape);
  const w = new Rng(99).normalArray(outShape.reduce((p, d) => p * d, 1), 0, 1);
  const before = tf.memory().numTensors;
  let value: Float32Array = new Float32Array();
  let grads: Float32Array[] = [];
  const prof = await tf.profile(() => {
    tf.tidy(() => {
      const ts = inputs.map((i) => tf.tensor(i.values, i.shape));
      value = op(...ts).dataSync().slice() as Float32Array;
      grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(op(...xs), tf.tensor(w, outShape))))(ts).map((g) => g.dataSync().slice() as Float32Array);
    });
  });
  expect(tf.memory().numTensors, `${backend}: tensors leaked`).toBe(before);
  const ins = inputs.map((i) => Float64Array.from(i.values));
  expectNear(value, ref(ins), tol, `${backend} value`);
  finiteDiffs(ref, ins, w).forEach((g, k) => expectNear(grads[k]!, g, tol, `${backend} gradient of input ${k}`));
  await tf.setBackend('cpu');
  return prof.kernels.map((k) => k.name);
}

const rand = (rng: Rng, shape: number[], lo = -2, hi = 2) => ({ values: rng.uniformArray(shape.reduce((p, d) => p * d, 1), lo, hi), shape });

describe('normModulate', () => {
  it.each([
    ['layernorm', 1, 1, 4], ['layernorm', 2, 3, 5], ['layernorm', 3, 5, 8],
    ['rmsnorm', 1, 1, 4], ['rmsnorm', 2, 3, 5], ['rmsnorm', 3, 5, 8],
  ] as ['layernorm' | 'rmsnorm', number, number, number][])('%s, x [%i, %i, %i]: value and gradients on cpu and native', async (norm, b, n, d) => {
    const rng = new Rng(b * 10 + n + d);
    const inputs = [rand(rng, [b, n, d]), rand(rng, [b, 1, d]), rand(rng, [b, 1, d], -1, 1)];
    const op = (x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor) => normModulate(x, shift, scale, EPS, norm);
    const ref: Ref = (ins) => lnModRef(ins, b, d, norm === 'layernorm');
    expect(await check('cpu', op, ref, inputs, 1e-3)).not.toContain(LAYER_NORM_MODULATE_KERNEL);
    expect(await check('native', op, ref, inputs, 1e-3)).toContain(LAYER_NORM_MODULATE_KERNEL);
  });
});

describe('selfAttentionCore', () => {
  it.each([[1, 1, 1, 2], [2, 3, 2, 4], [1, 5, 3, 6]] as [number, number, number, number][])(
    'B=%i N=%i heads=%i d=%i: softmax(q·kᵀ/√hd)·v per head, gradients on cpu and native',
    async (b, n, heads, d) => {
      const rng = new Rng(b + n * 7 + heads * 13 + d);
      const inputs = [rand(rng, [b, n, 3 * d])];
      const op = (qkv: tf.Tensor) => selfAttentionCore(qkv, heads);
      const ref: Ref = (ins) => attentionRef(ins, b, n, heads, d);
      await check('cpu', op, ref, inputs, 1e-3);
      expect(await check('native', op, ref, inputs, 1e-3)).toEqual(expect.arrayContaining(['Attention', 'AttentionGrad']));
    },
  );
});

describe('gatedResidual', () => {
  it.each([[1, 1, 3], [2, 4, 5]] as [number, number, number][])('h + gate·x for [%i, %i, %i], gradients on cpu and native', async (b, n, d) => {
    const rng = new Rng(b + n + d + 50);
    const inputs = [rand(rng, [b, n, d]), rand(rng, [b, 1, d]), rand(rng, [b, n, d])];
    const ref: Ref = (ins) => gatedRef(ins, b, d);
    await check('cpu', gatedResidual, ref, inputs, 1e-4);
    expect(await check('native', gatedResidual, ref, inputs, 1e-4)).toContain('GatedResidual');
  });
});
