import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import {
  BK_SDM_SPECS,
  ModelConfigError,
  ModelInputError,
  type UNetConfig,
  UNET_CONFIGS,
  applyPruning,
  countUNet,
  createUNet,
  sdStyleUNetConfig,
  unetConfig,
  unetParamsFromPyTorch,
  unetParamsToPyTorch,
  validateUNetConfig,
} from '../src/index.js';

await initBackend({ backend: 'cpu' });

const tiny = (conditioning: UNetConfig['conditioning']): UNetConfig =>
  sdStyleUNetConfig({
    sampleSize: 4, inChannels: 2, outChannels: 3, channels: [8, 16], layersPerLevel: 1,
    attention: [false, true], mid: true, numHeads: 2, groups: 4, conditioning,
  });
const classCond = { kind: 'class', numClasses: 3, contextDim: 6, classDropoutProb: 0.5 } as const;

function allocated(config: UNetConfig): number {
  const model = createUNet(config, new Rng(0));
  const n = Object.values(model.params).reduce((a, v) => a + v.size, 0);
  model.dispose();
  return n;
}

describe('countUNet reproduces the published U-Nets', () => {
  // BK-SDM's src/count_macs_params.py (thop 0.1.1 on diffusers' UNet2DConditionModel, one 64×64 latent,
  // 77×768 text context), output posted by the authors in Nota-NetsPresso/BK-SDM issue #53.
  it('SD-v1.4: 859,520,964 params, 338,749,194,240 MACs', () => {
    const c = countUNet(unetConfig('SD-v1.4'));
    expect(c.params).toBe(859_520_964);
    expect(c.thopMacs).toBe(338_749_194_240);
  });

  it('BK-SDM-Base: 579,384,964 params, 223,755,632,640 MACs', () => {
    const c = countUNet(unetConfig('BK-SDM-Base'));
    expect(c.params).toBe(579_384_964);
    expect(c.thopMacs).toBe(223_755_632_640);
  });

  // U-Net parameter counts quoted in issue #7 (millions, two decimals).
  for (const [name, millions] of [['BK-SDM-Small', 482.35], ['BK-SDM-Tiny', 323.38]] as const) {
    it(`${name}: ${millions}M params (within 0.1%)`, () => {
      expect(Math.abs(countUNet(unetConfig(name)).params / 1e6 - millions) / millions).toBeLessThan(1e-3);
    });
  }

  it('BK-SDM-Small is Base minus a mid block, counted by hand', () => {
    // mid block at 8×8 (n = 64), 1280 channels, 768-d context of 77 tokens, time embedding 1280.
    const c = 1280, n = 64, t = 1280, d = 768, m = 77;
    const resnetParams = 2 * (2 * c) + 2 * (9 * c * c + c) + (t * c + c);
    const transformerParams = 4 * (2 * c) + 2 * (c * c + c) + 3 * c * c + (c * c + c) + c * c + 2 * d * c + (c * c + c) + (c * 8 * c + 8 * c) + (4 * c * c + c);
    const resnetMacs = 2 * n * 9 * c * c + t * c;
    const transformerThopMacs = 2 * n * c * c + 4 * n * c * c + n * c * c + 2 * m * d * c + n * c * c + n * 12 * c * c + 4 * 3 * n * c;
    const base = countUNet(unetConfig('BK-SDM-Base'));
    const small = countUNet(unetConfig('BK-SDM-Small'));
    expect(base.params - small.params).toBe(2 * resnetParams + transformerParams);
    expect(base.thopMacs - small.thopMacs).toBe(2 * resnetMacs + transformerThopMacs);
  });

  it('derives the BK-SDM variants by applying their pruning specs to SD-v1.4 (one mechanism)', () => {
    for (const [name, spec] of Object.entries(BK_SDM_SPECS)) {
      expect(UNET_CONFIGS[name]).toEqual(applyPruning(unetConfig('SD-v1.4'), spec));
    }
    // The released student configs: 1 block per down stage, 2 per up stage; Small/Tiny without mid; Tiny 3 levels.
    const tinyCfg = unetConfig('BK-SDM-Tiny');
    expect(tinyCfg.channels).toEqual([320, 640, 1280]);
    expect(tinyCfg.downLayers).toEqual([[true], [true], [true]]);
    expect(tinyCfg.upLayers).toEqual([[true, true], [true, true], [true, true]]);
    expect(tinyCfg.mid).toBe(false);
    expect(unetConfig('BK-SDM-Base').downLayers).toEqual([[true], [true], [true], [false]]);
  });
});

describe('countUNet against hand counts and allocation', () => {
  it('matches a hand count of a one-level U-Net', () => {
    // 4×4×1 input, 4 channels, one down block with a transformer, two up blocks, text context M = 2, d = 3.
    const config: UNetConfig = {
      sampleSize: 4, inChannels: 1, outChannels: 1, channels: [4], downLayers: [[true]], upLayers: [[false, false]],
      mid: false, numHeads: 1, groups: 2, conditioning: { kind: 'text', contextDim: 3 },
    };
    const n = 16; // pixels
    const convIn = n * 9 * 1 * 4; // 576
    const time = 4 * 16 + 16 * 16; // 320
    const downResnet = n * 9 * 4 * 4 + 16 * 4 + n * 9 * 4 * 4; // 4672
    const transformerLinear = n * 16 + 3 * n * 16 + n * 16 + n * 16 + 2 * 2 * 3 * 4 + n * 16 + n * 4 * 32 + n * 16 * 4 + n * 16; // 5168
    const attentionProducts = 2 * n * n * 4 + 2 * n * 2 * 4; // 2304
    const upResnet = n * 9 * 8 * 4 + 16 * 4 + n * 9 * 4 * 4 + n * 8 * 4; // 7488 (8 = 4 + 4 skip channels; 1×1 shortcut)
    const convOut = n * 9 * 4 * 1; // 576
    const c = countUNet(config, { contextLength: 2 });
    expect(c.macs).toBe(convIn + time + downResnet + transformerLinear + attentionProducts + 2 * upResnet + convOut);
    expect(c.macs).toBe(28_592);
    expect(c.thopMacs).toBe(c.macs - attentionProducts + 4 * 3 * n * 4);
    // params: conv_in 40, time MLP 80 + 272, down resnet 380, transformer 428, up resnets 2 × 568, norm_out 8, conv_out 37
    expect(c.params).toBe(40 + 352 + 380 + 428 + 2 * 568 + 8 + 37);
    expect(allocated(config)).toBe(c.params);
  });

  it('equals the allocated parameter count for every conditioning, pruned configs included', () => {
    const configs = [
      tiny(classCond),
      tiny({ kind: 'text', contextDim: 5 }),
      tiny({ kind: 'none' }),
      applyPruning(tiny(classCond), { removeMid: true, remove: [{ stage: 'up', level: 1, index: 0, parts: ['attention'] }] }),
      applyPruning(
        sdStyleUNetConfig({ ...tiny(classCond), channels: [8, 8, 16], layersPerLevel: 1, attention: [true, false, true], mid: true, numHeads: 2, groups: 4, conditioning: classCond }),
        { remove: [{ stage: 'down', level: 2, index: 0, parts: ['resnet', 'attention'] }, ...[0, 1].map((index) => ({ stage: 'up' as const, level: 2, index, parts: ['resnet' as const, 'attention' as const] }))] },
      ),
    ];
    for (const config of configs) expect(allocated(config)).toBe(countUNet(config).params);
  });
});

describe('createUNet', () => {
  const inputs = (b: number, config: UNetConfig) => ({
    x: new Rng(3).normalTensor([b, config.sampleSize, config.sampleSize, config.inChannels]) as tf.Tensor4D,
    t: tf.tensor1d(Array.from({ length: b }, (_, i) => 17 + 311 * i)),
  });

  /** Replaces the zero-initialised residual closers so outputs are not trivially zero. */
  function randomize(params: Record<string, tf.Variable>, seed: number): void {
    const rng = new Rng(seed);
    for (const v of Object.values(params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
  }

  for (const conditioning of [classCond, { kind: 'text', contextDim: 5 }, { kind: 'none' }] as const) {
    it(`${conditioning.kind} conditioning: shape, gradients for every parameter, no leaks`, async () => {
      const config = tiny(conditioning);
      const model = createUNet(config, new Rng(1));
      randomize(model.params, 2);
      const { x, t } = inputs(2, config);
      const cond = conditioning.kind === 'class' ? tf.tensor1d([0, 3], 'int32') : conditioning.kind === 'text' ? new Rng(4).normalTensor([2, 3, 5]) : undefined;
      const before = tf.memory().numTensors;
      const out = model.forward(x, t, cond);
      expect(out.shape).toEqual([2, 4, 4, 3]);
      expect(tf.memory().numTensors).toBe(before + 1);
      out.dispose();
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(x, t, cond))) as tf.Scalar);
      const perParam = Object.values(model.params).map((v) => grads[v.name]);
      expect(perParam.every((g) => g !== undefined)).toBe(true);
      expect(Object.keys(grads).length).toBe(perParam.length);
      const norms = perParam.map((g) => tf.tidy(() => tf.sum(tf.abs(g!)).dataSync()[0]!));
      expect(norms.every(Number.isFinite)).toBe(true);
      // A one-token (class) context makes the cross-attention softmax identically 1, so its query side
      // (norm2, to_q, to_k) gets no gradient; every other parameter does.
      const dead = /attn2\.to_[qk]\.|norm2\.(weight|bias)$/;
      const zero = Object.keys(model.params).filter((_, i) => norms[i] === 0);
      expect(zero).toEqual(conditioning.kind === 'class' ? Object.keys(model.params).filter((k) => k.includes('transformer_blocks') && dead.test(k)) : []);
      expect(zero.length).toBe(conditioning.kind === 'class' ? 16 : 0);
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });
  }

  it('matches an independent PyTorch forward (diffusers semantics) on a two-level U-Net', async () => {
    // Expected values: a float64 PyTorch re-implementation of UNet2DConditionModel's SD-v1 blocks
    // (F.conv2d padding 1 / stride 2, F.interpolate nearest, F.group_norm, GEGLU chunk + exact GELU,
    // flip_sin_to_cos timesteps) run on these weights, transposed to OIHW / [out, in]. The weights are
    // drawn in unetParamSpecs order, so reordering parameters changes them and this table.
    const config = sdStyleUNetConfig({
      sampleSize: 4, inChannels: 2, outChannels: 2, channels: [4, 8], layersPerLevel: 1, attention: [true, true],
      mid: true, numHeads: 2, groups: 2, conditioning: { kind: 'text', contextDim: 3 },
    });
    const model = createUNet(config, new Rng(0));
    randomize(model.params, 5);
    const x = new Rng(1).normalTensor([1, 4, 4, 2]) as tf.Tensor4D;
    const context = new Rng(2).normalTensor([1, 2, 3]);
    const want = [
      -0.414681, 0.473847, -0.351223, 0.60891, -0.44215, 0.661217, -0.410374, 0.628787, -0.024364, 0.147399, 0.105774,
      0.000388, -0.040543, 0.282221, -0.357989, 0.226157, -0.13954, 0.424741, -0.130788, 0.537372, 0.018333, 0.766376,
      -0.152965, 0.487916, -0.025887, 0.050417, 0.096793, 0.105229, -0.068699, 0.258907, -0.281196, 0.248355,
    ];
    const got = await model.forward(x, tf.tensor1d([741.5]), context).data();
    want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThan(2e-6));
    model.dispose();
  });

  it('starts with zero output (zero-initialised conv_out and residual closers) and is deterministic per seed', async () => {
    const config = tiny(classCond);
    const a = createUNet(config, new Rng(5));
    const b = createUNet(config, new Rng(5));
    const { x, t } = inputs(1, config);
    expect(Array.from(await a.forward(x, t, tf.tensor1d([1], 'int32')).data()).every((v) => v === 0)).toBe(true);
    for (const k of Object.keys(a.params)) expect(await a.params[k]!.data()).toEqual(await b.params[k]!.data());
    expect(a.params['down_blocks.1.resnets.0.conv_shortcut.weight']!.shape).toEqual([1, 1, 8, 16]);
    expect(a.params['down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight']!.shape).toEqual([6, 16]);
    expect(a.params['up_blocks.0.resnets.0.conv1.weight']!.shape).toEqual([3, 3, 32, 16]);
    expect(a.params['class_context.weight']!.shape).toEqual([4, 6]);
    a.dispose();
    b.dispose();
  });

  it('label dropout draws from the given Rng: same stream, same output; labels equal to the null class match it', async () => {
    const config = tiny(classCond);
    const model = createUNet(config, new Rng(1));
    randomize(model.params, 6);
    const { x, t } = inputs(4, config);
    const y = tf.tensor1d([0, 1, 2, 0], 'int32');
    const d1 = await model.forward(x, t, y, { labelDropout: new Rng(9) }).data();
    const d2 = await model.forward(x, t, y, { labelDropout: new Rng(9) }).data();
    expect(d1).toEqual(d2);
    const clean = await model.forward(x, t, y).data();
    const nulls = await model.forward(x, t, tf.fill([4], 3, 'int32') as tf.Tensor1D).data();
    const per = d1.length / 4;
    const rng = new Rng(9);
    for (let i = 0; i < 4; i++) {
      const dropped = rng.uniform() < 0.5;
      const row = (a: ArrayLike<number>) => Array.from(a).slice(i * per, (i + 1) * per);
      expect(row(d1)).toEqual(row(dropped ? nulls : clean));
    }
    model.dispose();
  });

  it('loads exactly the config\'s weights from a record, checking names and shapes', () => {
    const config = tiny({ kind: 'none' });
    const src = createUNet(config, new Rng(1));
    const copy = createUNet(config, src.params);
    expect(Object.keys(copy.params)).toEqual(Object.keys(src.params));
    const { 'conv_in.bias': _, ...missing } = src.params;
    const before = tf.memory().numTensors;
    expect(() => createUNet(config, missing)).toThrow(/lack 'conv_in.bias'/);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => createUNet(config, { ...src.params, 'extra.weight': tf.zeros([1]) })).toThrow(/'extra.weight'/);
    expect(() => createUNet(config, { ...src.params, 'conv_in.weight': tf.zeros([8, 2, 3, 3]) })).toThrow(/HWIO/);
    src.dispose();
    copy.dispose();
  });

  it('converts PyTorch layouts: conv OIHW ↔ HWIO, linear [out, in] ↔ [in, out], the rest unchanged', async () => {
    const model = createUNet(tiny(classCond), new Rng(1));
    randomize(model.params, 8);
    const torch = unetParamsToPyTorch(model.params);
    const conv = await model.params['down_blocks.1.resnets.0.conv1.weight']!.array() as number[][][][]; // [kh, kw, in, out]
    const convT = await torch['down_blocks.1.resnets.0.conv1.weight']!.array() as number[][][][]; // [out, in, kh, kw]
    expect(convT.length).toBe(16);
    expect(convT[13]![5]![2]![1]).toBe(conv[2]![1]![5]![13]);
    const lin = await model.params['time_embedding.linear_2.weight']!.array() as number[][]; // [in, out]
    expect((await torch['time_embedding.linear_2.weight']!.array() as number[][])[7]![3]).toBe(lin[3]![7]);
    expect(torch['class_context.weight']!.shape).toEqual([4, 6]);
    expect(torch['down_blocks.1.resnets.0.conv1.bias']!.shape).toEqual([16]);
    const back = unetParamsFromPyTorch(torch);
    for (const [k, v] of Object.entries(model.params)) expect(await back[k]!.data()).toEqual(await v.data());
    for (const t of [...Object.values(torch), ...Object.values(back)]) t.dispose();
    model.dispose();
  });

  it('rejects bad inputs with clear errors', () => {
    const model = createUNet(tiny(classCond), new Rng(1));
    const { x, t } = inputs(2, tiny(classCond));
    expect(() => model.forward(tf.zeros([2, 4, 4, 1]) as tf.Tensor4D, t, tf.tensor1d([0, 1], 'int32'))).toThrow(ModelInputError);
    expect(() => model.forward(x, tf.tensor1d([1]), tf.tensor1d([0, 1], 'int32'))).toThrow(/timesteps/);
    expect(() => model.forward(x, t, tf.tensor1d([0, 1]))).toThrow(/int32/);
    expect(() => model.forward(x, t)).toThrow(/labels/);
    const uncond = createUNet(tiny({ kind: 'none' }), new Rng(1));
    expect(() => uncond.forward(x, t, tf.tensor1d([0, 1], 'int32'))).toThrow(/unconditional/);
    model.dispose();
    uncond.dispose();
  });
});

describe('validateUNetConfig', () => {
  it('names the inconsistent field', () => {
    const ok = tiny(classCond);
    expect(() => validateUNetConfig({ ...ok, channels: [8, 18] })).toThrow(/channels\[1\].*groups/);
    expect(() => validateUNetConfig({ ...ok, sampleSize: 6, channels: [8, 16, 16], downLayers: [[false], [true], [true]], upLayers: [[false, false], [true, true], [true, true]] })).toThrow(/2\^\(levels − 1\)/);
    expect(() => validateUNetConfig({ ...ok, upLayers: [[false], [true, true]] })).toThrow(/skip/);
    expect(() => validateUNetConfig({ ...ok, upLayers: [[false, false, false], [true, true]] })).toThrow(/no skip left/);
    expect(() => validateUNetConfig({ ...ok, numHeads: 3 })).toThrow(/numHeads/);
    expect(() => validateUNetConfig({ ...ok, downLayers: [[], [true]] })).toThrow(/non-empty/);
    expect(() => unetConfig('SD-v9')).toThrow(/valid names: SD-v1.4/);
    expect(() => validateUNetConfig({ ...ok, conditioning: { ...classCond, classDropoutProb: 1 } })).toThrow(ModelConfigError);
  });

  it('named configs are copies', () => {
    const c = unetConfig('UNet-FMNIST');
    c.downLayers[0]![0] = true;
    expect(unetConfig('UNet-FMNIST').downLayers[0]).toEqual([false]);
  });
});
