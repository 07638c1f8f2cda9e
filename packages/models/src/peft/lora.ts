import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import type { DiT, DiTAdaptation } from '../dit/dit.js';
import {
  type LayerPattern,
  type PeftAdapter,
  WeightMerger,
  countParams,
  finiteNumber,
  positiveInteger,
  selectLayers,
  trainableVariable,
} from './adapter.js';

// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): a frozen linear weight
// W [in, out] gets a trained low-rank update, W_eff = W + (alpha / r)·A·B with A [in, r] and B [r, out].
// B starts at zero, so the adapted model equals the base at initialisation.

export interface LoraOptions {
  /** Rank r ≥ 1 of every update; default 8 (HF PEFT's default). */
  rank?: number;
  /** The update is scaled by alpha / rank; default alpha = rank (scale 1, as HF PEFT's defaults r = 8, alpha = 8). */
  alpha?: number;
  /** Linear layers to adapt (see LayerPattern); default the self-attention projections ['attn.qkv', 'attn.proj']. */
  targets?: readonly LayerPattern[];
}

export const LORA_DEFAULT_TARGETS: readonly LayerPattern[] = ['attn.qkv', 'attn.proj'];

export interface LoraAdapter extends PeftAdapter {
  readonly method: 'lora';
  readonly rank: number;
  readonly alpha: number;
  /** alpha / rank. */
  readonly scale: number;
  /** The adapted linear layers, e.g. 'blocks.0.attn.qkv'. */
  readonly layers: readonly string[];
  /** True between merge() and unmerge(); while merged the adaptation adds nothing (W already holds ΔW). */
  readonly merged: boolean;
  /** W + (alpha/r)·A·B of every adapted layer, new tensors keyed by weight name ('blocks.0.attn.qkv.weight'); the caller disposes. */
  mergedWeights(): Record<string, tf.Tensor2D>;
  /**
   * Writes W + (alpha/r)·A·B into the DiT's weights (the same float32 ops as the adaptation, so the merged
   * forward equals the adapted forward), keeping a copy of each original W. Train no further while merged.
   */
  merge(): void;
  /** Restores every original W bit for bit from the copy merge() kept. */
  unmerge(): void;
}

/**
 * LoRA on the linear layers of `dit` matched by `opts.targets`. Parameters per layer `<layer>`:
 * `<layer>.lora_A` [in, r], drawn from `rng` with kaiming_uniform(a = √5) as loralib and HF PEFT
 * initialise `lora_A` (for fan-in `in` that is U(−1/√in, 1/√in)), and `<layer>.lora_B` [r, out] zero.
 * (PEFT stores `lora_A.weight` [r, in] and `lora_B.weight` [out, r]: ours are their transposes, like
 * every DiT weight here.) Trainable count Σ_layers r·(in + out).
 */
export function createLora(dit: DiT, opts: LoraOptions, rng: Rng): LoraAdapter {
  const rank = positiveInteger(opts.rank ?? 8, 'LoRA option rank', 'pass rank ≥ 1 (e.g. 4, 8 or 16)');
  const alpha = finiteNumber(opts.alpha ?? rank, 'LoRA option alpha', true);
  const scale = alpha / rank;
  const layers = selectLayers(dit, opts.targets ?? LORA_DEFAULT_TARGETS, 'LoRA option targets');

  const params: Record<string, tf.Variable> = {};
  for (const layer of layers) {
    const [fanIn, fanOut] = dit.params[`${layer}.weight`]!.shape as [number, number];
    const bound = 1 / Math.sqrt(fanIn); // kaiming_uniform(a=√5): gain √(2/(1+5)) · √(3/fan_in)
    params[`${layer}.lora_A`] = trainableVariable(rng.uniformArray(fanIn * rank, -bound, bound), [fanIn, rank]);
    params[`${layer}.lora_B`] = trainableVariable(new Float32Array(rank * fanOut), [rank, fanOut]);
  }
  const adapted = new Set(layers);

  /** W + scale·A·B (W [in, out], A [in, r], B [r, out]). */
  const effective = (layer: string, w: tf.Tensor2D): tf.Tensor2D =>
    tf.add(w, tf.mul(tf.matMul(params[`${layer}.lora_A`] as tf.Tensor2D, params[`${layer}.lora_B`] as tf.Tensor2D), scale));

  const merger = new WeightMerger(dit, layers, effective, 'LoRA');
  const adaptation: DiTAdaptation = {
    weight: (layer, w) => (adapted.has(layer) && !merger.merged ? effective(layer, w) : w),
  };

  return {
    method: 'lora',
    params,
    adaptation,
    trainableCount: countParams(params),
    rank,
    alpha,
    scale,
    layers,
    get merged() {
      return merger.merged;
    },
    mergedWeights: () => merger.mergedWeights(),
    merge: () => merger.merge(),
    unmerge: () => merger.unmerge(),
    dispose() {
      merger.dispose();
      for (const v of Object.values(params)) v.dispose();
    },
  };
}
