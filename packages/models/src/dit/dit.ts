import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { ModelConfigError, ModelInputError } from '../errors.js';
import { geluTanh } from '../ops/gelu.js';
import { type DiTConfig, type DiTNorm, TIMESTEP_FREQ_DIM, ditShape, validateDiTConfig } from './config.js';
import { sincosPosEmbed2d, timestepFrequencies } from './embeddings.js';
import { gatedResidual, layerNormComposed, linear as fusedLinear, normModulate as fusedNormModulate, selfAttentionCore } from './fused.js';
import { patchify, unpatchify } from './patchify.js';
import { prefixedSelfAttention } from '../peft/prefix-attention.js';
import { rmsNorm } from './rmsnorm.js';
import { applyRotary, qkvRotaryTables } from './rope.js';
import { type Dense, swigluMlp } from './swiglu.js';

export interface DiTForwardOptions {
  /** Label dropout for classifier-free guidance training: each label becomes the null class with probability classDropoutProb. */
  labelDropout?: Rng;
  /**
   * Called after block `index` (0-based) with its output image tokens [B, numPatches, hiddenSize]
   * (the in-context design's two conditioning tokens left out), for representation probes. The
   * tensor is freed when forward returns: read it (h.dataSync()) or tf.keep a copy inside the callback.
   */
  onBlock?: (index: number, h: tf.Tensor3D) => void;
  /**
   * Hooks of one parameter-efficient fine-tuning method (see `../peft`: `createLora`, `createHoulsbyAdapters`,
   * `createPrefixTuning`, `createSvdiff`, each returning `{ adaptation }`). Absent: the base model, unchanged.
   */
  adaptation?: DiTAdaptation;
}

/** Learned key and value prefixes of one self-attention layer, each [L, hiddenSize] (heads split like k and v). */
export interface DiTAttentionPrefix {
  k: tf.Tensor2D;
  v: tf.Tensor2D;
}

/**
 * Where a fine-tuning method enters the DiT forward. Every member is optional and called inside the
 * forward's tf.tidy, so tensors a hook creates are freed with the forward's own; hooks must be pure tfjs
 * ops (no dataSync) so that gradients reach the method's variables under tf.variableGrads.
 */
export interface DiTAdaptation {
  /**
   * The weight [in, out] that linear layer `layer` (its name without `.weight`, e.g. 'blocks.0.attn.qkv';
   * every linear goes through here, SwiGLU's and cross-attention's included) uses in place of its
   * stored weight `w`. The bias is not adapted. LoRA and SVDiff.
   */
  weight?(layer: string, w: tf.Tensor2D): tf.Tensor2D;
  /**
   * The self-attention sublayer's output [B, T, d] of block `block` (after `attn.proj`, before the
   * residual add or adaLN-Zero's gate; T = numPatches, + 2 conditioning tokens in the in-context design)
   * → its replacement. Cross-attention has no hook. Houlsby adapters.
   */
  afterAttention?(block: number, out: tf.Tensor3D): tf.Tensor3D;
  /** The MLP sublayer's output [B, T, d] of block `block` (before the residual add or gate) → its replacement. */
  afterMlp?(block: number, out: tf.Tensor3D): tf.Tensor3D;
  /**
   * Key/value prefixes prepended to block `block`'s self-attention keys and values (queries are not
   * prefixed, so the output length is unchanged), or null. A prefixed layer runs attention composed from
   * tfjs ops instead of the fused kernel; prefix keys are not rotated by RoPE (they have no position).
   */
  prefix?(block: number): DiTAttentionPrefix | null;
  /**
   * The label embedding table [labelRows, d] the labels are looked up in, in place of the stored
   * `y_embedder.embedding_table.weight` `table` (e.g. one row replaced by a trained vector when a
   * fine-tune teaches a class the base never saw).
   */
  labelEmbedding?(table: tf.Tensor2D): tf.Tensor2D;
}

export interface DiT {
  readonly config: DiTConfig;
  /** Trainable weights keyed by the PyTorch state_dict names; linear weights stored [in, out]. */
  readonly params: Record<string, tf.Variable>;
  /** Fixed 2-D sin-cos positional embedding [N, hiddenSize] (PyTorch's non-trainable `pos_embed`). */
  readonly posEmbed: tf.Tensor2D;
  /**
   * x: NHWC [B, inputSize, inputSize, inChannels]; t: [B] timesteps (float); y: int32 [B] labels
   * (numClasses = the null class). Returns [B, inputSize, inputSize, outChannels]. Pure: safe inside
   * tf.variableGrads; every intermediate is freed.
   */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D, opts?: DiTForwardOptions): tf.Tensor4D;
  dispose(): void;
}

const LN_EPS = 1e-6;

/** Weight initialisers of DiT's initialize_weights, drawn from the caller's Rng. */
class Init {
  readonly params: Record<string, tf.Variable> = {};
  constructor(private readonly rng: Rng) {}

  private add(name: string, values: Float32Array, shape: number[]): void {
    // tf.variable shares the source's data, so the source handle must be released separately.
    const source = tf.tensor(values, shape, 'float32');
    this.params[name] = tf.variable(source, true);
    source.dispose();
  }

  /** xavier_uniform weight [in, out] (same bound as PyTorch's [out, in]), zero bias. */
  linear(name: string, fanIn: number, fanOut: number, weight: 'xavier' | 'zero' | 'normal' = 'xavier'): void {
    const n = fanIn * fanOut;
    const a = Math.sqrt(6 / (fanIn + fanOut));
    const w =
      weight === 'xavier'
        ? this.rng.uniformArray(n, -a, a)
        : weight === 'normal'
          ? this.rng.normalArray(n, 0, 0.02)
          : new Float32Array(n);
    this.add(`${name}.weight`, w, [fanIn, fanOut]);
    this.add(`${name}.bias`, new Float32Array(fanOut), [fanOut]);
  }

  layerNorm(name: string, dim: number): void {
    this.add(`${name}.weight`, new Float32Array(dim).fill(1), [dim]);
    this.add(`${name}.bias`, new Float32Array(dim), [dim]);
  }

  /** An affine norm where DiT has one: LayerNorm (weight, bias) or RMSNorm (weight only, as torch.nn.RMSNorm). */
  affineNorm(name: string, dim: number, kind: DiTNorm): void {
    if (kind === 'rmsnorm') this.add(`${name}.weight`, new Float32Array(dim).fill(1), [dim]);
    else this.layerNorm(name, dim);
  }

  table(name: string, rows: number, dim: number): void {
    this.add(name, this.rng.normalArray(rows * dim, 0, 0.02), [rows, dim]);
  }
}

function initParams(config: DiTConfig, rng: Rng): Record<string, tf.Variable> {
  const d = config.hiddenSize;
  const s = ditShape(config);
  const norm = config.norm ?? 'layernorm';
  const init = new Init(rng);
  init.linear('x_embedder.proj', s.patchDim, d);
  init.linear('t_embedder.mlp.0', TIMESTEP_FREQ_DIM, d, 'normal');
  init.linear('t_embedder.mlp.2', d, d, 'normal');
  init.table('y_embedder.embedding_table.weight', s.labelRows, d);
  const zeroMod = config.block === 'adaLN-Zero' ? 'zero' : 'xavier';
  for (let i = 0; i < config.depth; i++) {
    const p = `blocks.${i}`;
    const affine = config.block === 'in-context' || config.block === 'cross-attention';
    if (affine) init.affineNorm(`${p}.norm1`, d, norm);
    init.linear(`${p}.attn.qkv`, d, 3 * d);
    init.linear(`${p}.attn.proj`, d, d);
    if (affine) init.affineNorm(`${p}.norm2`, d, norm);
    if (config.block === 'cross-attention') {
      init.linear(`${p}.cross_attn.q`, d, d);
      init.linear(`${p}.cross_attn.kv`, d, 2 * d);
      init.linear(`${p}.cross_attn.proj`, d, d);
      init.affineNorm(`${p}.norm3`, d, norm);
    }
    if (config.mlp === 'swiglu') {
      // LightningDiT's SwiGLUFFN names: w1 (activated), w2 (gate), w3 (out); xavier like every linear.
      init.linear(`${p}.mlp.w1`, d, s.swigluHidden);
      init.linear(`${p}.mlp.w2`, d, s.swigluHidden);
      init.linear(`${p}.mlp.w3`, s.swigluHidden, d);
    } else {
      init.linear(`${p}.mlp.fc1`, d, s.mlpHidden);
      init.linear(`${p}.mlp.fc2`, s.mlpHidden, d);
    }
    if (config.block === 'adaLN-Zero') init.linear(`${p}.adaLN_modulation.1`, d, 6 * d, zeroMod);
    if (config.block === 'adaLN') init.linear(`${p}.adaLN_modulation.1`, d, 4 * d, zeroMod);
  }
  if (config.block === 'adaLN' || config.block === 'adaLN-Zero') {
    init.linear('final_layer.adaLN_modulation.1', d, 2 * d, zeroMod);
  } else {
    init.affineNorm('final_layer.norm_final', d, norm);
  }
  init.linear('final_layer.linear', d, config.patchSize * config.patchSize * s.outChannels, zeroMod);
  return init.params;
}

/** Builds a DiT with DiT's initialisation, drawing every random weight from `rng`. */
export function createDiT(config: DiTConfig, rng: Rng): DiT {
  validateDiTConfig(config);
  const cfg: DiTConfig = { ...config };
  const s = ditShape(cfg);
  const d = cfg.hiddenSize;
  const heads = cfg.numHeads;
  const headDim = d / heads;
  const params = initParams(cfg, rng);
  // RoPE keeps the absolute sin-cos embedding, as LightningDiT does: the ladder adds RoPE on top of it.
  const posEmbed = tf.tensor2d(Float32Array.from(sincosPosEmbed2d(d, s.gridSize)), [s.numPatches, d]);
  const rotary = cfg.rope ? qkvRotaryTables(d, heads, s.gridSize, cfg.block === 'in-context' ? 2 : 0) : null;
  const ropeCos = rotary ? tf.tensor2d(rotary.cos, [rotary.tokens, rotary.pairs]) : null;
  const ropeSin = rotary ? tf.tensor2d(rotary.sin, [rotary.tokens, rotary.pairs]) : null;

  const w = (name: string): tf.Variable => {
    const v = params[name];
    if (!v) throw new ModelConfigError(`DiT parameter '${name}' is missing; load weights with params[name].assign(t), keeping every key`);
    return v;
  };

  /** Linear layer `name`'s weight [in, out]: the stored one, or the adaptation's effective weight. */
  const weightOf = (name: string, a?: DiTAdaptation): tf.Tensor => {
    const stored = w(`${name}.weight`);
    return a?.weight ? a.weight(name, stored as tf.Tensor2D) : stored;
  };

  /** Dense layer on the last axis of a tensor of any rank. */
  const linear = (x: tf.Tensor, name: string, a?: DiTAdaptation): tf.Tensor => {
    return fusedLinear(x, weightOf(name, a), w(`${name}.bias`));
  };

  /** The in-context and cross-attention designs' affine norm: LayerNorm·weight + bias, or RMSNorm·weight. */
  const affineNorm = (x: tf.Tensor, affine: string): tf.Tensor =>
    cfg.norm === 'rmsnorm'
      ? tf.mul(rmsNorm(x, LN_EPS), w(`${affine}.weight`))
      : tf.add(tf.mul(layerNormComposed(x, LN_EPS), w(`${affine}.weight`)), w(`${affine}.bias`));

  /** DiT's modulate(norm(x), shift, scale), one fused kernel each way where the backend has it (see fused.ts). */
  const normModulate = (x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor): tf.Tensor => fusedNormModulate(x, shift, scale, LN_EPS, cfg.norm ?? 'layernorm');

  const dense = (name: string, a?: DiTAdaptation): Dense => ({ weight: weightOf(name, a), bias: w(`${name}.bias`) });

  /** GELU MLP fc2(gelu(fc1 x)), or SwiGLU w3(silu(w1 x) ⊙ w2 x); then the adaptation's afterMlp of block i. */
  const mlp = (x: tf.Tensor, p: string, i: number, a?: DiTAdaptation): tf.Tensor => {
    const out =
      cfg.mlp === 'swiglu'
        ? swigluMlp(x, dense(`${p}.mlp.w1`, a), dense(`${p}.mlp.w2`, a), dense(`${p}.mlp.w3`, a))
        : linear(geluTanh(linear(x, `${p}.mlp.fc1`, a)), `${p}.mlp.fc2`, a);
    return a?.afterMlp ? a.afterMlp(i, out as tf.Tensor3D) : out;
  };

  /** q and k of the fused qkv [B, T, 3d] rotated by RoPE when enabled, so the attention kernels stay unchanged. */
  const rotate = (qkv: tf.Tensor): tf.Tensor => (ropeCos && ropeSin ? applyRotary(qkv, ropeCos, ropeSin) : qkv);

  /** Multi-head attention of q [B, H, Nq, hd] over k, v [B, H, Nk, hd] (cross-attention), merged to [B, Nq, d]. */
  const attend = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: number, nq: number): tf.Tensor => {
    const scores = tf.matMul(tf.mul(q, 1 / Math.sqrt(headDim)) as tf.Tensor4D, k as tf.Tensor4D, false, true);
    const out = tf.matMul(tf.softmax(scores), v as tf.Tensor4D);
    return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, nq, d]);
  };

  /** Self-attention over keys and values [prefix; tokens] (prefix tuning): qkv comes rotated, the prefix keys are not (no position). */
  const prefixedAttention = (qkv: tf.Tensor, prefix: DiTAttentionPrefix, block: number): tf.Tensor => {
    const len = prefix.k.shape[0];
    for (const [part, t] of [['k', prefix.k], ['v', prefix.v]] as const) {
      if (t.rank !== 2 || t.shape[0] !== len || t.shape[1] !== d) {
        throw new ModelInputError(`DiT block ${block}: prefix ${part} must be [L, ${d}] with the same L for k and v, got [${t.shape.join(', ')}] (k has L = ${len})`);
      }
    }
    return prefixedSelfAttention(qkv, prefix.k, prefix.v, heads);
  };

  /** Self-attention of block i, with the adaptation's weights, prefix and afterAttention when given. */
  const selfAttention = (x: tf.Tensor, p: string, i: number, a?: DiTAdaptation): tf.Tensor => {
    const qkv = rotate(linear(x, `${p}.attn.qkv`, a));
    const prefix = a?.prefix ? a.prefix(i) : null;
    const out = linear(prefix ? prefixedAttention(qkv, prefix, i) : selfAttentionCore(qkv, heads), `${p}.attn.proj`, a);
    return a?.afterAttention ? a.afterAttention(i, out as tf.Tensor3D) : out;
  };

  const crossAttention = (x: tf.Tensor, cond: tf.Tensor, p: string, a?: DiTAdaptation): tf.Tensor => {
    const [b, n] = x.shape as [number, number, number];
    const m = cond.shape[1]!;
    const q = tf.transpose(tf.reshape(linear(x, `${p}.cross_attn.q`, a), [b, n, heads, headDim]), [0, 2, 1, 3]);
    const kv = tf.transpose(tf.reshape(linear(cond, `${p}.cross_attn.kv`, a), [b, m, 2, heads, headDim]), [2, 0, 3, 1, 4]);
    const [k, v] = tf.unstack(kv) as [tf.Tensor, tf.Tensor];
    return linear(attend(q, k, v, b, n), `${p}.cross_attn.proj`, a);
  };

  /** Splits a [B, k·d] modulation into k tensors [B, 1, d] (via a leading axis, for contiguous slices). */
  const chunks = (mod: tf.Tensor, k: number): tf.Tensor[] =>
    tf.unstack(tf.transpose(tf.reshape(mod, [-1, k, 1, d]), [1, 0, 2, 3]));

  const checkInputs = (x: tf.Tensor, t: tf.Tensor, y: tf.Tensor): void => {
    const want = [cfg.inputSize, cfg.inputSize, cfg.inChannels];
    if (x.rank !== 4 || x.shape.slice(1).some((v, i) => v !== want[i])) {
      throw new ModelInputError(`DiT input x must be NHWC [B, ${want.join(', ')}], got [${x.shape.join(', ')}]`);
    }
    const b = x.shape[0];
    if (t.rank !== 1 || t.shape[0] !== b) {
      throw new ModelInputError(`DiT timesteps t must have shape [${b}] (one per example), got [${t.shape.join(', ')}]`);
    }
    if (y.rank !== 1 || y.shape[0] !== b || y.dtype !== 'int32') {
      throw new ModelInputError(
        `DiT labels y must be int32 with shape [${b}], got ${y.dtype} [${y.shape.join(', ')}]`,
      );
    }
  };

  const dropLabels = (y: tf.Tensor1D, rng: Rng): tf.Tensor1D => {
    const b = y.shape[0];
    const drop = new Uint8Array(b);
    for (let i = 0; i < b; i++) drop[i] = rng.uniform() < cfg.classDropoutProb ? 1 : 0;
    return tf.where(tf.tensor1d(drop, 'bool'), tf.fill([b], cfg.numClasses, 'int32'), y);
  };

  const forward = (x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D, opts: DiTForwardOptions = {}): tf.Tensor4D =>
    tf.tidy(() => {
      checkInputs(x, t, y);
      const b = x.shape[0];
      const n = s.numPatches;
      const labels = opts.labelDropout && cfg.classDropoutProb > 0 ? dropLabels(y, opts.labelDropout) : y;
      const a = opts.adaptation;

      let h = tf.add(tf.reshape(linear(patchify(x, cfg.patchSize), 'x_embedder.proj', a), [b, n, d]), posEmbed);
      const tEmb = linear(silu(linear(timestepFrequencies(t, TIMESTEP_FREQ_DIM), 't_embedder.mlp.0', a)), 't_embedder.mlp.2', a);
      const labelTable = w('y_embedder.embedding_table.weight') as tf.Tensor2D;
      const yEmb = tf.gather(a?.labelEmbedding ? a.labelEmbedding(labelTable) : labelTable, labels);

      let out: tf.Tensor;
      if (cfg.block === 'adaLN' || cfg.block === 'adaLN-Zero') {
        const c = silu(tf.add(tEmb, yEmb));
        for (let i = 0; i < cfg.depth; i++) {
          const p = `blocks.${i}`;
          if (cfg.block === 'adaLN-Zero') {
            const [sh1, sc1, g1, sh2, sc2, g2] = chunks(linear(c, `${p}.adaLN_modulation.1`, a), 6);
            h = gatedResidual(h, g1!, selfAttention(normModulate(h, sh1!, sc1!), p, i, a));
            h = gatedResidual(h, g2!, mlp(normModulate(h, sh2!, sc2!), p, i, a));
          } else {
            const [sh1, sc1, sh2, sc2] = chunks(linear(c, `${p}.adaLN_modulation.1`, a), 4);
            h = tf.add(h, selfAttention(normModulate(h, sh1!, sc1!), p, i, a));
            h = tf.add(h, mlp(normModulate(h, sh2!, sc2!), p, i, a));
          }
          opts.onBlock?.(i, h as tf.Tensor3D);
        }
        const [shift, scale] = chunks(linear(c, 'final_layer.adaLN_modulation.1', a), 2);
        out = linear(normModulate(h, shift!, scale!), 'final_layer.linear', a);
      } else {
        const cond = tf.stack([tEmb, yEmb], 1);
        if (cfg.block === 'in-context') h = tf.concat([h, cond], 1);
        for (let i = 0; i < cfg.depth; i++) {
          const p = `blocks.${i}`;
          h = tf.add(h, selfAttention(affineNorm(h, `${p}.norm1`), p, i, a));
          if (cfg.block === 'cross-attention') {
            h = tf.add(h, crossAttention(affineNorm(h, `${p}.norm2`), cond, p, a));
            h = tf.add(h, mlp(affineNorm(h, `${p}.norm3`), p, i, a));
          } else {
            h = tf.add(h, mlp(affineNorm(h, `${p}.norm2`), p, i, a));
          }
          opts.onBlock?.(i, (cfg.block === 'in-context' ? tf.slice(h, [0, 0, 0], [b, n, d]) : h) as tf.Tensor3D);
        }
        if (cfg.block === 'in-context') h = tf.slice(h, [0, 0, 0], [b, n, d]);
        out = linear(affineNorm(h, 'final_layer.norm_final'), 'final_layer.linear', a);
      }
      return unpatchify(out, b, s.gridSize, cfg.patchSize, s.outChannels);
    });

  return {
    config: cfg,
    params,
    posEmbed,
    forward,
    dispose() {
      for (const v of Object.values(params)) v.dispose();
      posEmbed.dispose();
      ropeCos?.dispose();
      ropeSin?.dispose();
    },
  };
}

function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}
