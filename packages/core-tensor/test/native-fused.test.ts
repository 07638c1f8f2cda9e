// The native-only fused transformer kernels (layer norm + adaLN modulate, gated residual,
// self-attention): forward against float64 closed forms and the tfjs cpu backend's composed ops,
// backward against float64 central finite differences of the closed form and cpu autodiff.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/rng.js';
import { loadAddon } from '../src/native/addon.js';
import {
  ATTENTION_GRAD_KERNEL,
  ATTENTION_KERNEL,
  GATED_RESIDUAL_GRAD_KERNEL,
  GATED_RESIDUAL_KERNEL,
  LAYER_NORM_MODULATE_GRAD_KERNEL,
  LAYER_NORM_MODULATE_KERNEL,
} from '../src/native/kernels.js';
import { expectSameAsCpu, randomArray, requireNative } from './native-helpers.js';

beforeAll(async () => {
  requireNative();
  await tf.setBackend('native');
});

const EPS = 1e-6;
const run = (kernel: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number> = {}): Float32Array[] =>
  tf.tidy(() => {
    const out = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor | tf.Tensor[];
    return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync().slice() as Float32Array);
  });

/** |a − b| ≤ tol · (1 + |b|) everywhere. */
function expectNear(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  expect(actual.length).toBe(want.length);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(actual[i]! - want[i]!) / (tol * (1 + Math.abs(want[i]!)));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  expect(worst, `element ${at}: ${actual[at]} vs ${want[at]}`).toBeLessThan(1);
}

/** float64 reference: y[r, c] = (x − mean_r)/√(var_r + eps) · (1 + scale[g, c]) + shift[g, c], g = row's batch item. */
function lnModRef(x: ArrayLike<number>, shift: ArrayLike<number>, scale: ArrayLike<number>, groups: number, cols: number): Float64Array {
  const rows = x.length / cols, perGroup = rows / groups;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m += x[r * cols + c]!;
    m /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c]! - m) ** 2;
    const rstd = 1 / Math.sqrt(v / cols + EPS);
    const g = Math.floor(r / perGroup);
    for (let c = 0; c < cols; c++) y[r * cols + c] = (x[r * cols + c]! - m) * rstd * (1 + scale[g * cols + c]!) + shift[g * cols + c]!;
  }
  return y;
}

/** Central differences in float64 of L = Σ w·f(inputs) with respect to inputs[which]. */
function finiteDiff(f: (ins: Float64Array[]) => Float64Array, inputs: Float64Array[], which: number, w: ArrayLike<number>, h = 1e-5): Float64Array {
  const grad = new Float64Array(inputs[which]!.length);
  const loss = (): number => f(inputs).reduce((s, v, i) => s + v * w[i]!, 0);
  for (let i = 0; i < grad.length; i++) {
    const x0 = inputs[which]![i]!;
    inputs[which]![i] = x0 + h;
    const up = loss();
    inputs[which]![i] = x0 - h;
    const down = loss();
    inputs[which]![i] = x0;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

describe('native LayerNormModulate', () => {
  // [batch, tokens, features]: batch 1, a single token, odd sizes, and DiT-S width (multithreaded path).
  const cases: [number, number, number][] = [[1, 1, 5], [3, 7, 13], [1, 9, 2], [2, 40, 384]];

  it.each(cases)('forward matches the float64 closed form for x [%i, %i, %i]', (b, n, d) => {
    const rng = new Rng(b * 100 + n * 10 + d);
    const xs = randomArray(rng, [b, n, d], -3, 3), sh = randomArray(rng, [b, d]), sc = randomArray(rng, [b, d], -1, 1);
    const [y, mean, rstd] = run(LAYER_NORM_MODULATE_KERNEL, {
      x: tf.tensor3d(xs, [b, n, d]), shift: tf.tensor3d(sh, [b, 1, d]), scale: tf.tensor2d(sc, [b, d]),
    }, { epsilon: EPS });
    expectNear(y!, lnModRef(xs, sh, sc, b, d), 1e-5);
    expect(mean!.length).toBe(b * n);
    expect(rstd!.length).toBe(b * n);
  });

  it('forward equals the cpu backend\'s composed layer norm and modulate', async () => {
    const rng = new Rng(5);
    const xs = randomArray(rng, [3, 17, 24], -4, 4), sh = randomArray(rng, [3, 1, 24]), sc = randomArray(rng, [3, 1, 24]);
    const inputs = () => [tf.tensor3d(xs, [3, 17, 24]), tf.tensor3d(sh, [3, 1, 24]), tf.tensor3d(sc, [3, 1, 24])] as const;
    await expectSameAsCpu(
      () => {
        const [x, shift, scale] = inputs();
        return (tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x, shift, scale }, { epsilon: EPS }) as tf.Tensor[])[0]!;
      },
      1e-4, 1e-5,
      () => {
        const [x, shift, scale] = inputs();
        const centred = tf.sub(x, tf.mean(x, -1, true));
        const n = tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), EPS)));
        return tf.add(tf.mul(n, tf.add(scale, 1)), shift);
      },
    );
    await tf.setBackend('native');
  });

  it.each([[1, 1, 4], [2, 3, 5], [3, 4, 7]] as [number, number, number][])(
    'gradient matches float64 central differences for x [%i, %i, %i]',
    (b, n, d) => {
      const rng = new Rng(b + n + d);
      const xs = randomArray(rng, [b, n, d], -2, 2), sh = randomArray(rng, [b, d]), sc = randomArray(rng, [b, d], -1, 1);
      const w = randomArray(rng, [b, n, d]); // upstream gradient dy
      const outs = tf.tidy(() => {
        const x = tf.tensor3d(xs, [b, n, d]), shift = tf.tensor3d(sh, [b, 1, d]), scale = tf.tensor3d(sc, [b, 1, d]);
        const [, mean, rstd] = tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x, shift, scale }, { epsilon: EPS }) as tf.Tensor[];
        const grads = tf.engine().runKernel(LAYER_NORM_MODULATE_GRAD_KERNEL, { dy: tf.tensor3d(w, [b, n, d]), x, mean: mean!, rstd: rstd!, scale }) as tf.Tensor[];
        expect(grads[1]!.shape).toEqual([b, 1, d]);
        return grads.map((g) => g.dataSync().slice());
      });
      const ins = [Float64Array.from(xs), Float64Array.from(sh), Float64Array.from(sc)];
      const f = (v: Float64Array[]) => lnModRef(v[0]!, v[1]!, v[2]!, b, d);
      // Outputs are [dx, dscale, dshift]; inputs [x, shift, scale].
      expectNear(outs[0]!, finiteDiff(f, ins, 0, w), 1e-4);
      expectNear(outs[1]!, finiteDiff(f, ins, 2, w), 1e-4);
      expectNear(outs[2]!, finiteDiff(f, ins, 1, w), 1e-4);
    },
  );

  it('gradient on a multithreaded size equals cpu autodiff of the composed ops', async () => {
    const rng = new Rng(8);
    const [b, n, d] = [3, 64, 192];
    const xs = randomArray(rng, [b, n, d], -3, 3), sh = randomArray(rng, [b, 1, d]), sc = randomArray(rng, [b, 1, d]);
    const dys = randomArray(rng, [b, n, d]);
    const inputs = () => [tf.tensor3d(xs, [b, n, d]), tf.tensor3d(sh, [b, 1, d]), tf.tensor3d(sc, [b, 1, d])] as const;
    await expectSameAsCpu(
      () => {
        const [x, shift, scale] = inputs();
        const [, mean, rstd] = tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x, shift, scale }, { epsilon: EPS }) as tf.Tensor[];
        const [dx, dscale, dshift] = tf.engine().runKernel(LAYER_NORM_MODULATE_GRAD_KERNEL, { dy: tf.tensor3d(dys, [b, n, d]), x, mean: mean!, rstd: rstd!, scale }) as tf.Tensor[];
        return [dx!, dshift!, dscale!];
      },
      1e-3, 1e-4,
      () => {
        const f = (x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor) => {
          const centred = tf.sub(x, tf.mean(x, -1, true));
          const nrm = tf.mul(centred, tf.rsqrt(tf.add(tf.mean(tf.square(centred), -1, true), EPS)));
          return tf.add(tf.mul(nrm, tf.add(scale, 1)), shift);
        };
        return tf.grads(f)([...inputs()], tf.tensor3d(dys, [b, n, d]));
      },
    );
    await tf.setBackend('native');
  });

  it('rejects shift/scale that are not one row per batch item, and short arrays', () => {
    const x = tf.zeros([2, 3, 4]), good = tf.zeros([2, 1, 4]), bad = tf.zeros([1, 1, 4]);
    expect(() => tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x, shift: bad, scale: good }, { epsilon: EPS }))
      .toThrow(/LayerNormModulate: shift \[1,1,4\] must hold one row of 4 per batch item of x \[2,3,4\]/);
    expect(() => tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x: tf.zeros([4]), shift: good, scale: good }, { epsilon: EPS }))
      .toThrow(/rank ≥ 2/);
    expect(() => tf.engine().runKernel(LAYER_NORM_MODULATE_KERNEL, { x: tf.zeros([2, 3, 4], 'int32'), shift: good, scale: good }, { epsilon: EPS }))
      .toThrow(/float32/);
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    const f = (n: number) => new Float32Array(n);
    expect(() => load.addon.layerNormModulate(f(23), f(8), f(8), 2, 3, 4, EPS, f(24), f(6), f(6), true)).toThrow(/x has 23 elements; its shape needs 24/);
    expect(() => load.addon.layerNormModulateGrad(f(24), f(24), f(6), f(5), f(8), 2, 3, 4, f(24), f(8), f(8), true)).toThrow(/rstd has 5/);
    tf.dispose([x, good, bad]);
  });
});

describe('native GatedResidual', () => {
  it('forward is h + gate·x and the gradient is (dy·gate, Σ_tokens dy·x), batch 1 and multithreaded sizes', () => {
    for (const [b, n, d] of [[1, 1, 3], [2, 5, 7], [4, 64, 192]] as [number, number, number][]) {
      const rng = new Rng(b * n * d);
      const hs = randomArray(rng, [b, n, d]), gs = randomArray(rng, [b, d]), xs = randomArray(rng, [b, n, d]), dys = randomArray(rng, [b, n, d]);
      const h = tf.tensor3d(hs, [b, n, d]), gate = tf.tensor3d(gs, [b, 1, d]), x = tf.tensor3d(xs, [b, n, d]), dy = tf.tensor3d(dys, [b, n, d]);
      const [y] = run(GATED_RESIDUAL_KERNEL, { h, gate, x });
      const [dx, dgate] = run(GATED_RESIDUAL_GRAD_KERNEL, { dy, gate, x });
      const wantY = new Float64Array(hs.length), wantDx = new Float64Array(hs.length), wantDg = new Float64Array(b * d);
      for (let i = 0; i < hs.length; i++) {
        const g = Math.floor(i / (n * d)) * d + (i % d);
        wantY[i] = hs[i]! + gs[g]! * xs[i]!;
        wantDx[i] = dys[i]! * gs[g]!;
        wantDg[g] += dys[i]! * xs[i]!;
      }
      expectNear(y!, wantY, 1e-6);
      expectNear(dx!, wantDx, 1e-6);
      expectNear(dgate!, wantDg, 1e-5);
      tf.dispose([h, gate, x, dy]);
    }
  });

  it('rejects mismatched shapes', () => {
    const h = tf.zeros([2, 3, 4]), x = tf.zeros([2, 3, 5]), gate = tf.zeros([2, 1, 4]);
    expect(() => tf.engine().runKernel(GATED_RESIDUAL_KERNEL, { h, gate, x })).toThrow(/GatedResidual: h \[2,3,4\] and x \[2,3,5\]/);
    expect(() => tf.engine().runKernel(GATED_RESIDUAL_GRAD_KERNEL, { dy: h, gate: tf.zeros([2, 1, 3]), x: h })).toThrow(/gate \[2,1,3\]/);
    tf.dispose([h, x, gate]);
  });
});

describe('native Attention', () => {
  // tfjs composition of the same attention (the cpu reference): split heads, softmax(q·kᵀ/√hd)·v, merge.
  const composed = (qkv: tf.Tensor, heads: number): tf.Tensor => {
    const [b, n, d3] = qkv.shape as [number, number, number];
    const d = d3 / 3, hd = d / heads;
    const [q, k, v] = tf.unstack(tf.transpose(tf.reshape(qkv, [b, n, 3, heads, hd]), [2, 0, 3, 1, 4])) as tf.Tensor4D[];
    const p = tf.softmax(tf.div(tf.matMul(q!, k!, false, true), Math.sqrt(hd)));
    return tf.reshape(tf.transpose(tf.matMul(p as tf.Tensor4D, v!), [0, 2, 1, 3]), [b, n, d]);
  };
  const nativeOut = (qkv: tf.Tensor, heads: number): tf.Tensor[] =>
    tf.engine().runKernel(ATTENTION_KERNEL, { qkv }, { numHeads: heads }) as tf.Tensor[];

  // [batch, tokens, heads, headDim]: batch 1, one token, odd sizes, DiT-FMNIST's attention (multithreaded).
  const cases: [number, number, number, number][] = [[1, 1, 1, 3], [1, 5, 2, 3], [3, 7, 3, 5], [4, 64, 3, 64]];

  it.each(cases)('forward and gradient equal the cpu backend\'s composed ops and autodiff: B=%i N=%i H=%i hd=%i', async (b, n, h, hd) => {
    const rng = new Rng(b * 1000 + n * 10 + h + hd);
    const shape: [number, number, number] = [b, n, 3 * h * hd];
    const xs = randomArray(rng, shape, -2, 2), dys = randomArray(rng, [b, n, h * hd]);
    await expectSameAsCpu(
      () => {
        const qkv = tf.tensor3d(xs, shape);
        const [out, probs] = nativeOut(qkv, h);
        const dqkv = tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy: tf.tensor3d(dys, [b, n, h * hd]), qkv, probs: probs! }, { numHeads: h }) as tf.Tensor;
        return [out!, dqkv];
      },
      1e-4, 1e-5,
      () => {
        const qkv = tf.tensor3d(xs, shape);
        return [composed(qkv, h), tf.grad((x: tf.Tensor) => composed(x, h))(qkv, tf.tensor3d(dys, [b, n, h * hd]))];
      },
    );
    await tf.setBackend('native');
  });

  it('probabilities are the per-head softmax of q·kᵀ/√hd (float64 closed form)', () => {
    const [b, n, h, hd] = [2, 3, 2, 2];
    const d = h * hd;
    const xs = randomArray(new Rng(4), [b, n, 3 * d], -2, 2);
    const [, probs] = run(ATTENTION_KERNEL, { qkv: tf.tensor3d(xs, [b, n, 3 * d]) }, { numHeads: h });
    const want: number[] = [];
    for (let bi = 0; bi < b; bi++) {
      for (let hi = 0; hi < h; hi++) {
        for (let i = 0; i < n; i++) {
          const logits = Array.from({ length: n }, (_, m) => {
            let s = 0;
            for (let j = 0; j < hd; j++) s += xs[(bi * n + i) * 3 * d + hi * hd + j]! * xs[(bi * n + m) * 3 * d + d + hi * hd + j]!;
            return s / Math.sqrt(hd);
          });
          const z = logits.reduce((s, l) => s + Math.exp(l), 0);
          want.push(...logits.map((l) => Math.exp(l) / z));
        }
      }
    }
    expectNear(probs!, want, 1e-5);
  });

  it('rejects a qkv that does not split into numHeads heads, and mismatched gradient shapes', () => {
    const qkv = tf.zeros([2, 3, 12]);
    tf.dispose(tf.engine().runKernel(ATTENTION_KERNEL, { qkv }, { numHeads: 2 }) as tf.Tensor[]);
    expect(() => tf.engine().runKernel(ATTENTION_KERNEL, { qkv }, { numHeads: 5 })).toThrow(/Attention: qkv must be \[batch, tokens ≥ 1, 3·numHeads·headDim\]/);
    expect(() => tf.engine().runKernel(ATTENTION_KERNEL, { qkv: tf.zeros([6, 12]) }, { numHeads: 1 })).toThrow(/got \[6,12\]/);
    expect(() => tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy: tf.zeros([2, 3, 5]), qkv, probs: tf.zeros([2, 2, 3, 3]) }, { numHeads: 2 }))
      .toThrow(/AttentionGrad: dy \[2,3,5\] must be \[2,3,4\]/);
    const load = loadAddon();
    if (!load.ok) throw new Error(load.reason);
    expect(() => load.addon.attention(new Float32Array(71), 2, 3, 2, 2, new Float32Array(24), new Float32Array(36))).toThrow(/qkv has 71 elements; its shape needs 72/);
    tf.dispose(qkv);
  });
});
