import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import { DIT_BLOCKS, type DiTConfig, countDiT, createDiT, ditConfig } from '../src/index.js';

await tf.setBackend('cpu');

// Peebles & Xie, "Scalable Diffusion Models with Transformers", Table 4 (Gflops, 256² images = 32×32×4 latents).
const PAPER_GFLOPS: Record<string, number> = {
  'DiT-S/8': 0.36, 'DiT-S/4': 1.41, 'DiT-S/2': 6.06,
  'DiT-B/8': 1.42, 'DiT-B/4': 5.56, 'DiT-B/2': 23.01,
  'DiT-L/8': 5.01, 'DiT-L/4': 19.7, 'DiT-L/2': 80.71,
  'DiT-XL/8': 7.39, 'DiT-XL/4': 29.05, 'DiT-XL/2': 118.64,
};
// The paper's parameter counts in millions (PyTorch count, including the fixed pos_embed).
const PAPER_PARAMS_M: Record<string, number> = { 'DiT-S/2': 33, 'DiT-B/2': 130, 'DiT-L/2': 458, 'DiT-XL/2': 675 };

describe('countDiT reproduces the paper', () => {
  for (const [name, gflops] of Object.entries(PAPER_GFLOPS)) {
    it(`${name}: ${gflops} Gflops`, () => {
      // The table rounds to 0.01; B/4 (5.5664) is the one entry off by more than rounding.
      expect(Math.abs(countDiT(ditConfig(name)).gflops - gflops)).toBeLessThanOrEqual(0.0065);
    });
  }

  for (const [name, m] of Object.entries(PAPER_PARAMS_M)) {
    it(`${name}: ${m}M params`, () => {
      const c = countDiT(ditConfig(name));
      // The paper prints whole millions (B/2 is 130.51M, printed 130).
      expect(Math.abs((c.params + c.fixedParams) / 1e6 - m)).toBeLessThan(0.6);
    });
  }

  it('DiT-XL/2 matches the official implementation exactly (675,129,632 incl. pos_embed)', () => {
    const c = countDiT(ditConfig('DiT-XL/2'));
    expect(c.params + c.fixedParams).toBe(675_129_632);
    expect(c.fixedParams).toBe(256 * 1152);
  });

  it('rejects unknown names with the list of valid ones', () => {
    expect(() => ditConfig('DiT-M/2')).toThrow(/valid names: .*DiT-XL\/2/);
  });
});

describe('countDiT equals the allocated parameter count', () => {
  const base: DiTConfig = {
    inputSize: 8, patchSize: 2, inChannels: 3, hiddenSize: 16, depth: 2, numHeads: 2,
    mlpRatio: 4, numClasses: 5, classDropoutProb: 0.1, learnSigma: false, block: 'adaLN-Zero',
  };
  for (const block of DIT_BLOCKS) {
    for (const learnSigma of [false, true]) {
      for (const classDropoutProb of [0, 0.1]) {
        it(`${block}, learnSigma=${learnSigma}, dropout=${classDropoutProb}`, () => {
          const cfg = { ...base, block, learnSigma, classDropoutProb };
          const model = createDiT(cfg, new Rng(0));
          const allocated = Object.values(model.params).reduce((a, v) => a + v.size, 0);
          expect(countDiT(cfg).params).toBe(allocated);
          expect(countDiT(cfg).fixedParams).toBe(model.posEmbed.size);
          model.dispose();
        });
      }
    }
  }
});

describe('countDiT Gflops of the other block designs', () => {
  it('orders the designs as the paper (in-context and cross-attention cost more than adaLN)', () => {
    const xl2 = ditConfig('DiT-XL/2');
    const g = Object.fromEntries(DIT_BLOCKS.map((block) => [block, countDiT({ ...xl2, block }).gflops]));
    // Paper §3.2: cross-attention adds ~15% Gflops; in-context adds 2 tokens; adaLN-Zero ≈ adaLN.
    expect(g['cross-attention']! / g['adaLN-Zero']!).toBeGreaterThan(1.1);
    expect(g['cross-attention']! / g['adaLN-Zero']!).toBeLessThan(1.2);
    expect(g['in-context']!).toBeGreaterThan(g['adaLN-Zero']!);
    expect(g['in-context']! / g['adaLN-Zero']!).toBeLessThan(1.02);
  });
});
