import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import type { DiT, DiTAdaptation } from '../dit/dit.js';
import { geluTanh } from '../ops/gelu.js';
import { type PeftAdapter, countParams, finiteNumber, positiveInteger, trainableVariable } from './adapter.js';

// Houlsby adapters (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"): a bottleneck
// a(h) = h + up(gelu(down(h))), d → m → d with its own residual, on the output of every block's
// self-attention and MLP sublayers, before the block's residual add (or adaLN-Zero's gate).
// `up` starts at zero, so every adapter is the identity and the adapted model equals the base at init.

export interface HoulsbyOptions {
  /** Bottleneck width m ≥ 1; default 64 (Houlsby et al. report m ∈ {8, 64, 256}). */
  bottleneck?: number;
  /** Standard deviation of the N(0, σ²) `down` weights; default 0.02 (DiT's and BERT's normal init). */
  initStd?: number;
}

export interface HoulsbyAdapter extends PeftAdapter {
  readonly method: 'houlsby';
  readonly bottleneck: number;
}

/**
 * Two adapters per block, `blocks.<i>.adapter_attn` and `blocks.<i>.adapter_mlp`, each with
 * `.down.weight` [d, m] (N(0, initStd²) from `rng`), `.down.bias` [m] (0), `.up.weight` [m, d] (0) and
 * `.up.bias` [d] (0). The nonlinearity is GELU with the tanh approximation, as the DiT MLP's. In the
 * cross-attention design the cross-attention sublayer has no adapter. Trainable count
 * depth · 2 · ((d·m + m) + (m·d + d)).
 */
export function createHoulsbyAdapters(dit: DiT, opts: HoulsbyOptions, rng: Rng): HoulsbyAdapter {
  const m = positiveInteger(opts.bottleneck ?? 64, 'Houlsby option bottleneck', 'pass the bottleneck width m ≥ 1 (e.g. 8, 64 or 256)');
  const std = finiteNumber(opts.initStd ?? 0.02, 'Houlsby option initStd', true);
  const d = dit.config.hiddenSize;

  const params: Record<string, tf.Variable> = {};
  for (let i = 0; i < dit.config.depth; i++) {
    for (const where of ['attn', 'mlp']) {
      const p = `blocks.${i}.adapter_${where}`;
      params[`${p}.down.weight`] = trainableVariable(rng.normalArray(d * m, 0, std), [d, m]);
      params[`${p}.down.bias`] = trainableVariable(new Float32Array(m), [m]);
      params[`${p}.up.weight`] = trainableVariable(new Float32Array(m * d), [m, d]);
      params[`${p}.up.bias`] = trainableVariable(new Float32Array(d), [d]);
    }
  }

  const dense = (x: tf.Tensor2D, name: string): tf.Tensor2D =>
    tf.fused.matMul({ a: x, b: params[`${name}.weight`] as tf.Tensor2D, bias: params[`${name}.bias`] }) as tf.Tensor2D;

  /** h + up(gelu(down(h))) for h [B, T, d]. */
  const adapter = (h: tf.Tensor3D, p: string): tf.Tensor3D => {
    const rows = tf.reshape(h, [-1, d]) as tf.Tensor2D;
    const delta = dense(geluTanh(dense(rows, `${p}.down`)) as tf.Tensor2D, `${p}.up`);
    return tf.add(h, tf.reshape(delta, h.shape));
  };

  const adaptation: DiTAdaptation = {
    afterAttention: (block, out) => adapter(out, `blocks.${block}.adapter_attn`),
    afterMlp: (block, out) => adapter(out, `blocks.${block}.adapter_mlp`),
  };

  return {
    method: 'houlsby',
    params,
    adaptation,
    trainableCount: countParams(params),
    bottleneck: m,
    dispose() {
      for (const v of Object.values(params)) v.dispose();
    },
  };
}
