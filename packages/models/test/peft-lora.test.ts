// LoRA: parameter names, shapes and count against the closed form Σ r·(in + out); the initialisation
// (kaiming-uniform A, zero B); the effective weight against a float64 W + (α/r)·A·B; every linear layer
// reachable; merge equal to the adapted forward and unmerge restoring the original bits.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { type DiT, type DiTConfig, LORA_DEFAULT_TARGETS, PeftConfigError, createDiT, createLora, linearLayers } from '../src/index.js';

await tf.setBackend('cpu');

const tiny: DiTConfig = {
  inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
  mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
};

function inputs(b: number, cfg: DiTConfig) {
  const x = new Rng(7).normalTensor([b, cfg.inputSize, cfg.inputSize, cfg.inChannels]) as tf.Tensor4D;
  const t = tf.tensor1d(Array.from({ length: b }, (_, i) => (i * 397) % 1000), 'float32');
  const y = tf.tensor1d(Array.from({ length: b }, (_, i) => i % cfg.numClasses), 'int32');
  return { x, t, y };
}

function randomize(model: DiT, seed: number): void {
  const rng = new Rng(seed);
  for (const name of Object.keys(model.params).sort()) model.params[name]!.assign(rng.normalTensor(model.params[name]!.shape, 0, 0.2));
}

async function run(model: DiT, cfg: DiTConfig, adaptation?: Parameters<DiT['forward']>[3]): Promise<Float32Array> {
  const { x, t, y } = inputs(2, cfg);
  const out = model.forward(x, t, y, adaptation);
  const v = (await out.data()) as Float32Array;
  tf.dispose([out, x, t, y]);
  return v;
}

describe('LoRA parameters', () => {
  it('default targets are the attention projections: names, shapes and count r·(in + out) per layer', () => {
    const model = createDiT(tiny, new Rng(1));
    const lora = createLora(model, { rank: 3 }, new Rng(2));
    const d = tiny.hiddenSize, r = 3;
    expect(LORA_DEFAULT_TARGETS).toEqual(['attn.qkv', 'attn.proj']);
    expect(lora.layers).toEqual(['blocks.0.attn.qkv', 'blocks.0.attn.proj', 'blocks.1.attn.qkv', 'blocks.1.attn.proj']);
    expect(Object.fromEntries(Object.entries(lora.params).map(([k, v]) => [k, v.shape]))).toEqual({
      'blocks.0.attn.qkv.lora_A': [d, r], 'blocks.0.attn.qkv.lora_B': [r, 3 * d],
      'blocks.0.attn.proj.lora_A': [d, r], 'blocks.0.attn.proj.lora_B': [r, d],
      'blocks.1.attn.qkv.lora_A': [d, r], 'blocks.1.attn.qkv.lora_B': [r, 3 * d],
      'blocks.1.attn.proj.lora_A': [d, r], 'blocks.1.attn.proj.lora_B': [r, d],
    });
    // depth · (r(d + 3d) + r(d + d)) = 2 · 3 · 6 · 16
    expect(lora.trainableCount).toBe(tiny.depth * r * 6 * d);
    expect(lora.trainableCount).toBe(576);
    expect([lora.rank, lora.alpha, lora.scale]).toEqual([3, 3, 1]);
    lora.dispose();
    model.dispose();
  });

  it('other targets: suffix strings and RegExps; count Σ r·(in + out) over the matched layers', () => {
    const cfg: DiTConfig = { ...tiny, block: 'cross-attention', learnSigma: true };
    const model = createDiT(cfg, new Rng(1));
    const lora = createLora(model, { rank: 2, alpha: 8, targets: ['proj', /^blocks\.1\.mlp\.fc1$/] }, new Rng(2));
    // 'proj' = a layer named proj or ending in '.proj': the patch embedding and both attention output projections.
    expect(lora.layers).toEqual([
      'x_embedder.proj', 'blocks.0.attn.proj', 'blocks.0.cross_attn.proj', 'blocks.1.attn.proj', 'blocks.1.cross_attn.proj', 'blocks.1.mlp.fc1',
    ]);
    const d = 16, r = 2, patchDim = 2 * 2 * 3, mlpHidden = 64;
    expect(lora.trainableCount).toBe(r * (patchDim + d) + 4 * r * (d + d) + r * (d + mlpHidden));
    expect(lora.scale).toBe(4);
    lora.dispose();
    model.dispose();
  });

  it('A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in) from the rng, deterministic; B = 0', async () => {
    const model = createDiT(tiny, new Rng(1));
    const a = createLora(model, { rank: 4, targets: ['mlp.fc2'] }, new Rng(5));
    const b = createLora(model, { rank: 4, targets: ['mlp.fc2'] }, new Rng(5));
    const A = (await a.params['blocks.0.mlp.fc2.lora_A']!.data()) as Float32Array; // fan-in 64
    expect(Math.max(...Array.from(A, Math.abs))).toBeLessThanOrEqual(1 / 8);
    expect(Math.max(...Array.from(A, Math.abs))).toBeGreaterThan(0.1); // 256 draws reach near the bound
    const mean = A.reduce((s, v) => s + v, 0) / A.length;
    const variance = A.reduce((s, v) => s + (v - mean) ** 2, 0) / A.length;
    expect(variance).toBeGreaterThan(0.7 * (1 / 64 / 3)); // U(−c, c) has variance c²/3
    expect(variance).toBeLessThan(1.3 * (1 / 64 / 3));
    expect(await b.params['blocks.0.mlp.fc2.lora_A']!.data()).toEqual(A);
    expect(Array.from(await a.params['blocks.0.mlp.fc2.lora_B']!.data()).every((v) => v === 0)).toBe(true);
    a.dispose();
    b.dispose();
    model.dispose();
  });
});

describe('LoRA effective weight', () => {
  it('W + (alpha/r)·A·B against float64; other layers pass through untouched', async () => {
    const model = createDiT(tiny, new Rng(1));
    randomize(model, 2);
    const lora = createLora(model, { rank: 3, alpha: 6 }, new Rng(3));
    const rng = new Rng(4);
    for (const v of Object.values(lora.params)) v.assign(rng.normalTensor(v.shape));
    const layer = 'blocks.1.attn.qkv';
    const [n, m, r] = [16, 48, 3];
    const W = model.params[`${layer}.weight`]!;
    const [w, A, B] = await Promise.all([W.data(), lora.params[`${layer}.lora_A`]!.data(), lora.params[`${layer}.lora_B`]!.data()]);
    const got = tf.tidy(() => lora.adaptation.weight!(layer, W as tf.Tensor2D)).dataSync();
    let worst = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        let ab = 0;
        for (let k = 0; k < r; k++) ab += A[i * r + k]! * B[k * m + j]!;
        const want = w[i * m + j]! + 2 * ab;
        worst = Math.max(worst, Math.abs(got[i * m + j]! - want) / (1 + Math.abs(want)));
      }
    }
    expect(worst).toBeLessThan(1e-6);
    const other = model.params['blocks.1.mlp.fc1.weight'] as tf.Tensor2D;
    expect(lora.adaptation.weight!('blocks.1.mlp.fc1', other)).toBe(other);
    lora.dispose();
    model.dispose();
  });

  for (const cfg of [
    { ...tiny, block: 'cross-attention', mlp: 'swiglu' },
    { ...tiny, block: 'adaLN-Zero', rope: true },
    { ...tiny, block: 'in-context' },
  ] as DiTConfig[]) {
    it(`every linear layer goes through the weight hook (${cfg.block}${cfg.mlp ? ', swiglu' : ''}${cfg.rope ? ', rope' : ''})`, async () => {
      const model = createDiT(cfg, new Rng(1));
      randomize(model, 2);
      const base = await run(model, cfg);
      for (const layer of linearLayers(model)) {
        const lora = createLora(model, { rank: 1, targets: [new RegExp(`^${layer.replace(/\./g, '\\.')}$`)] }, new Rng(3));
        expect(lora.layers).toEqual([layer]);
        lora.params[`${layer}.lora_B`]!.assign(new Rng(4).normalTensor(lora.params[`${layer}.lora_B`]!.shape));
        const adapted = await run(model, cfg, { adaptation: lora.adaptation });
        expect(adapted.some((v, i) => Math.abs(v - base[i]!) > 1e-5), layer).toBe(true);
        lora.dispose();
      }
      model.dispose();
    });
  }
});

describe('LoRA merge and unmerge', () => {
  it('merged forward equals the adapted forward bit for bit; unmerge restores the original bits', async () => {
    const cfg: DiTConfig = { ...tiny, mlp: 'swiglu' };
    const model = createDiT(cfg, new Rng(1));
    randomize(model, 2);
    const lora = createLora(model, { rank: 2, alpha: 3, targets: ['attn.qkv', 'attn.proj', 'mlp.w1', 'mlp.w3'] }, new Rng(3));
    const rng = new Rng(4);
    for (const v of Object.values(lora.params)) v.assign(rng.normalTensor(v.shape, 0, 0.3));
    const originals = Object.fromEntries(lora.layers.map((l) => [l, model.params[`${l}.weight`]!.dataSync().slice()]));
    const adapted = await run(model, cfg, { adaptation: lora.adaptation });
    const expected = lora.mergedWeights();
    expect(Object.keys(expected)).toEqual(lora.layers.map((l) => `${l}.weight`));

    lora.merge();
    expect(lora.merged).toBe(true);
    for (const l of lora.layers) expect(model.params[`${l}.weight`]!.dataSync(), l).toEqual(expected[`${l}.weight`]!.dataSync());
    tf.dispose(Object.values(expected));
    expect(await run(model, cfg)).toEqual(adapted);
    // While merged the adaptation adds nothing more, so forwards with it are the same model.
    expect(await run(model, cfg, { adaptation: lora.adaptation })).toEqual(adapted);
    expect(() => lora.merge()).toThrow(/already merged; call unmerge\(\) first/);

    lora.unmerge();
    expect(lora.merged).toBe(false);
    for (const l of lora.layers) {
      const now = model.params[`${l}.weight`]!.dataSync();
      expect(new Uint32Array(now.buffer, now.byteOffset, now.length), l).toEqual(new Uint32Array(originals[l]!.buffer));
    }
    expect(await run(model, cfg, { adaptation: lora.adaptation })).toEqual(adapted);
    expect(() => lora.unmerge()).toThrow(PeftConfigError);
    lora.dispose();
    model.dispose();
  });
});
