// Houlsby adapters: names, shapes and the count depth·2·((d·m + m) + (m·d + d)); the adapter function
// against a float64 h + up(gelu(down(h))); placement on the sublayer outputs before adaLN-Zero's gates.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { type DiT, type DiTConfig, createDiT, createHoulsbyAdapters } from '../src/index.js';

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

const changed = (a: Float32Array, b: Float32Array) => a.some((v, i) => Math.abs(v - b[i]!) > 1e-5);

describe('Houlsby adapters', () => {
  it('two adapters per block: names, shapes, zero up, count depth·2·((dm + m) + (md + d))', async () => {
    const model = createDiT({ ...tiny, depth: 3 }, new Rng(1));
    const m = 5, d = 16;
    const adapter = createHoulsbyAdapters(model, { bottleneck: m }, new Rng(2));
    const names = Object.keys(adapter.params);
    expect(names.slice(0, 8)).toEqual([
      'blocks.0.adapter_attn.down.weight', 'blocks.0.adapter_attn.down.bias', 'blocks.0.adapter_attn.up.weight', 'blocks.0.adapter_attn.up.bias',
      'blocks.0.adapter_mlp.down.weight', 'blocks.0.adapter_mlp.down.bias', 'blocks.0.adapter_mlp.up.weight', 'blocks.0.adapter_mlp.up.bias',
    ]);
    expect(names.length).toBe(3 * 8);
    expect(adapter.params['blocks.2.adapter_mlp.down.weight']!.shape).toEqual([d, m]);
    expect(adapter.params['blocks.2.adapter_mlp.up.weight']!.shape).toEqual([m, d]);
    expect(adapter.trainableCount).toBe(3 * 2 * ((d * m + m) + (m * d + d)));
    expect(adapter.trainableCount).toBe(1086); // 6 · (80 + 5 + 80 + 16)
    for (const n of names.filter((k) => /\.up\.|down\.bias/.test(k))) expect(Array.from(await adapter.params[n]!.data()).every((v) => v === 0), n).toBe(true);
    const down = (await adapter.params['blocks.0.adapter_attn.down.weight']!.data()) as Float32Array;
    const std = Math.sqrt(down.reduce((s, v) => s + v * v, 0) / down.length);
    expect(std).toBeGreaterThan(0.014); // N(0, 0.02²), 80 draws
    expect(std).toBeLessThan(0.026);
    adapter.dispose();
    model.dispose();
  });

  it('a(h) = h + up(gelu_tanh(down(h))) against float64', async () => {
    const model = createDiT(tiny, new Rng(1));
    const m = 3, d = 16, rows = 2 * 5;
    const adapter = createHoulsbyAdapters(model, { bottleneck: m }, new Rng(2));
    const rng = new Rng(3);
    for (const v of Object.values(adapter.params)) v.assign(rng.normalTensor(v.shape, 0, 0.5));
    const h = new Rng(4).normalTensor([2, 5, d]) as tf.Tensor3D;
    const got = tf.tidy(() => adapter.adaptation.afterMlp!(1, h)).dataSync();
    const p = 'blocks.1.adapter_mlp';
    const [hv, dw, db, uw, ub] = await Promise.all([h.data(), ...['down.weight', 'down.bias', 'up.weight', 'up.bias'].map((n) => adapter.params[`${p}.${n}`]!.data())]);
    const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      const z = Array.from({ length: m }, (_, k) => {
        let s = db![k]!;
        for (let c = 0; c < d; c++) s += hv![r * d + c]! * dw![c * m + k]!;
        return gelu(s);
      });
      for (let c = 0; c < d; c++) {
        let want = hv![r * d + c]! + ub![c]!;
        for (let k = 0; k < m; k++) want += z[k]! * uw![k * d + c]!;
        worst = Math.max(worst, Math.abs(got[r * d + c]! - want) / (1 + Math.abs(want)));
      }
    }
    expect(worst).toBeLessThan(1e-6);
    // The attention adapter of the same block has its own parameters.
    const attn = tf.tidy(() => adapter.adaptation.afterAttention!(1, h)).dataSync();
    expect(Array.from(attn)).not.toEqual(Array.from(got));
    h.dispose();
    adapter.dispose();
    model.dispose();
  });

  it('sits on the sublayer output before adaLN-Zero’s gate: with a block’s attention gate at zero its attention adapter has no effect', async () => {
    const cfg: DiTConfig = { ...tiny, depth: 1 };
    const model = createDiT(cfg, new Rng(1));
    randomize(model, 2);
    // adaLN_modulation.1 outputs (shift, scale, gate) for attention, then for the MLP: zero gate_msa's columns [2d, 3d).
    const d = 16;
    for (const name of ['blocks.0.adaLN_modulation.1.weight', 'blocks.0.adaLN_modulation.1.bias']) {
      const v = model.params[name]!;
      const values = v.dataSync().slice();
      const cols = v.shape[v.rank - 1]!;
      for (let i = 0; i < values.length; i++) if (i % cols >= 2 * d && i % cols < 3 * d) values[i] = 0;
      v.assign(tf.tensor(values, v.shape));
    }
    const base = await run(model, cfg);
    const adapter = createHoulsbyAdapters(model, { bottleneck: 4 }, new Rng(3));
    const rng = new Rng(4);
    for (const [name, v] of Object.entries(adapter.params)) if (name.includes('adapter_attn')) v.assign(rng.normalTensor(v.shape));
    expect(await run(model, cfg, { adaptation: adapter.adaptation })).toEqual(base);
    for (const [name, v] of Object.entries(adapter.params)) if (name.includes('adapter_mlp')) v.assign(rng.normalTensor(v.shape));
    expect(changed(await run(model, cfg, { adaptation: adapter.adaptation }), base)).toBe(true);
    adapter.dispose();
    model.dispose();
  });

  for (const block of ['adaLN', 'in-context', 'cross-attention'] as const) {
    it(`${block}: both adapters of every block change the output once trained`, async () => {
      const cfg: DiTConfig = { ...tiny, block };
      const model = createDiT(cfg, new Rng(1));
      randomize(model, 2);
      const base = await run(model, cfg);
      for (const where of ['adapter_attn', 'adapter_mlp']) {
        for (let i = 0; i < cfg.depth; i++) {
          const adapter = createHoulsbyAdapters(model, { bottleneck: 2 }, new Rng(3));
          adapter.params[`blocks.${i}.${where}.up.bias`]!.assign(new Rng(4).normalTensor([16]));
          expect(changed(await run(model, cfg, { adaptation: adapter.adaptation }), base), `blocks.${i}.${where}`).toBe(true);
          adapter.dispose();
        }
      }
      model.dispose();
    });
  }
});
