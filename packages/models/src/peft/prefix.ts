import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import type { DiT, DiTAdaptation } from '../dit/dit.js';
import { type PeftAdapter, PeftConfigError, countParams, finiteNumber, trainableVariable } from './adapter.js';

// Prefix tuning (Li & Liang 2021; deep prompts in every layer as P-Tuning v2, Liu et al. 2022): L learned
// key and value vectors per self-attention layer, prepended to that layer's keys and values, split into
// heads like them. Queries are not prefixed, so every layer's output keeps its length:
//   attn(q, K, V) = softmax(q·[P_k; K]ᵀ/√hd)·[P_v; V].
// The prefixes are trained directly (P-Tuning v2), without Li & Liang's reparametrising MLP.
// Unlike the other methods this is not the identity at initialisation: the softmax gives every prefix
// key a positive weight, so the base attention output is scaled down by Z/(Z + Σ_prefix e^{q·p_k/√hd})
// (plus the prefix values' share). Only L = 0 reproduces the base exactly.

export interface PrefixOptions {
  /** Prefix length L ≥ 0 per layer; default 10. L = 0 adds nothing (useful as a check of the composed attention). */
  length?: number;
  /** Standard deviation of the N(0, σ²) initial prefixes; default 0.02 (small: scores near 0, values near 0). */
  initStd?: number;
}

export interface PrefixAdapter extends PeftAdapter {
  readonly method: 'prefix';
  readonly length: number;
}

/**
 * Parameters `blocks.<i>.attn.prefix_k` and `blocks.<i>.attn.prefix_v`, each [L, d] (column
 * h·hd + j is head h's channel j, as in the fused qkv), drawn N(0, initStd²) from `rng` (k then v,
 * block by block; random, not zero, so the L prefix tokens differ and train apart). Prefix keys are
 * not rotated by RoPE: they have no position. Trainable count depth · 2 · L · d.
 */
export function createPrefixTuning(dit: DiT, opts: PrefixOptions, rng: Rng): PrefixAdapter {
  const length = opts.length ?? 10;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) {
    throw new PeftConfigError(`prefix option length must be an integer ≥ 0 (prefix tokens per layer), got ${String(length)}; pass e.g. length: 10`);
  }
  const std = finiteNumber(opts.initStd ?? 0.02, 'prefix option initStd', true);
  const d = dit.config.hiddenSize;

  const params: Record<string, tf.Variable> = {};
  for (let i = 0; i < dit.config.depth; i++) {
    params[`blocks.${i}.attn.prefix_k`] = trainableVariable(rng.normalArray(length * d, 0, std), [length, d]);
    params[`blocks.${i}.attn.prefix_v`] = trainableVariable(rng.normalArray(length * d, 0, std), [length, d]);
  }

  const adaptation: DiTAdaptation = {
    prefix: (block) => ({
      k: params[`blocks.${block}.attn.prefix_k`] as tf.Tensor2D,
      v: params[`blocks.${block}.attn.prefix_v`] as tf.Tensor2D,
    }),
  };

  return {
    method: 'prefix',
    params,
    adaptation,
    trainableCount: countParams(params),
    length,
    dispose() {
      for (const v of Object.values(params)) v.dispose();
    },
  };
}
