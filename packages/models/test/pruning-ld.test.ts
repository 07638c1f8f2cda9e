import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, initBackend } from '@difflab/core-tensor';
import {
  DDIMSampler,
  ModelInputError,
  type UNetConfig,
  countUNet,
  createUNet,
  latentStats,
  ldPrunerRanking,
  ldPrunerScore,
  linearSchedule,
  modifiedUNet,
  pruneLowest,
  rescoreLdPruner,
  sampleLatents,
  sdStyleUNetConfig,
  unetOperators,
} from '../src/index.js';

await initBackend({ backend: 'cpu' });

const config: UNetConfig = sdStyleUNetConfig({
  sampleSize: 4, inChannels: 1, outChannels: 1, channels: [4, 8], layersPerLevel: 1, attention: [false, true],
  mid: true, numHeads: 2, groups: 2, conditioning: { kind: 'class', numClasses: 3, contextDim: 4, classDropoutProb: 0 },
});

/** Random weights (no block is an identity), then the named operators made identities again. */
function model(seed: number, identities: string[]) {
  const unet = createUNet(config, new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const v of Object.values(unet.params)) v.assign(tf.mul(rng.normalTensor(v.shape), 0.3));
  const ops = unetOperators(config);
  for (const id of identities) for (const n of ops.find((o) => o.id === id)!.zero) unet.params[n]!.assign(tf.zerosLike(unet.params[n]!));
  return unet;
}

const IDENTITY_RESNET = 'mid_block.resnets.1';
const IDENTITY_TRANSFORMER = 'up_blocks.0.attentions.1';

const opts = () => ({
  sampler: new DDIMSampler(linearSchedule(), { steps: 2 }),
  noise: new Rng(9).normalTensor([4, 4, 4, 1]) as tf.Tensor4D,
  labels: [0, 1, 2, 3],
});

describe('LD-Pruner score', () => {
  it('latentStats: element-wise mean and population std over the samples', () => {
    const s = latentStats(tf.tensor2d([[1, 2], [3, 6]]));
    expect(Array.from(s.mean)).toEqual([2, 4]);
    expect(Array.from(s.std)).toEqual([1, 2]);
    expect(() => latentStats(tf.tensor1d([1, 2]))).toThrow(ModelInputError);
  });

  it('combines Δmean and Δstd as the paper (sum of Euclidean norms) and as the alternatives', () => {
    const o = { mean: Float64Array.from([3, 4]), std: Float64Array.from([1, 0]) };
    const m = { mean: Float64Array.from([0, 0]), std: Float64Array.from([1, 2]) };
    // Δμ = (3, 4): ‖·‖₂ = 5, ‖·‖₁ = 7; Δσ = (0, −2): ‖·‖₂ = 2 = ‖·‖₁; ‖μ_o‖₂ = 5, ‖σ_o‖₂ = 1.
    expect(ldPrunerScore(o, m)).toBe(7);
    expect(ldPrunerScore(o, m, { combine: 'product' })).toBe(10);
    expect(ldPrunerScore(o, m, { combine: 'mean' })).toBe(5);
    expect(ldPrunerScore(o, m, { combine: 'std' })).toBe(2);
    expect(ldPrunerScore(o, m, { distance: 'l1' })).toBe(9);
    expect(ldPrunerScore(o, m, { distance: 'relative' })).toBeCloseTo(5 / 5 + 2 / 1, 12);
    expect(ldPrunerScore(o, o, { distance: 'relative' })).toBe(0);
    expect(() => ldPrunerScore(o, { mean: new Float64Array(3), std: new Float64Array(3) })).toThrow(/latent sizes differ/);
  });
});

describe('LD-Pruner ranking', () => {
  it('identity operators score exactly 0 and rank first; every other operator scores > 0; deterministic', async () => {
    const unet = model(1, [IDENTITY_RESNET, IDENTITY_TRANSFORMER]);
    const o = opts();
    const ranking = await ldPrunerRanking(unet, o);
    const ops = unetOperators(config);
    expect(ranking.rows.length).toBe(ops.length);
    const score = (id: string) => ranking.rows.find((r) => r.operator.id === id)!.score;
    expect(score(IDENTITY_RESNET)).toBe(0);
    expect(score(IDENTITY_TRANSFORMER)).toBe(0);
    // The identity transformer's sub-layers only feed its zeroed proj_out, so replacing them changes nothing either.
    const zeroIds = new Set([IDENTITY_RESNET, IDENTITY_TRANSFORMER, ...ops.filter((op) => op.id.startsWith(`${IDENTITY_TRANSFORMER}.`)).map((op) => op.id)]);
    expect(ranking.rows.slice(0, zeroIds.size).every((r) => zeroIds.has(r.operator.id))).toBe(true);
    for (const r of ranking.rows.slice(zeroIds.size)) expect(r.score).toBeGreaterThan(1e-4);
    const some = ops.slice(0, 6);
    const again = await ldPrunerRanking(unet, { ...o, operators: some });
    const subset = ranking.rows.filter((r) => some.some((op) => op.id === r.operator.id));
    expect(again.rows.map((r) => [r.operator.id, r.score])).toEqual(subset.map((r) => [r.operator.id, r.score]));
    // Re-scoring keeps the zeros first under every variant.
    for (const combine of ['product', 'mean', 'std'] as const) {
      const re = rescoreLdPruner(ranking, { combine });
      expect(re.rows.slice(0, 2).every((r) => r.score === 0)).toBe(true);
    }
    unet.dispose();
  });

  it('pruneLowest removes an identity transformer from the architecture and replaces a lone resnet, output unchanged', async () => {
    const unet = model(2, [IDENTITY_RESNET, IDENTITY_TRANSFORMER]);
    const o = opts();
    const ranking = await ldPrunerRanking(unet, { ...o, operators: unetOperators(config).filter((op) => op.kind === 'resnet' || op.kind === 'transformer') });
    expect(new Set(ranking.rows.slice(0, 2).map((r) => r.operator.id))).toEqual(new Set([IDENTITY_RESNET, IDENTITY_TRANSFORMER]));
    const pruned = pruneLowest(unet, ranking, 2);
    expect(pruned.spec).toEqual({ removeMid: false, remove: [{ stage: 'up', level: 1, index: 1, parts: ['attention'] }] });
    expect(pruned.zeroed).toEqual([`${IDENTITY_RESNET}.conv2.weight`, `${IDENTITY_RESNET}.conv2.bias`]);
    expect(countUNet(pruned.unet.config).params).toBeLessThan(countUNet(config).params);
    const want = sampleLatents(unet, o);
    const got = sampleLatents(pruned.unet, o);
    let worst = 0;
    const [a, b] = [await want.data(), await got.data()];
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).toBeLessThan(1e-4);
    pruned.unet.dispose();
    unet.dispose();
  });

  it('pruneLowest removes the mid block when all of it is selected, and validates k', async () => {
    const unet = model(3, []);
    const mid = unetOperators(config).filter((op) => op.stage === 'mid' && (op.kind === 'resnet' || op.kind === 'transformer'));
    const ranking = await ldPrunerRanking(unet, { ...opts(), operators: mid });
    const pruned = pruneLowest(unet, ranking, 3);
    expect(pruned.spec.removeMid).toBe(true);
    expect(pruned.zeroed).toEqual([]);
    expect(pruned.unet.config.mid).toBe(false);
    expect(() => pruneLowest(unet, ranking, 4)).toThrow(/k must be an integer in 0..3/);
    pruned.unet.dispose();
    unet.dispose();
  });

  it('pruneLowest removes a selected down/up resnet pair of one level as blocks (BK-SDM-Base unit)', () => {
    const two = sdStyleUNetConfig({ ...config, layersPerLevel: 2, attention: [false, true] });
    const unet = createUNet(two, new Rng(4));
    const ops = unetOperators(two);
    const pick = ['down_blocks.0.resnets.1', 'up_blocks.1.resnets.1', 'up_blocks.0.attentions.2.transformer_blocks.0.ff'];
    const rows = [...pick.map((id) => ops.find((o) => o.id === id)!), ...ops.filter((o) => !pick.includes(o.id))].map((operator, i) => ({
      operator, score: i, stats: { mean: new Float64Array(1), std: new Float64Array(1) },
    }));
    const pruned = pruneLowest(unet, { original: rows[0]!.stats, rows }, 3);
    expect(pruned.spec.remove).toEqual([
      { stage: 'down', level: 0, index: 1, parts: ['resnet'] },
      { stage: 'up', level: 0, index: 1, parts: ['resnet'] },
    ]);
    expect(pruned.zeroed).toEqual(ops.find((o) => o.id === pick[2])!.zero);
    expect(pruned.unet.config.downLayers[0]).toEqual([false]);
    expect(pruned.unet.params['up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2.weight']!.dataSync().every((v) => v === 0)).toBe(true);
    expect(() => modifiedUNet(unet, { zero: ['nope.weight'] })).toThrow(/zeroes 'nope.weight'/);
    pruned.unet.dispose();
    unet.dispose();
  });
});
