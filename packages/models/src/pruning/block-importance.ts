import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@difflab/core-tensor';
import { addNoise, type NoiseSchedule } from '../diffusion/schedule.js';
import { ModelConfigError, ModelInputError } from '../errors.js';
import type { UNetConfig } from '../unet/config.js';
import { countUNet } from '../unet/count.js';
import { type UNetBlockRemoval, applyPruning } from '../unet/prune.js';
import type { UNet } from '../unet/unet.js';
import { type UNetModification, specFitsWeights, unetOperators, withModification } from './operators.js';

/** A removal to evaluate: a label, the modification, and how many units (blocks) it groups. */
export interface BlockCandidate {
  label: string;
  group: 'single' | 'pair' | 'triplet';
  mod: UNetModification;
}

/**
 * BK-SDM's removal units on a config:
 * - single: each residual block alone, replaced by the identity / its shortcut (removing it from the
 *   architecture would drop its skip, which the U-Net's wiring forbids for a lone block), and each
 *   spatial transformer alone (removed from the architecture; the mid block's is replaced by the identity);
 * - pair: each block with its transformer (resnet + attention, as BK-SDM removes them) — a down block of a level
 *   together with an up block of the same level is an architectural removal (BK-SDM-Base's unit) when the
 *   kept weights still fit, otherwise the resnet is replaced and the transformer removed;
 * - triplet: the mid block (resnet → transformer → resnet), removed from the architecture.
 */
export function bkSdmCandidates(config: UNetConfig, groups: readonly BlockCandidate['group'][] = ['single', 'pair', 'triplet']): BlockCandidate[] {
  const out: BlockCandidate[] = [];
  const ops = unetOperators(config);
  const resnets = ops.filter((o) => o.kind === 'resnet' && o.stage !== 'mid');
  const transformerOf = (stage: 'down' | 'up', level: number, index: number) =>
    ops.find((o) => o.kind === 'transformer' && o.stage === stage && o.level === level && o.index === index);
  const removal = (stage: 'down' | 'up', level: number, index: number, withAttention: boolean): UNetBlockRemoval => ({
    stage,
    level,
    index,
    parts: withAttention ? ['resnet', 'attention'] : ['resnet'],
  });
  if (groups.includes('single')) {
    for (const r of ops.filter((o) => o.kind === 'resnet')) out.push({ label: r.id, group: 'single', mod: { zero: r.zero } });
    for (const t of ops.filter((o) => o.kind === 'transformer')) {
      // A spec cannot remove the mid block's transformer alone; replacing it by the identity is the same function.
      const mod: UNetModification =
        t.stage === 'mid' ? { zero: t.zero } : { spec: { remove: [{ stage: t.stage, level: t.level, index: t.index, parts: ['attention'] }] } };
      out.push({ label: t.id, group: 'single', mod });
    }
  }
  if (groups.includes('pair')) {
    for (const r of resnets) {
      const stage = r.stage as 'down' | 'up';
      const t = transformerOf(stage, r.level, r.index);
      if (!t) continue;
      out.push({
        label: `${r.id} + ${t.id}`,
        group: 'pair',
        mod: { zero: r.zero, spec: { remove: [{ stage, level: r.level, index: r.index, parts: ['attention'] }] } },
      });
    }
    for (const d of resnets.filter((r) => r.stage === 'down')) {
      for (const u of resnets.filter((r) => r.stage === 'up' && r.level === d.level)) {
        const spec = {
          remove: [
            removal('down', d.level, d.index, !!transformerOf('down', d.level, d.index)),
            removal('up', u.level, u.index, !!transformerOf('up', u.level, u.index)),
          ],
        };
        if (specFitsWeights(config, spec)) out.push({ label: `${d.id} & ${u.id} (architectural)`, group: 'pair', mod: { spec } });
      }
    }
  }
  if (groups.includes('triplet') && config.mid) out.push({ label: 'mid_block', group: 'triplet', mod: { spec: { removeMid: true, remove: [] } } });
  return out;
}

export interface BlockImportanceRow {
  label: string;
  group: BlockCandidate['group'];
  mod: UNetModification;
  quality: number;
  /** Quality lost by the removal: quality − baseline (lower is better) or baseline − quality (higher is better). */
  degradation: number;
  /** Parameters of the modified architecture (a replaced resnet keeps its weights, so only removals shrink it). */
  params: number;
}

export interface BlockImportanceResult {
  baseline: number;
  baselineParams: number;
  /** Least important (smallest degradation) first; ties keep candidate order. */
  rows: BlockImportanceRow[];
}

/**
 * BK-SDM's block-importance study: evaluates `quality` on the trained model and on every candidate
 * modification (no retraining), ranking by the quality lost. `quality` is any callback: the denoising proxy
 * below, or FID over samples.
 */
export async function blockImportance(
  unet: UNet,
  quality: (model: UNet) => number | Promise<number>,
  opts: { candidates?: readonly BlockCandidate[]; higherIsBetter?: boolean } = {},
): Promise<BlockImportanceResult> {
  const candidates = opts.candidates ?? bkSdmCandidates(unet.config);
  const baseline = await quality(unet);
  if (!Number.isFinite(baseline)) throw new ModelInputError(`blockImportance: quality of the unmodified model is ${baseline}; the callback must return a finite number`);
  const rows: BlockImportanceRow[] = [];
  for (const c of candidates) {
    const q = await withModification(unet, c.mod, quality);
    rows.push({
      label: c.label,
      group: c.group,
      mod: c.mod,
      quality: q,
      degradation: opts.higherIsBetter ? baseline - q : q - baseline,
      params: countUNet(applyPruning(unet.config, c.mod.spec ?? { remove: [] })).params,
    });
  }
  const order = rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.degradation - b.r.degradation || a.i - b.i);
  return { baseline, baselineParams: countUNet(unet.config).params, rows: order.map((o) => o.r) };
}

export interface DenoisingProxyOptions {
  /** Clean images NHWC, e.g. a fixed held-out batch scaled to [−1, 1]. Not disposed. */
  images: tf.Tensor4D;
  /** Class labels for class-conditional models (one per image); omitted for unconditional ones. */
  labels?: ArrayLike<number>;
  schedule: NoiseSchedule;
  /** Timesteps at which each image is noised (every image at every t). */
  timesteps: readonly number[];
  /** Seed of the fixed noise. */
  seed: number;
}

/**
 * A cheap quality proxy (lower is better): ε-MSE of the model on the given images at fixed timesteps and
 * fixed noise, so every model sees exactly the same inputs. Returns the callback and a dispose for its tensors.
 */
export function denoisingProxy(opts: DenoisingProxyOptions): { quality: (model: UNet) => number; dispose: () => void } {
  const [b, h, w, c] = opts.images.shape;
  if (opts.timesteps.length === 0) throw new ModelInputError('denoisingProxy: timesteps must list at least one timestep');
  for (const t of opts.timesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= opts.schedule.numTimesteps) {
      throw new ModelInputError(`denoisingProxy: timestep ${t} outside 0..${opts.schedule.numTimesteps - 1}`);
    }
  }
  if (opts.labels && opts.labels.length !== b) throw new ModelInputError(`denoisingProxy: ${opts.labels.length} labels for ${b} images`);
  const n = b * opts.timesteps.length;
  const ts = opts.timesteps.flatMap((t) => Array<number>(b).fill(t));
  const noise = new Rng(opts.seed).normalTensor([n, h, w, c]) as tf.Tensor4D;
  const xt = tf.tidy(() => addNoise(opts.schedule, tf.concat(opts.timesteps.map(() => opts.images), 0), noise, ts) as tf.Tensor4D);
  const tTensor = tf.tensor1d(ts);
  const labels = opts.labels;
  const y = labels ? tf.tensor1d(Int32Array.from(opts.timesteps.flatMap(() => Array.from(labels))), 'int32') : null;
  const quality = (model: UNet): number => {
    if ((model.config.conditioning.kind === 'class') !== (y !== null)) {
      throw new ModelConfigError('denoisingProxy: pass labels exactly when the U-Net is class-conditional');
    }
    return tf.tidy(() => tf.mean(tf.square(tf.sub(model.forward(xt, tTensor, y ?? undefined), noise))).dataSync()[0]!);
  };
  return { quality, dispose: () => tf.dispose([noise, xt, tTensor, ...(y ? [y] : [])]) };
}
