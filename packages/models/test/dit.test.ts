import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import {
  DIT_BLOCKS,
  type DiTConfig,
  ModelConfigError,
  ModelInputError,
  createDiT,
  patchify,
  sincosPosEmbed2d,
  timestepFrequencies,
  unpatchify,
} from '../src/index.js';

await tf.setBackend('cpu');

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
  mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
};

function inputs(b: number, cfg: DiTConfig = tiny) {
  const x = new Rng(7).normalTensor([b, cfg.inputSize, cfg.inputSize, cfg.inChannels]) as tf.Tensor4D;
  const t = tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 397) % 1000), 'float32');
  const y = tf.tensor1d(Array.from({ length: b }, (_, i) => i % cfg.numClasses), 'int32');
  return { x, t, y };
}

describe('patchify', () => {
  it('round-trips and orders tokens row-major with (row, column, channel) patch vectors', async () => {
    const [b, h, w, c, p] = [2, 4, 6, 3, 2];
    const x = tf.tensor4d(Float32Array.from({ length: b * h * w * c }, (_, i) => i), [b, h, w, c]);
    const tokens = patchify(x, p);
    expect(tokens.shape).toEqual([b * 2 * 3, p * p * c]);
    const xv = await x.array();
    const tv = await tokens.array();
    // token (batch 1, grid row 1, grid column 2), patch element (i=1, j=0, ch=2)
    expect(tv[1 * 6 + 1 * 3 + 2]![(1 * p + 0) * c + 2]).toBe(xv[1]![1 * p + 1]![2 * p + 0]![2]);
    // unpatchify expects a square grid; round-trip a square input
    const sq = new Rng(1).normalTensor([2, 6, 6, 3]) as tf.Tensor4D;
    const back = unpatchify(patchify(sq, 3), 2, 2, 3, 3);
    expect(await back.data()).toEqual(await sq.data());
  });
});

describe('embeddings', () => {
  it('2-D sin-cos positional embedding matches the closed form', () => {
    // dim 8 → quarter 2, ω = [1, 10000^(-1/2) = 0.01]; token 1 is (row 0, column 1), token 2 is (row 1, column 0).
    const pe = sincosPosEmbed2d(8, 2);
    const row = (n: number) => Array.from(pe.subarray(n * 8, n * 8 + 8));
    expect(row(0)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    const t1 = row(1);
    const want1 = [Math.sin(1), Math.sin(0.01), Math.cos(1), Math.cos(0.01), 0, 0, 1, 1];
    t1.forEach((v, i) => expect(v).toBeCloseTo(want1[i]!, 14));
    const t2 = row(2);
    const want2 = [0, 0, 1, 1, Math.sin(1), Math.sin(0.01), Math.cos(1), Math.cos(0.01)];
    t2.forEach((v, i) => expect(v).toBeCloseTo(want2[i]!, 14));
  });

  it('timestep frequencies are [cos, sin] with max period 10000', async () => {
    const e = await timestepFrequencies(tf.tensor1d([0, 3]), 4).array();
    expect(e[0]).toEqual([1, 1, 0, 0]);
    const want = [Math.cos(3), Math.cos(0.03), Math.sin(3), Math.sin(0.03)];
    e[1]!.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
  });
});

describe('createDiT', () => {
  for (const block of DIT_BLOCKS) {
    for (const learnSigma of [false, true]) {
      it(`${block}, learnSigma=${learnSigma}: output shape, no leaks`, async () => {
        const model = createDiT({ ...tiny, block, learnSigma }, new Rng(1));
        const { x, t, y } = inputs(3);
        const before = tf.memory().numTensors;
        const out = model.forward(x, t, y, { labelDropout: new Rng(2) });
        expect(out.shape).toEqual([3, 8, 8, learnSigma ? 6 : 3]);
        expect(tf.memory().numTensors).toBe(before + 1);
        expect(Array.from(await out.data()).every(Number.isFinite)).toBe(true);
        out.dispose();
        // gradients through every design, also without leaks
        const g0 = tf.memory().numTensors;
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, t, y))) as tf.Scalar);
        const names = Object.keys(grads);
        expect(names.length).toBe(Object.keys(model.params).length);
        value.dispose();
        tf.dispose(grads);
        expect(tf.memory().numTensors).toBe(g0);
        model.dispose();
        tf.dispose([x, t, y]);
      });
    }
  }

  it('createDiT + dispose leaves no tensor behind', () => {
    for (const block of DIT_BLOCKS) {
      const before = tf.memory().numTensors;
      const model = createDiT({ ...tiny, block }, new Rng(1));
      // every parameter plus the positional embedding, nothing else
      expect(tf.memory().numTensors).toBe(before + Object.keys(model.params).length + 1);
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('uses the PyTorch state_dict names with [in, out] linear layouts', () => {
    const model = createDiT({ ...tiny, learnSigma: true }, new Rng(1));
    const p = model.params;
    expect(p['x_embedder.proj.weight']!.shape).toEqual([2 * 2 * 3, 16]);
    expect(p['blocks.0.attn.qkv.weight']!.shape).toEqual([16, 48]);
    expect(p['blocks.1.adaLN_modulation.1.weight']!.shape).toEqual([16, 96]);
    expect(p['t_embedder.mlp.0.weight']!.shape).toEqual([256, 16]);
    expect(p['y_embedder.embedding_table.weight']!.shape).toEqual([6, 16]);
    expect(p['final_layer.linear.weight']!.shape).toEqual([16, 2 * 2 * 6]);
    model.dispose();
  });

  it('adaLN-Zero: blocks are the identity and the final layer outputs zeros at init', async () => {
    const deep = createDiT({ ...tiny, depth: 3 }, new Rng(1));
    const { x, t, y } = inputs(2);
    expect(Array.from(await deep.forward(x, t, y).data()).every((v) => v === 0)).toBe(true);
    // Make the final layer non-zero; a depth-1 model sharing every non-block weight must then agree
    // with the depth-3 one, which holds only if each block maps its input to itself.
    const rng = new Rng(9);
    for (const name of ['final_layer.linear.weight', 'final_layer.adaLN_modulation.1.weight']) {
      const v = deep.params[name]!;
      v.assign(rng.normalTensor(v.shape, 0, 0.3));
    }
    const shallow = createDiT({ ...tiny, depth: 1 }, new Rng(2));
    for (const [name, v] of Object.entries(shallow.params)) {
      if (!name.startsWith('blocks.')) v.assign(deep.params[name]!);
    }
    const a = await deep.forward(x, t, y).data();
    const b = await shallow.forward(x, t, y).data();
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.01);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 5));
    deep.dispose();
    shallow.dispose();
  });

  it('onBlock sees each block\'s image tokens [B, N, d] and leaves the output unchanged', async () => {
    for (const block of DIT_BLOCKS) {
      const model = createDiT({ ...tiny, block, depth: 3 }, new Rng(1));
      const { x, t, y } = inputs(2);
      const plain = await model.forward(x, t, y).data();
      const seen: { index: number; shape: number[] }[] = [];
      const before = tf.memory().numTensors;
      const hooked = model.forward(x, t, y, { onBlock: (index, h) => seen.push({ index, shape: h.shape }) });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(await hooked.data()).toEqual(plain);
      expect(seen).toEqual([0, 1, 2].map((index) => ({ index, shape: [2, 16, 16] })));
      hooked.dispose();
      model.dispose();
      tf.dispose([x, t, y]);
    }
    // adaLN-Zero blocks are the identity at init, so every block's output is the token embedding
    // patchify(x)·W + b + pos_embed, computed here from the weights directly.
    const model = createDiT({ ...tiny, depth: 2 }, new Rng(1));
    const { x, t, y } = inputs(2);
    const embedded = tf.tidy(() =>
      tf.add(tf.reshape(tf.add(tf.matMul(patchify(x, 2), model.params['x_embedder.proj.weight']!), model.params['x_embedder.proj.bias']!), [2, 16, 16]), model.posEmbed),
    );
    const want = await embedded.data();
    const got: Float32Array[] = [];
    model.forward(x, t, y, { onBlock: (_, h) => got.push(h.dataSync() as Float32Array) }).dispose();
    expect(got.length).toBe(2);
    for (const g of got) g.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    tf.dispose([embedded, x, t, y]);
    model.dispose();
  });

  it('initialises as DiT: xavier-uniform linears, N(0, 0.02) label/timestep weights, zero biases', async () => {
    const model = createDiT({ ...tiny, hiddenSize: 64, numHeads: 4, block: 'adaLN' }, new Rng(3));
    const w = await model.params['blocks.0.mlp.fc1.weight']!.data();
    const bound = Math.sqrt(6 / (64 + 256));
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    const std = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std(await model.params['t_embedder.mlp.0.weight']!.data() as Float32Array)).toBeCloseTo(0.02, 3);
    expect(std(await model.params['y_embedder.embedding_table.weight']!.data() as Float32Array)).toBeCloseTo(0.02, 2);
    expect(Array.from(await model.params['blocks.0.attn.qkv.bias']!.data()).every((v) => v === 0)).toBe(true);
    // plain adaLN is not zero-initialised
    expect(Math.max(...(await model.params['blocks.0.adaLN_modulation.1.weight']!.data()).map(Math.abs))).toBeGreaterThan(0);
    model.dispose();
  });

  it('is deterministic in its seed, and label dropout follows the Rng', async () => {
    const cfg = { ...tiny, block: 'adaLN' as const, classDropoutProb: 0.5 };
    const m1 = createDiT(cfg, new Rng(4));
    const m2 = createDiT(cfg, new Rng(4));
    const { x, t, y } = inputs(8);
    const a = await m1.forward(x, t, y, { labelDropout: new Rng(5) }).data();
    expect(await m2.forward(x, t, y, { labelDropout: new Rng(5) }).data()).toEqual(a);
    // The same draws, applied by hand: label → null class (5) where u < 0.5.
    const r = new Rng(5);
    const yv = await y.data();
    const dropped = tf.tensor1d(Array.from(yv, (v) => (r.uniform() < 0.5 ? 5 : v)), 'int32');
    expect(Array.from(await dropped.data())).toContain(5);
    expect(await m1.forward(x, t, dropped).data()).toEqual(a);
    m1.dispose();
    m2.dispose();
  });

  it('rejects bad configs and inputs with messages that name the field', () => {
    expect(() => createDiT({ ...tiny, hiddenSize: 18 }, new Rng(0))).toThrow(ModelConfigError);
    expect(() => createDiT({ ...tiny, patchSize: 3 }, new Rng(0))).toThrow(/inputSize \(8\) must be divisible by patchSize/);
    expect(() => createDiT({ ...tiny, numHeads: 3 }, new Rng(0))).toThrow(/numHeads/);
    const model = createDiT(tiny, new Rng(0));
    const { x, t, y } = inputs(2);
    expect(() => model.forward(tf.zeros([2, 8, 8, 1]) as tf.Tensor4D, t, y)).toThrow(ModelInputError);
    expect(() => model.forward(x, tf.zeros([3]) as tf.Tensor1D, y)).toThrow(/timesteps t must have shape \[2\]/);
    expect(() => model.forward(x, t, tf.zeros([2]) as tf.Tensor1D)).toThrow(/labels y must be int32/);
    model.dispose();
  });
});
