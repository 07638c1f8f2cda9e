import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@difflab/core-tensor';
import { type Sampler, sample } from '../diffusion/samplers.js';
import { ModelConfigError, ModelInputError } from '../errors.js';
import type { UNetBlockRemoval, UNetPruningSpec } from '../unet/prune.js';
import type { UNet } from '../unet/unet.js';
import { type PruningOperator, modifiedUNet, specFitsWeights, unetOperators, withModification } from './operators.js';

/** Element-wise statistics of a set of generated latents over the sample axis (population std). */
export interface LatentStats {
  mean: Float64Array;
  std: Float64Array;
}

export function latentStats(latents: tf.Tensor): LatentStats {
  const n = latents.shape[0] ?? 0;
  if (latents.rank < 2 || n < 1) throw new ModelInputError(`latentStats: need latents [N, ...] with N ≥ 1, got [${latents.shape.join(', ')}]`);
  const values = latents.dataSync();
  const d = values.length / n;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += values[i * d + j]! / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const e = values[i * d + j]! - mean[j]!;
      std[j]! += (e * e) / n;
    }
  }
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]!);
  return { mean, std };
}

/**
 * How the mean and standard-deviation changes are combined (LD-Pruner's score and the variants it is compared with):
 * - `sum` (default, the paper): ‖μ_o − μ_m‖ + ‖σ_o − σ_m‖;
 * - `product`: ‖μ_o − μ_m‖ · ‖σ_o − σ_m‖ (zero as soon as either statistic is unchanged);
 * - `mean`: ‖μ_o − μ_m‖ only; `std`: ‖σ_o − σ_m‖ only.
 */
export type LdCombine = 'sum' | 'product' | 'mean' | 'std';
/**
 * The distance applied to each statistic: `l2` (default, the paper: Euclidean norm over latent elements), `l1`,
 * or `relative`: ‖Δ‖₂ / ‖statistic of the original‖₂ (scale-free, so the two terms weigh alike).
 */
export type LdDistance = 'l2' | 'l1' | 'relative';

export interface LdScoreOptions {
  combine?: LdCombine;
  distance?: LdDistance;
}

function distance(a: Float64Array, b: Float64Array, kind: LdDistance): number {
  let d1 = 0;
  let d2 = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    const e = a[i]! - b[i]!;
    d1 += Math.abs(e);
    d2 += e * e;
    ref += a[i]! * a[i]!;
  }
  if (kind === 'l1') return d1;
  if (kind === 'l2') return Math.sqrt(d2);
  // The original's statistic is all zeros only for a degenerate model; then any change is infinitely large.
  return d2 === 0 ? 0 : Math.sqrt(d2) / Math.sqrt(ref);
}

/** LD-Pruner's score of a modification: how far the modified model's latent statistics moved from the original's. */
export function ldPrunerScore(original: LatentStats, modified: LatentStats, opts: LdScoreOptions = {}): number {
  if (original.mean.length !== modified.mean.length) {
    throw new ModelInputError(`ldPrunerScore: latent sizes differ (${original.mean.length} vs ${modified.mean.length})`);
  }
  const kind = opts.distance ?? 'l2';
  const dm = distance(original.mean, modified.mean, kind);
  const ds = distance(original.std, modified.std, kind);
  switch (opts.combine ?? 'sum') {
    case 'sum':
      return dm + ds;
    case 'product':
      return dm * ds;
    case 'mean':
      return dm;
    case 'std':
      return ds;
  }
}

export interface LdPrunerOptions {
  sampler: Sampler;
  /** The fixed starting noises x_T [N, H, W, C]; the same for every model. Not disposed. */
  noise: tf.Tensor4D;
  /** Class labels (one per noise) for class-conditional U-Nets; omitted for unconditional ones. */
  labels?: readonly number[];
  /** Seed of the sampler's own randomness (stochastic samplers), re-created per model so all see the same draws. */
  seed?: number;
  /** Operators to score; default every operator of the model (unetOperators). */
  operators?: readonly PruningOperator[];
  score?: LdScoreOptions;
}

export interface LdPrunerRow {
  operator: PruningOperator;
  score: number;
  /** Latent statistics of the model with this operator replaced (to re-score with other options: rescoreLdPruner). */
  stats: LatentStats;
}

export interface LdPrunerRanking {
  original: LatentStats;
  /** Least significant (lowest score) first; ties keep forward order. */
  rows: LdPrunerRow[];
}

/** Runs the sampler with `model` from the fixed noises and conditions, returning the final latents. */
export function sampleLatents(model: UNet, opts: Pick<LdPrunerOptions, 'sampler' | 'noise' | 'labels' | 'seed'>): tf.Tensor4D {
  const kind = model.config.conditioning.kind;
  if (kind === 'text') throw new ModelConfigError('LD-Pruner sampling supports class-conditional and unconditional U-Nets, not text conditioning');
  const n = opts.noise.shape[0];
  if ((kind === 'class') !== (opts.labels !== undefined)) {
    throw new ModelInputError('LD-Pruner: pass labels exactly when the U-Net is class-conditional');
  }
  if (opts.labels && opts.labels.length !== n) throw new ModelInputError(`LD-Pruner: ${opts.labels.length} labels for ${n} noises`);
  return sample((x, t, y) => model.forward(x, t, kind === 'class' ? y : undefined), opts.sampler, {
    shape: opts.noise.shape,
    labels: opts.labels ?? Array<number>(n).fill(0),
    rng: new Rng(opts.seed ?? 0),
    noise: opts.noise,
  });
}

function rank(rows: LdPrunerRow[]): LdPrunerRow[] {
  return rows.map((r, i) => ({ r, i })).sort((a, b) => a.r.score - b.r.score || a.i - b.i).map((o) => o.r);
}

/**
 * LD-Pruner's operator scoring: for each operator, replace it (zeroed closing projection: the identity, or a
 * resnet's channel-matching shortcut), sample from the fixed noises and conditions, and score how the output
 * latents' mean and standard deviation moved from the original model's.
 */
export async function ldPrunerRanking(unet: UNet, opts: LdPrunerOptions): Promise<LdPrunerRanking> {
  const latentsOf = (model: UNet): LatentStats => {
    const z = sampleLatents(model, opts);
    try {
      return latentStats(z);
    } finally {
      z.dispose();
    }
  };
  const original = latentsOf(unet);
  const rows: LdPrunerRow[] = [];
  for (const operator of opts.operators ?? unetOperators(unet.config)) {
    const stats = await withModification(unet, { zero: operator.zero }, latentsOf);
    rows.push({ operator, stats, score: ldPrunerScore(original, stats, opts.score) });
  }
  return { original, rows: rank(rows) };
}

/** The same ranking under another score formula (no re-sampling); ties keep the previous order. */
export function rescoreLdPruner(ranking: LdPrunerRanking, score: LdScoreOptions): LdPrunerRanking {
  return { original: ranking.original, rows: rank(ranking.rows.map((r) => ({ ...r, score: ldPrunerScore(ranking.original, r.stats, score) }))) };
}

export interface PrunedUNet {
  unet: UNet;
  /** The operators pruned (the k least significant). */
  operators: PruningOperator[];
  /** Architectural removals (shrink params and MACs), on the original config. */
  spec: UNetPruningSpec;
  /** Parameters zeroed in the original model for operators replaced rather than removed. */
  zeroed: string[];
}

/**
 * Prunes the k least significant operators of a ranking, carrying the other weights over:
 * - a down/up-stage transformer is removed from the architecture (spec parts ['attention']);
 * - the mid block is removed when its three operators are all selected;
 * - a selected down resnet and a selected up resnet of the same level are removed together as blocks
 *   (with their transformers, which must then be selected too) when the kept weights still fit;
 * - everything else (lone resnets, attention/feed-forward sub-layers, part of the mid block) is replaced
 *   by zeroing its closing projection, which keeps its weights in the model but computes the identity/shortcut.
 */
export function pruneLowest(unet: UNet, ranking: LdPrunerRanking, k: number): PrunedUNet {
  if (!Number.isInteger(k) || k < 0 || k > ranking.rows.length) {
    throw new ModelInputError(`pruneLowest: k must be an integer in 0..${ranking.rows.length}, got ${k}`);
  }
  const chosen = ranking.rows.slice(0, k).map((r) => r.operator);
  const ids = new Set(chosen.map((o) => o.id));
  const handled = new Set<string>();
  const remove: UNetBlockRemoval[] = [];
  const all = unetOperators(unet.config);
  const transformerOf = (o: PruningOperator) =>
    all.find((t) => t.kind === 'transformer' && t.stage === o.stage && t.level === o.level && t.index === o.index);
  const removableBlock = (o: PruningOperator): boolean => {
    const t = transformerOf(o);
    return !t || ids.has(t.id);
  };
  const blockRemoval = (o: PruningOperator): UNetBlockRemoval => ({
    stage: o.stage as 'down' | 'up',
    level: o.level,
    index: o.index,
    parts: transformerOf(o) ? ['resnet', 'attention'] : ['resnet'],
  });
  // Block pairs first: a removed block takes its transformer with it.
  for (const d of chosen.filter((o) => o.kind === 'resnet' && o.stage === 'down' && removableBlock(o))) {
    for (const u of chosen.filter((o) => o.kind === 'resnet' && o.stage === 'up' && o.level === d.level && !handled.has(o.id) && removableBlock(o))) {
      const trial = [...remove, blockRemoval(d), blockRemoval(u)];
      if (!specFitsWeights(unet.config, { remove: trial })) continue;
      remove.push(blockRemoval(d), blockRemoval(u));
      for (const o of [d, u]) {
        handled.add(o.id);
        const t = transformerOf(o);
        if (t) for (const sub of all.filter((s) => s.id.startsWith(`${t.id}.`) || s.id === t.id)) handled.add(sub.id);
      }
      break;
    }
  }
  for (const t of chosen.filter((o) => o.kind === 'transformer' && o.stage !== 'mid' && !handled.has(o.id))) {
    remove.push({ stage: t.stage as 'down' | 'up', level: t.level, index: t.index, parts: ['attention'] });
    for (const sub of all.filter((s) => s.id.startsWith(`${t.id}.`) || s.id === t.id)) handled.add(sub.id);
  }
  const mid = all.filter((o) => o.stage === 'mid' && o.kind !== 'attn1' && o.kind !== 'attn2' && o.kind !== 'ff');
  const removeMid = mid.length > 0 && mid.every((o) => ids.has(o.id));
  if (removeMid) for (const o of all.filter((s) => s.stage === 'mid')) handled.add(o.id);
  const spec: UNetPruningSpec = { removeMid, remove };
  const zeroed = chosen.filter((o) => !handled.has(o.id)).flatMap((o) => o.zero);
  return { unet: modifiedUNet(unet, { spec, zero: zeroed }), operators: chosen, spec, zeroed };
}
