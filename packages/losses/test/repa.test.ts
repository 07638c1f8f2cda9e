// REPA's alignment term and iREPA's spatial normalisation against plain float64 recomputations: the value,
// the analytic gradient of −mean cos, the normalised tokens' per-channel moments, the grid pooling.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { LossInputError, TOKEN_COSINE_EPS, poolTokenGrid, repaAlignmentLoss, spatialNormalizeTokens, tokenCosine } from '../src/index.js';

await tf.setBackend('cpu');

const B = 2, N = 4, C = 3;

function randomTokens(seed: number, shape: [number, number, number] = [B, N, C]): { t: tf.Tensor3D; v: Float64Array } {
  const v = Float64Array.from(new Rng(seed).normalArray(shape[0] * shape[1] * shape[2]), (x) => Math.fround(x));
  return { t: tf.tensor3d(Float32Array.from(v), shape), v };
}

/** −mean cos and its gradient with respect to `a`, in float64, the norms floored as the loss floors them. */
function reference(a: Float64Array, b: Float64Array, tokens: number, c: number): { loss: number; grad: Float64Array } {
  const grad = new Float64Array(a.length);
  let sum = 0;
  for (let i = 0; i < tokens; i++) {
    let dot = 0, aa = 0, bb = 0;
    for (let j = 0; j < c; j++) {
      dot += a[i * c + j]! * b[i * c + j]!;
      aa += a[i * c + j]! ** 2;
      bb += b[i * c + j]! ** 2;
    }
    const na = Math.sqrt(aa + TOKEN_COSINE_EPS), nb = Math.sqrt(bb + TOKEN_COSINE_EPS);
    sum += dot / (na * nb);
    // d cos / d a = b / (|a||b|) − (a·b) a / (|a|³ |b|)
    for (let j = 0; j < c; j++) grad[i * c + j] = -(b[i * c + j]! / (na * nb) - (dot * a[i * c + j]!) / (na ** 3 * nb)) / tokens;
  }
  return { loss: -sum / tokens, grad };
}

describe('repaAlignmentLoss', () => {
  it('equals −mean cos over tokens, and its gradient equals the analytic one', () => {
    const a = randomTokens(1), b = randomTokens(2);
    const ref = reference(a.v, b.v, B * N, C);
    const va = tf.variable(a.t, true, 'repa-a');
    const { value, grads } = tf.variableGrads(() => repaAlignmentLoss(va as unknown as tf.Tensor3D, b.t), [va]);
    expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 6);
    const g = grads['repa-a']!.dataSync();
    for (let i = 0; i < g.length; i++) expect(g[i]).toBeCloseTo(ref.grad[i]!, 6);
    tf.dispose([a.t, b.t, va, value, ...Object.values(grads)]);
  });

  it('is −1 for aligned tokens of any scale, +1 for opposite ones, and 0 (finite gradient) at a zero projection', () => {
    const b = randomTokens(3);
    const scaled = tf.mul(b.t, 7.5) as tf.Tensor3D;
    const opposite = tf.neg(b.t) as tf.Tensor3D;
    expect(repaAlignmentLoss(scaled, b.t).dataSync()[0]).toBeCloseTo(-1, 6);
    expect(repaAlignmentLoss(opposite, b.t).dataSync()[0]).toBeCloseTo(1, 6);
    const zero = tf.variable(tf.zeros([B, N, C]), true, 'repa-zero');
    const { value, grads } = tf.variableGrads(() => repaAlignmentLoss(zero as unknown as tf.Tensor3D, b.t), [zero]);
    expect(value.dataSync()[0]).toBeCloseTo(0, 12);
    expect(Array.from(grads['repa-zero']!.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([b.t, scaled, opposite, zero, value, ...Object.values(grads)]);
  });

  it('refuses token sets of different shapes, naming both', () => {
    const a = tf.zeros([1, 4, 3]) as tf.Tensor3D, b = tf.zeros([1, 4, 2]) as tf.Tensor3D;
    expect(() => repaAlignmentLoss(a, b)).toThrow(LossInputError);
    expect(() => tokenCosine(a, b)).toThrow(/\[1,4,3\] and \[1,4,2\]/);
    tf.dispose([a, b]);
  });
});

describe('spatialNormalizeTokens (iREPA)', () => {
  it('matches (x − mean_n) / (unbiased std_n + 1e-6) per example and channel, in float64', () => {
    const x = randomTokens(4, [2, 9, 3]);
    const out = spatialNormalizeTokens(x.t).dataSync();
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 3; c++) {
        const col = Array.from({ length: 9 }, (_, n) => x.v[(b * 9 + n) * 3 + c]!);
        const mean = col.reduce((s, v) => s + v, 0) / 9;
        const std = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / 8);
        for (let n = 0; n < 9; n++) expect(out[(b * 9 + n) * 3 + c]).toBeCloseTo((col[n]! - mean) / (std + 1e-6), 5);
        // The identity the normalisation is for: each channel of each image has mean 0 and unbiased std 1 over positions.
        const z = Array.from({ length: 9 }, (_, n) => out[(b * 9 + n) * 3 + c]!);
        expect(z.reduce((s, v) => s + v, 0) / 9).toBeCloseTo(0, 5);
        expect(Math.sqrt(z.reduce((s, v) => s + v * v, 0) / 8)).toBeCloseTo(1, 4);
      }
    x.t.dispose();
  });

  it('keeps γ·mean when γ < 1 and refuses a single token', () => {
    const x = randomTokens(5, [1, 4, 2]);
    const half = spatialNormalizeTokens(x.t, 0.5).dataSync();
    const col = [0, 1, 2, 3].map((n) => x.v[n * 2]!);
    const mean = col.reduce((s, v) => s + v, 0) / 4;
    const std = Math.sqrt(col.reduce((s, v) => s + (v - mean) ** 2, 0) / 3);
    expect(half[0]).toBeCloseTo((col[0]! - 0.5 * mean) / (std + 1e-6), 5);
    const one = tf.zeros([1, 1, 2]) as tf.Tensor3D;
    expect(() => spatialNormalizeTokens(one)).toThrow(LossInputError);
    tf.dispose([x.t, one]);
  });
});

describe('poolTokenGrid', () => {
  it('averages each k×k cell of the row-major grid', () => {
    // 4×4 grid, one channel, value = row·10 + column.
    const t = tf.tensor3d(Float32Array.from({ length: 16 }, (_, i) => Math.floor(i / 4) * 10 + (i % 4)), [1, 16, 1]);
    const pooled = poolTokenGrid(t, 4, 2);
    expect(pooled.shape).toEqual([1, 4, 1]);
    expect(Array.from(pooled.dataSync())).toEqual([5.5, 7.5, 25.5, 27.5]);
    expect(() => poolTokenGrid(t, 4, 3)).toThrow(/3 must divide 4/);
    tf.dispose([t, pooled]);
  });
});
