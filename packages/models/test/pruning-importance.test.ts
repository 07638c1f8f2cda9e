import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import {
  ModelInputError,
  type UNet,
  type UNetConfig,
  bkSdmCandidates,
  blockImportance,
  countUNet,
  createUNet,
  denoisingProxy,
  linearSchedule,
  sdStyleUNetConfig,
} from '../src/index.js';

await initBackend({ backend: 'cpu' });

const config: UNetConfig = sdStyleUNetConfig({
  sampleSize: 4, inChannels: 1, outChannels: 1, channels: [4, 8], layersPerLevel: 1, attention: [false, true],
  mid: true, numHeads: 2, groups: 2, conditioning: { kind: 'none' },
});

function randomized(seed: number): UNet {
  const unet = createUNet(config, new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const v of Object.values(unet.params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
  return unet;
}

describe('bkSdmCandidates', () => {
  it('lists single blocks, block pairs and the mid triplet', () => {
    const c = bkSdmCandidates(config);
    const labels = (g: string) => c.filter((x) => x.group === g).map((x) => x.label);
    expect(labels('single')).toEqual([
      'down_blocks.0.resnets.0', 'down_blocks.1.resnets.0', 'mid_block.resnets.0', 'mid_block.resnets.1',
      'up_blocks.0.resnets.0', 'up_blocks.0.resnets.1', 'up_blocks.1.resnets.0', 'up_blocks.1.resnets.1',
      'down_blocks.1.attentions.0', 'mid_block.attentions.0', 'up_blocks.0.attentions.0', 'up_blocks.0.attentions.1',
    ]);
    // No architectural down+up pair: each level has one down block, and a level keeps at least one block per
    // stage (only the innermost level goes, and only whole); so pairs are a block with its transformer.
    expect(labels('pair')).toEqual([
      'down_blocks.1.resnets.0 + down_blocks.1.attentions.0',
      'up_blocks.0.resnets.0 + up_blocks.0.attentions.0',
      'up_blocks.0.resnets.1 + up_blocks.0.attentions.1',
    ]);
    expect(labels('triplet')).toEqual(['mid_block']);
    expect(bkSdmCandidates(config, ['triplet']).length).toBe(1);
    // With two blocks per down stage, BK-SDM-Base's unit (second down block + middle up block of a level) appears.
    const two = sdStyleUNetConfig({ ...config, layersPerLevel: 2, attention: [false, true] });
    const arch = bkSdmCandidates(two, ['pair']).filter((x) => x.label.endsWith('(architectural)')).map((x) => x.label);
    expect(arch).toContain('down_blocks.0.resnets.1 & up_blocks.1.resnets.1 (architectural)');
    expect(arch).toContain('down_blocks.1.resnets.1 & up_blocks.0.resnets.1 (architectural)');
    // Removing a level's first down block changes the next block's input channels (8 ← 4): weights do not fit.
    expect(arch).not.toContain('down_blocks.1.resnets.0 & up_blocks.0.resnets.0 (architectural)');
  });
});

describe('blockImportance', () => {
  it('ranks a block that computes the identity least important, with zero degradation', async () => {
    const unet = randomized(1);
    for (const n of ['up_blocks.1.resnets.1.conv2.weight', 'up_blocks.1.resnets.1.conv2.bias']) unet.params[n]!.assign(tf.zerosLike(unet.params[n]!));
    // Quality: mean squared distance of the model's ε̂ from the unmodified model's on fixed inputs (0 = unchanged).
    const x = new Rng(3).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const t = tf.tensor1d([50, 600]);
    const ref = unet.forward(x, t);
    const distance = (m: UNet) => tf.tidy(() => tf.mean(tf.square(tf.sub(m.forward(x, t), ref))).dataSync()[0]!);
    const result = await blockImportance(unet, distance);
    expect(result.baseline).toBe(0);
    expect(result.rows[0]!.label).toBe('up_blocks.1.resnets.1');
    expect(result.rows[0]!.degradation).toBe(0);
    for (const r of result.rows.slice(1)) expect(r.degradation).toBeGreaterThan(1e-6);
    const mid = result.rows.find((r) => r.group === 'triplet')!;
    expect(mid.params).toBeLessThan(result.baselineParams);
    expect(mid.params).toBe(countUNet({ ...config, mid: false }).params);
    // A replaced resnet keeps its weights in the architecture.
    expect(result.rows[0]!.params).toBe(result.baselineParams);
    unet.dispose();
  });

  it('denoisingProxy is the ε-MSE at fixed noise: a zero-output model scores the mean squared noise', () => {
    const unet = createUNet(config, new Rng(4)); // conv_out is zero-initialised: ε̂ ≡ 0
    const images = new Rng(5).normalTensor([2, 4, 4, 1]) as tf.Tensor4D;
    const proxy = denoisingProxy({ images, schedule: linearSchedule(), timesteps: [10, 500, 999], seed: 7 });
    const noise = new Rng(7).normalTensor([6, 4, 4, 1]);
    expect(proxy.quality(unet)).toBeCloseTo(tf.mean(tf.square(noise)).dataSync()[0]!, 6);
    const random = randomized(6);
    expect(proxy.quality(random)).toBe(proxy.quality(random));
    expect(() => denoisingProxy({ images, schedule: linearSchedule(), timesteps: [1000], seed: 1 })).toThrow(/timestep 1000 outside 0..999/);
    expect(() => denoisingProxy({ images, labels: [1], schedule: linearSchedule(), timesteps: [1], seed: 1 })).toThrow(ModelInputError);
    const labelled = denoisingProxy({ images, labels: [1, 2], schedule: linearSchedule(), timesteps: [1], seed: 1 });
    expect(() => labelled.quality(unet)).toThrow(/exactly when the U-Net is class-conditional/);
    proxy.dispose();
    labelled.dispose();
    unet.dispose();
    random.dispose();
  });
});
