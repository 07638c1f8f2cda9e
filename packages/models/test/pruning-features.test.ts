import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import {
  BK_SDM_SPECS,
  ModelConfigError,
  type UNetConfig,
  createUNet,
  forwardWithFeatures,
  groupNorm,
  sdStyleUNetConfig,
  stagePairs,
  unetConfig,
  unetStages,
} from '../src/index.js';

await initBackend({ backend: 'cpu' });

const config: UNetConfig = sdStyleUNetConfig({
  sampleSize: 4, inChannels: 2, outChannels: 2, channels: [4, 8], layersPerLevel: 1, attention: [false, true],
  mid: true, numHeads: 2, groups: 2, conditioning: { kind: 'class', numClasses: 3, contextDim: 4, classDropoutProb: 0 },
});

function randomized(seed: number) {
  const unet = createUNet(config, new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const v of Object.values(unet.params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
  return unet;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));

describe('unetStages', () => {
  it('lists diffusers blocks with their output shapes (down after the downsampler, up after the upsampler)', () => {
    const sd = unetStages(unetConfig('SD-v1.4'));
    expect(sd.map((s) => s.name)).toEqual([
      'down_blocks.0', 'down_blocks.1', 'down_blocks.2', 'down_blocks.3', 'mid_block', 'up_blocks.0', 'up_blocks.1', 'up_blocks.2', 'up_blocks.3',
    ]);
    const shape = (n: string) => sd.find((s) => s.name === n)!.shape;
    expect(shape('down_blocks.0')).toEqual([32, 32, 320]);
    expect(shape('down_blocks.3')).toEqual([8, 8, 1280]);
    expect(shape('mid_block')).toEqual([8, 8, 1280]);
    expect(shape('up_blocks.0')).toEqual([16, 16, 1280]);
    expect(shape('up_blocks.3')).toEqual([64, 64, 320]);
    expect(sd.find((s) => s.name === 'up_blocks.3')!.lastStep).toBe('up_blocks.3.attentions.2');
  });
});

describe('forwardWithFeatures', () => {
  it('returns forward’s output and the stage outputs; the last up stage is what the head reads', async () => {
    const unet = randomized(1);
    const x = new Rng(5).normalTensor([2, 4, 4, 2]) as tf.Tensor4D;
    const t = tf.tensor1d([3, 800]);
    const y = tf.tensor1d([0, 3], 'int32');
    const before = tf.memory().numTensors;
    const { out, features } = forwardWithFeatures(unet, x, t, y);
    expect(tf.memory().numTensors - before).toBe(1 + unetStages(config).length);
    expect(maxAbsDiff(await out.data(), await unet.forward(x, t, y).data())).toBe(0);
    for (const s of unetStages(config)) expect(features[s.name]!.shape).toEqual([2, ...s.shape]);
    // Head: conv_out(SiLU(GroupNorm(h))) with conv_out a 3×3 conv, padding 1.
    const p = unet.params;
    const h = features['up_blocks.1']!;
    const normed = groupNorm(h, config.groups, 1e-5, p['conv_norm_out.weight']!, p['conv_norm_out.bias']!);
    const head = tf.conv2d(tf.mul(normed, tf.sigmoid(normed)) as tf.Tensor4D, p['conv_out.weight'] as tf.Tensor4D, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    expect(maxAbsDiff(await tf.add(head, p['conv_out.bias']!).data(), await out.data())).toBeLessThan(1e-5);
    unet.dispose();
  });

  it('works inside tf.variableGrads: a down-stage feature depends on conv_in, not on the up blocks', () => {
    const unet = randomized(2);
    const x = new Rng(6).normalTensor([1, 4, 4, 2]) as tf.Tensor4D;
    const { grads, value } = tf.variableGrads(
      () => tf.sum(forwardWithFeatures(unet, x, tf.tensor1d([10]), tf.tensor1d([1], 'int32'), { stages: ['down_blocks.0'] }).features['down_blocks.0']!) as tf.Scalar,
      Object.values(unet.params),
    );
    expect(Number.isFinite(value.dataSync()[0]!)).toBe(true);
    const byVariable = new Map(Object.entries(unet.params).map(([k, v]) => [v.name, k]));
    const names = Object.keys(grads).map((n) => byVariable.get(n)!);
    expect(names).toContain('conv_in.weight');
    expect(names).toContain('down_blocks.0.resnets.0.conv2.weight');
    expect(names.some((n) => n.startsWith('up_blocks.') || n.startsWith('mid_block.') || n.startsWith('down_blocks.1.'))).toBe(false);
    unet.dispose();
  });

  it('rejects unknown stages', () => {
    const unet = randomized(3);
    expect(() => forwardWithFeatures(unet, tf.zeros([1, 4, 4, 2]), tf.tensor1d([1]), tf.tensor1d([0], 'int32'), { stages: ['up_blocks.7'] })).toThrow(
      /no stage 'up_blocks.7'.*down_blocks.0/,
    );
    expect(() => forwardWithFeatures(unet, tf.zeros([1, 4, 4, 2]), tf.tensor1d([1]), tf.tensor1d([0], 'int32'), { stages: ['nope'] })).toThrow(ModelConfigError);
    unet.dispose();
  });
});

describe('stagePairs (BK-SDM feature-distillation mapping)', () => {
  const sd = unetConfig('SD-v1.4');
  it('Base and Small distil every down and up block by the same name, and not the mid block', () => {
    // Official kd_train_text_to_image.py: mapping_layers = up_blocks.0..3 and down_blocks.0..3 for bk_base and bk_small.
    for (const name of ['BK-SDM-Base', 'BK-SDM-Small'] as const) {
      const pairs = stagePairs(sd, BK_SDM_SPECS[name]);
      expect(new Set(pairs.map((p) => `${p.student}<-${p.teacher}`))).toEqual(
        new Set([0, 1, 2, 3].flatMap((i) => [`down_blocks.${i}<-down_blocks.${i}`, `up_blocks.${i}<-up_blocks.${i}`])),
      );
    }
    expect(stagePairs(sd, BK_SDM_SPECS['BK-SDM-Base'], { includeMid: true }).some((p) => p.student === 'mid_block')).toBe(true);
  });

  it('Tiny shifts the up blocks by one and drops the downsampler-less innermost down stage', () => {
    // Official (bk_tiny): teacher up_blocks.1..3 → student up_blocks.0..2; down_blocks.0, 1 by name; the third pair
    // there uses down_blocks.2's transformer proj_out, which stage outputs do not cover.
    const pairs = stagePairs(sd, BK_SDM_SPECS['BK-SDM-Tiny']);
    expect(pairs).toEqual([
      { student: 'down_blocks.0', teacher: 'down_blocks.0' },
      { student: 'down_blocks.1', teacher: 'down_blocks.1' },
      { student: 'up_blocks.0', teacher: 'up_blocks.1' },
      { student: 'up_blocks.1', teacher: 'up_blocks.2' },
      { student: 'up_blocks.2', teacher: 'up_blocks.3' },
    ]);
  });
});
