// The attacks back-propagate through the model's own sampler and the attacking network: the gradient of the
// objective in the label row and in x_T equals central differences of the same objective computed without a tape;
// each attack lowers its objective, touches no model weight, repeats under its seed and frees its tensors; x_T is
// projected onto the √dim sphere; a model without labels is refused.
import { describe, expect, it } from 'vitest';
import { Rng, initBackend, tf } from '@difflab/core-tensor';
import { FmnistFeatureNet } from '@difflab/metrics';
import { createRunDenoiser, makeSampler, parseTrainConfig, type Denoiser } from '@difflab/runs';
import { attackClass, attackObjective, ontoSphere } from '../src/attack.js';

await initBackend();

const C = 3;
const config = () =>
  parseTrainConfig({
    seed: 0,
    data: { pad32: true },
    model: { preset: 'DiT-FMNIST-S/4', hiddenSize: 32, depth: 2, numHeads: 2, patchSize: 8 },
    diffusion: { process: 'flow' },
    train: { steps: 1, batchSize: 2, lr: 1e-3 },
    sample: { sampler: 'euler', steps: 3, cfgScale: 2 },
  });

/** A DiT with every weight redrawn (no zero gate hides the label path). */
function randomModel(cfg: ReturnType<typeof config>): Denoiser {
  const m = createRunDenoiser(cfg, new Rng(1));
  const rng = new Rng(2);
  for (const name of Object.keys(m.params).sort()) m.params[name]!.assign(rng.normalTensor(m.params[name]!.shape, 0, 0.2));
  return m;
}

const bits = (m: Denoiser) => Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, Buffer.from((v.dataSync() as Float32Array).slice().buffer).toString('base64')]));

describe('attacks on an erased class', () => {
  it('differentiates the objective through the sampler: label-row and x_T gradients equal central differences', () => {
    const cfg = config();
    const model = randomModel(cfg);
    // A linear scorer keeps the objective smooth (the feature network's ReLUs put kinks inside any finite difference).
    const W = new Rng(11).normalTensor([784, 10], 0, 0.05);
    const net = { forward: (x: tf.Tensor4D) => ({ logits: tf.matMul(tf.reshape(x, [x.shape[0], -1]), W) }) } as unknown as FmnistFeatureNet;
    const sampler = makeSampler(cfg.sample, cfg.diffusion, model.numClasses);
    const table = model.params['y_embedder.embedding_table.weight']!;
    const row = tf.variable(tf.tidy(() => tf.slice(table, [C, 0], [1, -1]).reshape([-1])));
    const xT = tf.variable(new Rng(9).normalTensor([2, 32, 32, 1]));
    const { grads } = tf.variableGrads(() => attackObjective(model, sampler, net, xT as unknown as tf.Tensor4D, C, row), [row, xT]);
    const f = (r: tf.Tensor, x: tf.Tensor) => tf.tidy(() => attackObjective(model, sampler, net, x as tf.Tensor4D, C, r).dataSync()[0]!);
    const h = 3e-3;
    const gRow = grads[row.name]!.dataSync();
    const gX = grads[xT.name]!.dataSync();
    const unit = (n: number, i: number, shape: number[]) => tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d([i], 'int32'), n).reshape([-1]), shape));
    for (const i of [0, 7, 31]) {
      const e = unit(row.size, i, row.shape);
      const fd = (f(tf.add(row, tf.mul(e, h)), xT) - f(tf.sub(row, tf.mul(e, h)), xT)) / (2 * h);
      expect(Math.abs(gRow[i]! - fd), `row[${i}]: tape ${gRow[i]} vs differences ${fd}`).toBeLessThan(0.01 * Math.abs(fd) + 1e-3);
      e.dispose();
    }
    for (const i of [100, 1500]) {
      const e = unit(xT.size, i, xT.shape);
      const fd = (f(row, tf.add(xT, tf.mul(e, h))) - f(row, tf.sub(xT, tf.mul(e, h)))) / (2 * h);
      expect(Math.abs(gX[i]! - fd), `x_T[${i}]: tape ${gX[i]} vs differences ${fd}`).toBeLessThan(0.01 * Math.abs(fd) + 1e-3);
      e.dispose();
    }
    expect(Math.max(...Array.from(gRow, Math.abs))).toBeGreaterThan(1e-4);
    tf.dispose([row, xT, W, ...Object.values(grads)]);
    model.dispose();
  });

  it('lowers its objective, leaves the model\'s weights alone, repeats under its seed and frees its tensors', () => {
    const cfg = config();
    const model = randomModel(cfg);
    const net = FmnistFeatureNet.init(5);
    const before = bits(model);
    const tensors = tf.memory().numTensors;
    const settings = { steps: 6, batch: 2, evalImages: 3, seed: 4 };
    const emb = attackClass('embedding', model, cfg, net, C, { ...settings, lr: 0.05 });
    const noise = attackClass('noise', model, cfg, net, C, { ...settings, lr: 0.1 });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(bits(model)).toEqual(before);
    expect(emb.count).toBe(3);
    expect(emb.images.length).toBe(3 * 784);
    expect(noise.count).toBe(2);
    for (const r of [emb, noise]) {
      expect(r.losses).toHaveLength(6);
      expect(r.losses.at(-1)!, `${r.kind}: ${r.losses.join(' ')}`).toBeLessThan(r.losses[0]! - 0.05);
      expect(Math.min(...r.images)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...r.images)).toBeLessThanOrEqual(1);
    }
    // The embedding attack's images start (before) where the erased row's samples are, and differ after.
    expect(Buffer.from(emb.before.buffer).equals(Buffer.from(emb.images.buffer))).toBe(false);
    // The same seed gives the same attack.
    const again = attackClass('noise', model, cfg, net, C, { ...settings, lr: 0.1 });
    expect(again.losses).toEqual(noise.losses);
    model.dispose();
    net.dispose();
  });

  it('puts each x_T on the sphere of radius √(elements per image)', () => {
    const x = tf.tensor4d([3, 4, 0, 0, 0, 0, 0, 0.5], [2, 2, 2, 1]);
    const p = ontoSphere(x);
    // Image 1 has norm 5 → scaled by 2/5; image 2 has norm 0.5 → scaled by 4.
    expect(Array.from(p.dataSync())).toEqual([1.2, 1.6, 0, 0, 0, 0, 0, 2].map(Math.fround));
    tf.dispose([x, p]);
  });

  it('refuses a model without labels', () => {
    const cfg = config();
    const model = { ...randomModel(cfg), numClasses: null };
    const net = FmnistFeatureNet.init(0);
    expect(() => attackClass('noise', model, cfg, net, 0, { steps: 1, batch: 1, lr: 0.1, evalImages: 1, seed: 0 })).toThrow(/a class-conditional DiT is needed/);
    model.dispose();
    net.dispose();
  });
});
