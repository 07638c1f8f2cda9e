import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoTensorLeaks, initBackend, Rng, WASM_TRAINING_KERNELS } from '../src/index.js';

const quiet = { log: () => {} };

/** Runs fn on the named backend and returns plain arrays, so results can be compared across backends. */
async function on<T>(backend: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await initBackend({ backend, ...quiet });
  return fn();
}

function arrays(ts: tf.Tensor[]): Float32Array[] {
  return ts.map((t) => t.dataSync() as Float32Array);
}

function expectClose(a: Float32Array[], b: Float32Array[], tol: number): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(a[i]!.length).toBe(b[i]!.length);
    let worst = 0;
    for (let j = 0; j < a[i]!.length; j++) {
      const scale = Math.max(1, Math.abs(b[i]![j]!));
      worst = Math.max(worst, Math.abs(a[i]![j]! - b[i]![j]!) / scale);
    }
    expect(worst, `array ${i}`).toBeLessThan(tol);
  }
}

// A tiny transformer block trained one step: embedding gather, layer norm via moments,
// attention with softmax, GELU MLP, cross-entropy, and an Adam-style update.
function transformerStep(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  const V = 11, D = 8, T = 5, B = 3, H = 16;
  const p = {
    emb: tf.variable(rng.normalTensor([V, D], 0, 0.5)),
    wq: tf.variable(rng.normalTensor([D, D], 0, 0.3)),
    wk: tf.variable(rng.normalTensor([D, D], 0, 0.3)),
    wv: tf.variable(rng.normalTensor([D, D], 0, 0.3)),
    w1: tf.variable(rng.normalTensor([D, H], 0, 0.3)),
    w2: tf.variable(rng.normalTensor([H, D], 0, 0.3)),
    gamma: tf.variable(tf.ones([D])),
  };
  const tokens = tf.tensor2d(Array.from({ length: B * T }, () => rng.int(V)), [B, T], 'int32');
  const targets = tf.oneHot(tf.tensor1d(Array.from({ length: B * T }, () => rng.int(V)), 'int32'), V);
  const loss = () =>
    tf.tidy(() => {
      const x = tf.gather(p.emb, tokens); // [B,T,D]
      const { mean, variance } = tf.moments(x, -1, true);
      const h = tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), p.gamma);
      const flat = tf.reshape(h, [B * T, D]);
      const q = tf.reshape(tf.matMul(flat, p.wq), [B, T, D]);
      const k = tf.reshape(tf.matMul(flat, p.wk), [B, T, D]);
      const v = tf.reshape(tf.matMul(flat, p.wv), [B, T, D]);
      const att = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(D)));
      const a = tf.add(x, tf.matMul(att, v));
      const a2 = tf.reshape(a, [B * T, D]);
      const u = tf.matMul(a2, p.w1);
      const gelu = tf.mul(tf.mul(u, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(u, tf.mul(0.044715, tf.pow(u, 3)))))));
      const out = tf.add(a2, tf.matMul(gelu, p.w2));
      const logits = tf.matMul(out, p.emb, false, true);
      return tf.mean(tf.neg(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), -1))) as tf.Scalar;
    });
  const { value, grads } = tf.variableGrads(loss);
  const names = Object.keys(p) as (keyof typeof p)[];
  const updated = names.map((n) =>
    tf.tidy(() => {
      const g = grads[p[n].name]!;
      const m = tf.mul(g, 0.1);
      const v = tf.mul(tf.square(g), 0.001);
      return tf.sub(p[n], tf.mul(0.01, tf.div(m, tf.add(tf.sqrt(v), 1e-8))));
    }),
  );
  return arrays([value, ...names.map((n) => grads[p[n].name]!), ...updated]);
}

// Patch embedding (stride = kernel), a padded 3x3 conv with SiLU, a depthwise conv and a
// strided 'valid' conv, trained through a squared loss.
function convStep(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  const x = rng.normalTensor([2, 8, 8, 3], 0, 1) as tf.Tensor4D;
  const p = {
    patch: tf.variable(rng.normalTensor([4, 4, 3, 5], 0, 0.3)),
    c3: tf.variable(rng.normalTensor([3, 3, 5, 4], 0, 0.3)),
    dw: tf.variable(rng.normalTensor([3, 3, 4, 2], 0, 0.3)),
    s2: tf.variable(rng.normalTensor([3, 3, 8, 3], 0, 0.3)),
  };
  const f = () =>
    tf.tidy(() => {
      const h0 = tf.conv2d(x, p.patch as tf.Tensor4D, 4, 'valid'); // [2,2,2,5]
      const up = tf.image.resizeNearestNeighbor(h0, [7, 7]);
      const h1 = tf.conv2d(up, p.c3 as tf.Tensor4D, 1, 'same');
      const h2 = tf.mul(h1, tf.sigmoid(h1));
      const h3 = tf.depthwiseConv2d(h2 as tf.Tensor4D, p.dw as tf.Tensor4D, 2, 'same');
      const h4 = tf.conv2d(h3, p.s2 as tf.Tensor4D, 2, 'valid');
      return tf.mean(tf.square(h4)) as tf.Scalar;
    });
  const { value, grads } = tf.variableGrads(f);
  const names = Object.keys(p) as (keyof typeof p)[];
  return arrays([value, ...names.map((n) => grads[p[n].name]!)]);
}

describe('wasm training kernels', () => {
  it('lists the kernels it adds, all of which stock wasm lacks', async () => {
    expect(WASM_TRAINING_KERNELS).toEqual([
      'UnsortedSegmentSum',
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
    ]);
  });

  it('a transformer-style training step on wasm matches cpu', async () => {
    const cpu = await on('cpu', () => transformerStep(7));
    const wasm = await on('wasm', () => transformerStep(7));
    expectClose(wasm, cpu, 1e-4);
  });

  it('convolution gradients (patch embed, padded, strided depthwise, strided) on wasm match cpu', async () => {
    const cpu = await on('cpu', () => convStep(3));
    const wasm = await on('wasm', () => convStep(3));
    expectClose(wasm, cpu, 1e-4);
  });

  it('UnsortedSegmentSum sums rows by segment, drops out-of-range ids, keeps int32', async () => {
    await initBackend({ backend: 'wasm', ...quiet });
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]);
    const s = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], 'int32'), 3);
    expect(s.shape).toEqual([3, 2]);
    expect(Array.from(s.dataSync())).toEqual([3, 4, 0, 0, 6, 8]);
    const xi = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32');
    const si = tf.unsortedSegmentSum(xi, tf.tensor2d([[1, 1], [0, 1]], [2, 2], 'int32') as unknown as tf.Tensor1D, 2);
    expect(si.dtype).toBe('int32');
    expect(Array.from(si.dataSync())).toEqual([5, 6, 1 + 3 + 7, 2 + 4 + 8]);
    tf.dispose([x, s, xi, si]);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`ResizeNearestNeighbor's gradient on ${backend} equals the transpose of its forward map`, async () => {
      await initBackend({ backend, ...quiet });
      const rng = new Rng(5);
      for (const [from, to, alignCorners, halfPixel] of [
        [2, 7, false, false],
        [3, 7, true, false],
        [3, 8, false, true],
        [4, 2, false, false],
      ] as const) {
        const x = rng.normalTensor([2, from, from, 3], 0, 1) as tf.Tensor4D;
        const w = rng.normalTensor([2, to, to, 3], 0, 1);
        const resize = (t: tf.Tensor) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [to, to], alignCorners, halfPixel);
        const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(resize(t), w)))(x).dataSync();
        // The forward is linear, so d/dx_i sum(resize(x)·w) = sum(resize(e_i)·w) for the basis image e_i.
        for (let i = 0; i < x.size; i++) {
          const want = tf.tidy(() => tf.sum(tf.mul(resize(tf.reshape(tf.oneHot([i], x.size), x.shape)), w)).dataSync()[0]!);
          expect(grad[i]).toBeCloseTo(want, 5);
        }
        tf.dispose([x, w]);
      }
    });
  }

  it('added kernels free every intermediate (tensors and wasm heap buffers)', async () => {
    await initBackend({ backend: 'wasm', ...quiet });
    const rng = new Rng(9);
    const x = rng.normalTensor([2, 6, 6, 3], 0, 1) as tf.Tensor4D;
    const f = rng.normalTensor([3, 3, 3, 4], 0, 1) as tf.Tensor4D;
    const d = rng.normalTensor([3, 3, 3, 2], 0, 1) as tf.Tensor4D;
    const table = rng.normalTensor([5, 3], 0, 1);
    const ids = tf.tensor1d([4, 0, 4], 'int32');
    const step = () =>
      tf.tidy(() => {
        const gs = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, t: tf.Tensor) =>
          tf.add(
            tf.add(tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')), tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, 'valid'))),
            tf.sum(tf.square(tf.gather(t, ids))),
          ),
        )([x, f, d, table]);
        gs.forEach((g) => g.dataSync());
      });
    step();
    const dataIds = tf.backend().numDataIds();
    await expectNoTensorLeaks(step);
    expect(tf.backend().numDataIds()).toBe(dataIds);
    tf.dispose([x, f, d, table, ids]);
  });

  it('the gradient of gather accumulates repeated indices', async () => {
    await initBackend({ backend: 'wasm', ...quiet });
    const table = tf.tensor2d([[1, 1], [1, 1], [1, 1]]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([2, 0, 2, 2], 'int32')), tf.tensor1d([1, 10]))))(table);
    expect(Array.from(g.dataSync())).toEqual([1, 10, 0, 0, 3, 30]);
    tf.dispose([table, g]);
  });
});
