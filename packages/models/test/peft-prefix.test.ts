// Prefix tuning: names, shapes and the count depth·2·L·d; attention over [prefix; keys] and
// [prefix; values] against float64 (values and prefix gradients) on cpu and native; the composed path on no
// prefix against the fused kernel; length 0 on whole DiTs (RoPE included) equal to the base.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng, registerNativeBackend } from '@difflab/core-tensor';
import { DIT_BLOCKS, type DiT, type DiTConfig, ModelInputError, createDiT, createPrefixTuning } from '../src/index.js';
import { prefixedSelfAttention } from '../src/peft/prefix-attention.js';
import { selfAttentionCore } from '../src/dit/fused.js';

const reg = registerNativeBackend();
if (!reg.ok) throw new Error(`native backend unavailable: ${reg.reason}; run npm run build-native -w @difflab/core-tensor`);
await tf.setBackend('cpu');

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
  mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
};

function randomize(model: DiT, seed: number): void {
  const rng = new Rng(seed);
  for (const name of Object.keys(model.params).sort()) model.params[name]!.assign(rng.normalTensor(model.params[name]!.shape, 0, 0.2));
}

async function run(model: DiT, cfg: DiTConfig, adaptation?: Parameters<DiT['forward']>[3]): Promise<Float32Array> {
  const x = new Rng(7).normalTensor([2, cfg.inputSize, cfg.inputSize, cfg.inChannels]) as tf.Tensor4D;
  const t = tf.tensor1d([3, 700]);
  const y = tf.tensor1d([1, 4], 'int32');
  const out = model.forward(x, t, y, adaptation);
  const v = (await out.data()) as Float32Array;
  tf.dispose([out, x, t, y]);
  return v;
}

/**
 * Float64 attention of every query over the keys and values [P_k; K], [P_v; V], head by head:
 * qkv [B, T, 3d] (q, k, v then heads), pk, pv [L, d] → [B, T, d].
 */
function prefixedAttentionRef(qkv: ArrayLike<number>, pk: ArrayLike<number>, pv: ArrayLike<number>, b: number, n: number, d: number, heads: number, len: number): Float64Array {
  const hd = d / heads;
  const out = new Float64Array(b * n * d);
  const token = (bi: number, t: number, part: number, h: number, j: number) => qkv[(bi * n + t) * 3 * d + part * d + h * hd + j]!;
  // Key/value m of the extended sequence: m < len is prefix row m, else token m − len.
  const key = (bi: number, m: number, h: number, j: number) => (m < len ? pk[m * d + h * hd + j]! : token(bi, m - len, 1, h, j));
  const value = (bi: number, m: number, h: number, j: number) => (m < len ? pv[m * d + h * hd + j]! : token(bi, m - len, 2, h, j));
  for (let bi = 0; bi < b; bi++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        const logits = Array.from({ length: len + n }, (_, m) => {
          let s = 0;
          for (let j = 0; j < hd; j++) s += token(bi, i, 0, h, j) * key(bi, m, h, j);
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const z = e.reduce((s, v) => s + v, 0);
        for (let j = 0; j < hd; j++) {
          let acc = 0;
          for (let m = 0; m < len + n; m++) acc += (e[m]! / z) * value(bi, m, h, j);
          out[(bi * n + i) * d + h * hd + j] = acc;
        }
      }
    }
  }
  return out;
}

describe('prefix parameters', () => {
  it('blocks.<i>.attn.prefix_k and prefix_v [L, d]; count depth·2·L·d; random (not zero) initial values', async () => {
    const model = createDiT({ ...tiny, depth: 3 }, new Rng(1));
    const prefix = createPrefixTuning(model, { length: 4 }, new Rng(2));
    expect(Object.keys(prefix.params)).toEqual([
      'blocks.0.attn.prefix_k', 'blocks.0.attn.prefix_v', 'blocks.1.attn.prefix_k', 'blocks.1.attn.prefix_v', 'blocks.2.attn.prefix_k', 'blocks.2.attn.prefix_v',
    ]);
    for (const v of Object.values(prefix.params)) expect(v.shape).toEqual([4, 16]);
    expect(prefix.trainableCount).toBe(3 * 2 * 4 * 16);
    const k = (await prefix.params['blocks.0.attn.prefix_k']!.data()) as Float32Array;
    const std = Math.sqrt(k.reduce((s, v) => s + v * v, 0) / k.length);
    expect(std).toBeGreaterThan(0.015);
    expect(std).toBeLessThan(0.025);
    prefix.dispose();
    model.dispose();
  });
});

describe('attention with prefixes', () => {
  const [b, n, d, heads, len] = [2, 3, 8, 2, 2];
  const qkvValues = new Rng(3).normalArray(b * n * 3 * d);
  const pkValues = new Rng(4).normalArray(len * d);
  const pvValues = new Rng(5).normalArray(len * d);

  for (const backend of ['cpu', 'native'] as const) {
    it(`${backend}: softmax(q·[P_k; K]ᵀ/√hd)·[P_v; V] per head against float64, and its prefix gradients`, async () => {
      await tf.setBackend(backend);
      const qkv = tf.tensor3d(qkvValues, [b, n, 3 * d]);
      const pk = tf.tensor2d(pkValues, [len, d]);
      const pv = tf.tensor2d(pvValues, [len, d]);
      const got = await prefixedSelfAttention(qkv, pk, pv, heads).data();
      const want = prefixedAttentionRef(qkvValues, pkValues, pvValues, b, n, d, heads, len);
      want.forEach((w, i) => expect(Math.abs(got[i]! - w), `[${i}]`).toBeLessThan(1e-5 * (1 + Math.abs(w))));

      // d Σ w·out / d P_k, d P_v against float64 central differences.
      const weights = new Rng(6).normalArray(b * n * d);
      const [gk, gv] = tf.grads((k: tf.Tensor, v: tf.Tensor) => tf.sum(tf.mul(prefixedSelfAttention(qkv, k, v, heads), tf.tensor3d(weights, [b, n, d]))))([pk, pv]);
      const loss = (k: Float64Array, v: Float64Array) => prefixedAttentionRef(qkvValues, k, v, b, n, d, heads, len).reduce((s, o, i) => s + o * weights[i]!, 0);
      for (const [which, g] of [['k', await gk!.data()], ['v', await gv!.data()]] as const) {
        for (let i = 0; i < len * d; i++) {
          const k = Float64Array.from(pkValues), v = Float64Array.from(pvValues);
          const x = which === 'k' ? k : v;
          x[i]! += 1e-6;
          const up = loss(k, v);
          x[i]! -= 2e-6;
          const fd = (up - loss(k, v)) / 2e-6;
          expect(Math.abs(g[i]! - fd), `d/dP_${which}[${i}]`).toBeLessThan(1e-4 * (1 + Math.abs(fd)));
        }
      }
      tf.dispose([qkv, pk, pv, gk!, gv!]);
      await tf.setBackend('cpu');
    });

    it(`${backend}: no prefix (L = 0) equals the fused self-attention kernel`, async () => {
      await tf.setBackend(backend);
      const qkv = tf.tensor3d(qkvValues, [b, n, 3 * d]);
      const none = tf.zeros([0, d]);
      const composed = await prefixedSelfAttention(qkv, none, none, heads).data();
      const fused = await selfAttentionCore(qkv, heads).data();
      const want = prefixedAttentionRef(qkvValues, [], [], b, n, d, heads, 0);
      if (backend === 'cpu') expect(composed).toEqual(fused); // the kernel's tfjs fallback: same ops, same bits
      fused.forEach((f, i) => expect(Math.abs(composed[i]! - f)).toBeLessThan(1e-6 * (1 + Math.abs(f))));
      want.forEach((w, i) => expect(Math.abs(composed[i]! - w)).toBeLessThan(1e-5 * (1 + Math.abs(w))));
      tf.dispose([qkv, none]);
      await tf.setBackend('cpu');
    });
  }
});

describe('prefix tuning on the DiT', () => {
  for (const block of DIT_BLOCKS) {
    it(`${block} with RoPE: length 0 equals the base (bit for bit on cpu); length 2 changes it`, async () => {
      const cfg: DiTConfig = { ...tiny, block, rope: true };
      const model = createDiT(cfg, new Rng(1));
      randomize(model, 2);
      const base = await run(model, cfg);
      const empty = createPrefixTuning(model, { length: 0 }, new Rng(3));
      expect(await run(model, cfg, { adaptation: empty.adaptation })).toEqual(base);
      const prefix = createPrefixTuning(model, { length: 2 }, new Rng(3));
      const adapted = await run(model, cfg, { adaptation: prefix.adaptation });
      expect(adapted.length).toBe(base.length); // queries are not prefixed
      expect(adapted.some((v, i) => Math.abs(v - base[i]!) > 1e-4)).toBe(true);
      empty.dispose();
      prefix.dispose();
      model.dispose();
    });
  }

  it('a prefix hook with the wrong shape is a ModelInputError naming the block and the shape', async () => {
    const model = createDiT(tiny, new Rng(1));
    const k = tf.zeros([2, 16]) as tf.Tensor2D;
    const v = tf.zeros([3, 16]) as tf.Tensor2D;
    await expect(run(model, tiny, { adaptation: { prefix: () => ({ k, v }) } })).rejects.toThrow(ModelInputError);
    await expect(run(model, tiny, { adaptation: { prefix: (i) => (i === 1 ? { k, v: k.reshape([2, 4, 4]) as unknown as tf.Tensor2D } : null) } })).rejects.toThrow(
      /DiT block 1: prefix v must be \[L, 16\] with the same L for k and v, got \[2, 4, 4\]/,
    );
    tf.dispose([k, v]);
    model.dispose();
  });
});
