import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import {
  BK_SDM_SPECS,
  ModelConfigError,
  type UNetConfig,
  type UNetPruningSpec,
  applyPruning,
  createUNet,
  pruneNameMap,
  pruneParams,
  sdStyleUNetConfig,
  unetConfig,
  unetParamSpecs,
} from '../src/index.js';

await initBackend({ backend: 'cpu' });

/**
 * The teacher → student weight copy of BK-SDM's kd_train_text_to_image.py (copy_weight_from_teacher):
 * these student prefixes come from the listed teacher prefixes; every other student weight keeps its name.
 */
const OFFICIAL_COPY: Record<'base' | 'tiny', Record<string, string>> = {
  base: {
    'up_blocks.0.resnets.1.': 'up_blocks.0.resnets.2.',
    'up_blocks.1.resnets.1.': 'up_blocks.1.resnets.2.',
    'up_blocks.1.attentions.1.': 'up_blocks.1.attentions.2.',
    'up_blocks.2.resnets.1.': 'up_blocks.2.resnets.2.',
    'up_blocks.2.attentions.1.': 'up_blocks.2.attentions.2.',
    'up_blocks.3.resnets.1.': 'up_blocks.3.resnets.2.',
    'up_blocks.3.attentions.1.': 'up_blocks.3.attentions.2.',
  },
  tiny: {
    'up_blocks.0.resnets.0.': 'up_blocks.1.resnets.0.',
    'up_blocks.0.attentions.0.': 'up_blocks.1.attentions.0.',
    'up_blocks.0.resnets.1.': 'up_blocks.1.resnets.2.',
    'up_blocks.0.attentions.1.': 'up_blocks.1.attentions.2.',
    'up_blocks.0.upsamplers.': 'up_blocks.1.upsamplers.',
    'up_blocks.1.resnets.0.': 'up_blocks.2.resnets.0.',
    'up_blocks.1.attentions.0.': 'up_blocks.2.attentions.0.',
    'up_blocks.1.resnets.1.': 'up_blocks.2.resnets.2.',
    'up_blocks.1.attentions.1.': 'up_blocks.2.attentions.2.',
    'up_blocks.1.upsamplers.': 'up_blocks.2.upsamplers.',
    'up_blocks.2.resnets.0.': 'up_blocks.3.resnets.0.',
    'up_blocks.2.attentions.0.': 'up_blocks.3.attentions.0.',
    'up_blocks.2.resnets.1.': 'up_blocks.3.resnets.2.',
    'up_blocks.2.attentions.1.': 'up_blocks.3.attentions.2.',
  },
};

describe('BK-SDM specs on SD-v1.4', () => {
  const sd = unetConfig('SD-v1.4');
  for (const [name, copy] of [['BK-SDM-Base', OFFICIAL_COPY.base], ['BK-SDM-Small', OFFICIAL_COPY.base], ['BK-SDM-Tiny', OFFICIAL_COPY.tiny]] as const) {
    it(`${name}: every student weight comes from the teacher weight BK-SDM's training code copies`, () => {
      const map = pruneNameMap(sd, BK_SDM_SPECS[name]);
      const sdNames = new Set(unetParamSpecs(sd).map((s) => s.name));
      for (const [student, teacher] of map) {
        const prefix = Object.keys(copy).find((p) => student.startsWith(p));
        expect(teacher).toBe(prefix ? copy[prefix] + student.slice(prefix.length) : student);
        expect(sdNames.has(teacher)).toBe(true);
      }
      expect([...map.keys()]).toEqual(unetParamSpecs(unetConfig(name)).map((s) => s.name));
    });
  }

  it('removed blocks are gone by name', () => {
    const small = new Set(unetParamSpecs(unetConfig('BK-SDM-Small')).map((s) => s.name));
    const tinyNames = [...pruneNameMap(sd, BK_SDM_SPECS['BK-SDM-Tiny']).keys()];
    expect([...small].some((n) => n.startsWith('mid_block.'))).toBe(false);
    expect([...small].some((n) => /^down_blocks\.\d\.(resnets|attentions)\.[12]\./.test(n))).toBe(false);
    expect([...small].some((n) => /^up_blocks\.\d\.(resnets|attentions)\.2\./.test(n))).toBe(false);
    expect(small.has('up_blocks.1.resnets.1.conv1.weight')).toBe(true);
    expect(tinyNames.some((n) => n.startsWith('down_blocks.3.') || n.startsWith('up_blocks.3.') || n.startsWith('down_blocks.2.downsamplers'))).toBe(false);
  });
});

/** Sets every parameter to N(0, 0.3²) so no block is an identity by initialisation. */
function randomize(params: Record<string, tf.Variable>, seed: number): void {
  const rng = new Rng(seed);
  for (const v of Object.values(params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
}

const zero = (params: Record<string, tf.Variable>, ...names: string[]) => {
  for (const n of names) params[n]!.assign(tf.zerosLike(params[n]!));
};

describe('pruneParams', () => {
  // Two levels, two blocks per down stage, attention everywhere, mid block, class context.
  const config: UNetConfig = sdStyleUNetConfig({
    sampleSize: 4, inChannels: 2, outChannels: 2, channels: [8, 16], layersPerLevel: 2, attention: [true, true],
    mid: true, numHeads: 2, groups: 4, conditioning: { kind: 'class', numClasses: 3, contextDim: 6, classDropoutProb: 0 },
  });
  // BK-SDM-Small's pattern, plus one transformer removed on its own.
  const spec: UNetPruningSpec = {
    removeMid: true,
    remove: [
      ...[0, 1].flatMap((level) => (['down', 'up'] as const).map((stage) => ({ stage, level, index: 1, parts: ['resnet', 'attention'] as ('resnet' | 'attention')[] }))),
      { stage: 'up', level: 0, index: 0, parts: ['attention'] },
    ],
  };

  it('a pruned model equals the original whose removed blocks compute the identity', async () => {
    const original = createUNet(config, new Rng(1));
    randomize(original.params, 2);
    const p = original.params;
    // Make each removed piece an identity in the original: a transformer with proj_out = 0 returns its input;
    // a resnet with conv2 = 0 returns its shortcut, the input itself, or for up blocks (input ‖ skip) a 1×1
    // shortcut [I; 0] that keeps the input and drops the skip. The removed down block then passes its input
    // on, so the skips the kept up blocks read are unchanged.
    const identityResnet = (prefix: string, channels: number, skip: number) => {
      zero(p, `${prefix}.conv2.weight`, `${prefix}.conv2.bias`);
      if (skip > 0) {
        const eye = tf.concat([tf.eye(channels), tf.zeros([skip, channels])], 0);
        p[`${prefix}.conv_shortcut.weight`]!.assign(tf.reshape(eye, [1, 1, channels + skip, channels]));
        zero(p, `${prefix}.conv_shortcut.bias`);
      }
    };
    const identityTransformer = (prefix: string) => zero(p, `${prefix}.proj_out.weight`, `${prefix}.proj_out.bias`);
    identityResnet('down_blocks.0.resnets.1', 8, 0);
    identityTransformer('down_blocks.0.attentions.1');
    identityResnet('down_blocks.1.resnets.1', 16, 0);
    identityTransformer('down_blocks.1.attentions.1');
    identityResnet('mid_block.resnets.0', 16, 0);
    identityTransformer('mid_block.attentions.0');
    identityResnet('mid_block.resnets.1', 16, 0);
    identityResnet('up_blocks.0.resnets.1', 16, 16); // level 1: skip from down_blocks.1.resnets.0 (16 channels)
    identityTransformer('up_blocks.0.attentions.1');
    identityResnet('up_blocks.1.resnets.1', 8, 8); // level 0: skip from down_blocks.0.resnets.0 (8 channels)
    identityTransformer('up_blocks.1.attentions.1');
    identityTransformer('up_blocks.1.attentions.0');

    const prunedConfig = applyPruning(config, spec);
    const kept = pruneParams(original.params, config, spec);
    const pruned = createUNet(prunedConfig, kept);
    expect(kept['up_blocks.1.resnets.1.conv1.weight']).toBe(original.params['up_blocks.1.resnets.2.conv1.weight']);
    expect(Object.keys(pruned.params).some((n) => n.startsWith('up_blocks.1.attentions.0.'))).toBe(false);
    expect(pruned.params['up_blocks.1.attentions.1.proj_in.weight']).toBeDefined();

    const x = new Rng(3).normalTensor([2, 4, 4, 2]) as tf.Tensor4D;
    const t = tf.tensor1d([5, 700]);
    const y = tf.tensor1d([2, 3], 'int32');
    const want = await original.forward(x, t, y).data();
    const got = await pruned.forward(x, t, y).data();
    let scale = 0;
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      scale = Math.max(scale, Math.abs(want[i]!));
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    }
    expect(scale).toBeGreaterThan(0.1);
    expect(worst / scale).toBeLessThan(1e-5);
    // Sanity: the same pruning without the identities changes the output.
    randomize(original.params, 4);
    const other = await original.forward(x, t, y).data();
    const pruned2 = createUNet(prunedConfig, pruneParams(original.params, config, spec));
    const got2 = await pruned2.forward(x, t, y).data();
    expect(Math.max(...Array.from(other, (v, i) => Math.abs(v - got2[i]!)))).toBeGreaterThan(1e-3);
    for (const m of [original, pruned, pruned2]) m.dispose();
  });

  it('works on plain tensors (a checkpoint) and refuses weights whose shape the spec changes', () => {
    const record = Object.fromEntries(unetParamSpecs(config).map((s) => [s.name, { shape: s.shape }]));
    const kept = pruneParams(record, config, spec);
    expect(Object.keys(kept).length).toBe(unetParamSpecs(applyPruning(config, spec)).length);
    // Removing the first down block of level 1 feeds 8 instead of 16 channels into the second.
    const shifting: UNetPruningSpec = {
      remove: [
        { stage: 'down', level: 1, index: 0, parts: ['resnet', 'attention'] },
        { stage: 'up', level: 1, index: 0, parts: ['resnet', 'attention'] },
      ],
    };
    expect(() => applyPruning(config, shifting)).not.toThrow();
    expect(() => pruneParams(record, config, shifting)).toThrow(/'down_blocks\.1\.resnets\.0\.norm1\.weight' needs shape \[8\].*cannot be carried over/);
    const { 'conv_in.weight': _, ...partial } = record;
    expect(() => pruneParams(partial, config, spec)).toThrow(/lack 'conv_in.weight'/);
  });

  it('rejects specs that do not describe removable blocks', () => {
    const bad = (remove: UNetPruningSpec['remove'], removeMid?: boolean) => () => applyPruning(config, { remove, removeMid });
    expect(bad([{ stage: 'down', level: 2, index: 0, parts: ['resnet', 'attention'] }])).toThrow(/level must be in 0..1/);
    expect(bad([{ stage: 'down', level: 0, index: 2, parts: ['resnet', 'attention'] }])).toThrow(/index must be in 0..1/);
    expect(bad([{ stage: 'down', level: 0, index: 0, parts: ['resnet'] }])).toThrow(/list parts \['resnet', 'attention'\]/);
    expect(bad([{ stage: 'down', level: 0, index: 0, parts: [] }])).toThrow(/non-empty/);
    const once = { stage: 'down', level: 0, index: 0, parts: ['attention'] } as const;
    expect(bad([once, once])).toThrow(/listed twice/);
    expect(bad([{ stage: 'down', level: 0, index: 1, parts: ['resnet', 'attention'] }])).toThrow(/as many up blocks/);
    const wholeLevel0 = [0, 1].map((index) => ({ stage: 'down' as const, level: 0, index, parts: ['resnet' as const, 'attention' as const] }));
    expect(bad(wholeLevel0)).toThrow(/every down block of level 0/);
    expect(bad([], true)).not.toThrow();
    const noMid = applyPruning(config, { removeMid: true, remove: [] });
    expect(() => applyPruning(noMid, { removeMid: true, remove: [] })).toThrow(ModelConfigError);
  });
});
