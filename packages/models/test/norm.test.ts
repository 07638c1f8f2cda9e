import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import { BatchNorm, GroupNorm, InstanceNorm, LayerNorm, ModelConfigError, ModelInputError, groupNorm } from '../src/index.js';

await initBackend({ backend: 'cpu' });

// Float64 references written from the definitions, on channels-last [N, H, W, C] data held as flat arrays.
type Shape4 = [number, number, number, number];
const at = (s: Shape4, n: number, h: number, w: number, c: number) => ((n * s[1] + h) * s[2] + w) * s[3] + c;

/** Standardises each set of flat indices returned by `groupsOf`, then applies per-channel gamma/beta. */
function reference(x: Float64Array, s: Shape4, groupsOf: () => number[][], eps: number, gamma?: number[], beta?: number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (const idx of groupsOf()) {
    const mean = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
    const variance = idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0) / idx.length;
    for (const i of idx) {
      const c = i % s[3];
      out[i] = ((x[i]! - mean) / Math.sqrt(variance + eps)) * (gamma?.[c] ?? 1) + (beta?.[c] ?? 0);
    }
  }
  return out;
}

function groupSets(s: Shape4, groups: number): () => number[][] {
  return () => {
    const per = s[3] / groups;
    const sets: number[][] = [];
    for (let n = 0; n < s[0]; n++) {
      for (let g = 0; g < groups; g++) {
        const idx: number[] = [];
        for (let h = 0; h < s[1]; h++) for (let w = 0; w < s[2]; w++) for (let c = g * per; c < (g + 1) * per; c++) idx.push(at(s, n, h, w, c));
        sets.push(idx);
      }
    }
    return sets;
  };
}

function data(s: Shape4, seed: number): { x: Float64Array; t: tf.Tensor4D } {
  const rng = new Rng(seed);
  const x = Float64Array.from({ length: s.reduce((a, b) => a * b) }, () => 3 * rng.normal() + 1.5);
  return { x, t: tf.tensor4d(Float32Array.from(x), s) };
}

async function expectClose(actual: tf.Tensor, want: Float64Array, tol = 2e-5): Promise<void> {
  const got = await actual.data();
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect(worst).toBeLessThan(tol);
}

const S: Shape4 = [2, 3, 2, 6];
const gamma = [0.5, -1, 2, 1.5, 0.25, 3];
const beta = [0.1, 0.2, -0.3, 0.4, -0.5, 0.6];

describe('GroupNorm', () => {
  it('standardises each (example, group) over positions and the group\'s channels, then the per-channel affine', async () => {
    const { x, t } = data(S, 1);
    const gn = new GroupNorm(3, 6, { eps: 1e-5 });
    gn.params.weight!.assign(tf.tensor1d(gamma));
    gn.params.bias!.assign(tf.tensor1d(beta));
    await expectClose(gn.apply(t), reference(x, S, groupSets(S, 3), 1e-5, gamma, beta));
    gn.dispose();
  });

  it('groups = channels is InstanceNorm; groups = 1 is LayerNorm over (H, W, C)', async () => {
    const { x, t } = data(S, 2);
    const perChannel = reference(x, S, groupSets(S, 6), 1e-5);
    await expectClose(groupNorm(t, 6, 1e-5), perChannel);
    await expectClose(new InstanceNorm(6).apply(t), perChannel);
    const perExample = reference(x, S, groupSets(S, 1), 1e-5);
    await expectClose(groupNorm(t, 1, 1e-5), perExample);
    await expectClose(new LayerNorm([3, 2, 6], { elementwiseAffine: false }).apply(t), perExample);
  });

  it('eps enters inside the square root (constant groups map to 0, not NaN)', async () => {
    const t = tf.fill([1, 2, 2, 2], 7);
    expect(Array.from(await groupNorm(t, 2, 1e-5).data())).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('rejects group counts that do not divide the channels, and wrong channel counts', () => {
    expect(() => new GroupNorm(4, 6)).toThrow(ModelConfigError);
    expect(() => new GroupNorm(3, 6).apply(tf.zeros([1, 2, 2, 4]))).toThrow(/6 channels/);
    expect(() => groupNorm(tf.zeros([1, 2, 2, 6]), 4, 1e-5)).toThrow(ModelInputError);
  });
});

describe('LayerNorm', () => {
  it('normalises the last axis with an elementwise affine', async () => {
    const { x, t } = data(S, 3);
    const ln = new LayerNorm(6);
    ln.params.weight!.assign(tf.tensor1d(gamma));
    ln.params.bias!.assign(tf.tensor1d(beta));
    const perPosition = () => {
      const sets: number[][] = [];
      for (let p = 0; p < x.length / 6; p++) sets.push(Array.from({ length: 6 }, (_, c) => p * 6 + c));
      return sets;
    };
    await expectClose(ln.apply(t), reference(x, S, perPosition, 1e-5, gamma, beta));
  });

  it('rejects inputs whose trailing shape differs from normalizedShape', () => {
    expect(() => new LayerNorm([2, 6]).apply(tf.zeros([1, 3, 6]))).toThrow(/ending in \[2, 6\]/);
  });
});

describe('InstanceNorm', () => {
  it('standardises each (example, channel) over positions; affine optional (off by default, as PyTorch)', async () => {
    const { x, t } = data(S, 4);
    const inorm = new InstanceNorm(6, { affine: true });
    inorm.params.weight!.assign(tf.tensor1d(gamma));
    inorm.params.bias!.assign(tf.tensor1d(beta));
    await expectClose(inorm.apply(t), reference(x, S, groupSets(S, 6), 1e-5, gamma, beta));
    expect(Object.keys(new InstanceNorm(6).params)).toEqual([]);
  });
});

describe('BatchNorm', () => {
  const perChannelOverBatch = (s: Shape4) => () =>
    Array.from({ length: s[3] }, (_, c) => {
      const idx: number[] = [];
      for (let n = 0; n < s[0]; n++) for (let h = 0; h < s[1]; h++) for (let w = 0; w < s[2]; w++) idx.push(at(s, n, h, w, c));
      return idx;
    });

  function stats(x: Float64Array, s: Shape4) {
    return perChannelOverBatch(s)().map((idx) => {
      const mean = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
      const ss = idx.reduce((a, i) => a + (x[i]! - mean) ** 2, 0);
      return { mean, biased: ss / idx.length, unbiased: ss / (idx.length - 1) };
    });
  }

  it('training: batch statistics (biased variance); running stats follow PyTorch momentum with the unbiased variance', async () => {
    const bn = new BatchNorm(6, { momentum: 0.1 });
    bn.params.weight!.assign(tf.tensor1d(gamma));
    bn.params.bias!.assign(tf.tensor1d(beta));
    const a = data(S, 5);
    const b = data(S, 6);
    await expectClose(bn.apply(a.t), reference(a.x, S, perChannelOverBatch(S), 1e-5, gamma, beta));
    bn.apply(b.t);
    const sa = stats(a.x, S);
    const sb = stats(b.x, S);
    const wantMean = sa.map((_, c) => 0.9 * (0.9 * 0 + 0.1 * sa[c]!.mean) + 0.1 * sb[c]!.mean);
    const wantVar = sa.map((_, c) => 0.9 * (0.9 * 1 + 0.1 * sa[c]!.unbiased) + 0.1 * sb[c]!.unbiased);
    await expectClose(bn.buffers.running_mean!, Float64Array.from(wantMean), 1e-5);
    await expectClose(bn.buffers.running_var!, Float64Array.from(wantVar), 1e-4);
    expect((await bn.buffers.num_batches_tracked!.data())[0]).toBe(2);

    // eval: normalise with the running statistics
    bn.eval();
    const c = data(S, 7);
    const want = Float64Array.from(c.x, (v, i) => {
      const ch = i % 6;
      return ((v - wantMean[ch]!) / Math.sqrt(wantVar[ch]! + 1e-5)) * gamma[ch]! + beta[ch]!;
    });
    await expectClose(bn.apply(c.t), want, 1e-4);
    expect((await bn.buffers.num_batches_tracked!.data())[0]).toBe(2);
    bn.dispose();
  });

  it('momentum null keeps the cumulative average of the batch statistics', async () => {
    const bn = new BatchNorm(6, { momentum: null, affine: false });
    const xs = [data(S, 8), data(S, 9), data(S, 10)];
    for (const d of xs) bn.apply(d.t);
    const means = xs.map((d) => stats(d.x, S).map((s) => s.mean));
    await expectClose(bn.buffers.running_mean!, Float64Array.from({ length: 6 }, (_, c) => (means[0]![c]! + means[1]![c]! + means[2]![c]!) / 3), 1e-5);
  });

  it('works on [N, C] inputs and under tf.variableGrads, where running statistics are not trainable', () => {
    const bn = new BatchNorm(3);
    const x = new Rng(11).normalTensor([5, 3]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(bn.apply(x))) as tf.Scalar);
    expect(Object.keys(grads).length).toBe(2); // weight and bias only
    value.dispose();
    for (const g of Object.values(grads)) g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a training batch with one value per channel and bad options', () => {
    expect(() => new BatchNorm(3).apply(tf.zeros([1, 3]))).toThrow(/more than one value per channel/);
    expect(() => new BatchNorm(3, { momentum: 1.5 })).toThrow(ModelConfigError);
    expect(() => new BatchNorm(3, { eps: 0 })).toThrow(/eps/);
  });
});
