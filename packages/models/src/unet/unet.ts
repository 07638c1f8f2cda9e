import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '@difflab/core-tensor';
import { ModelConfigError, ModelInputError } from '../errors.js';
import { timestepFrequencies } from '../dit/embeddings.js';
import { groupNorm, layerNorm } from '../norm/functional.js';
import {
  UNET_LAYER_NORM_EPS,
  UNET_NORM_EPS,
  UNET_TRANSFORMER_NORM_EPS,
  type UNetConfig,
  cloneUNetConfig,
  unetPlan,
  validateUNetConfig,
} from './config.js';
import { type UNetParamSpec, unetParamSpecs } from './params.js';

export interface UNetForwardOptions {
  /** Class conditioning only: each label becomes the null class with probability classDropoutProb (CFG training). */
  labelDropout?: Rng;
  /**
   * Called with the output of every non-skip step of unetPlan (resnet, transformer, resampler), keyed by its
   * prefix, inside forward's tidy: tf.keep what must outlive forward (see forwardWithFeatures).
   */
  onStep?: (prefix: string, h: tf.Tensor4D) => void;
}

export interface UNet {
  readonly config: UNetConfig;
  /** Weights keyed by diffusers' UNet2DConditionModel state_dict names; conv weights HWIO, linear weights [in, out]. */
  readonly params: Record<string, tf.Variable>;
  /**
   * x: NHWC [B, sampleSize, sampleSize, inChannels]; t: [B] timesteps (float); cond: the context
   * [B, M, contextDim] for `text`, int32 labels [B] for `class` (numClasses = the null class), omitted
   * for `none`. Returns [B, sampleSize, sampleSize, outChannels]. Pure: safe inside tf.variableGrads.
   */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, cond?: tf.Tensor, opts?: UNetForwardOptions): tf.Tensor4D;
  dispose(): void;
}

function initialValue(spec: UNetParamSpec, rng: Rng): tf.Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.init.kind) {
    case 'uniform':
      return tf.tensor(rng.uniformArray(n, -spec.init.bound, spec.init.bound), spec.shape, 'float32');
    case 'normal':
      return tf.tensor(rng.normalArray(n, 0, 1), spec.shape, 'float32');
    case 'ones':
      return tf.ones(spec.shape);
    case 'zeros':
      return tf.zeros(spec.shape);
  }
}

function loadedValue(spec: UNetParamSpec, source: Record<string, tf.Tensor>): tf.Tensor {
  const t = source[spec.name];
  if (!t) throw new ModelConfigError(`U-Net weights lack '${spec.name}' (shape [${spec.shape.join(', ')}]); pass every parameter of the config`);
  if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
    throw new ModelConfigError(
      `U-Net weight '${spec.name}' has shape [${t.shape.join(', ')}], the config needs [${spec.shape.join(', ')}]` +
        ' (conv weights are HWIO, linear weights [in, out]: transpose PyTorch tensors first)',
    );
  }
  return tf.cast(t, 'float32');
}

/**
 * Builds a U-Net. With an Rng, weights get PyTorch's default initialisation with zero-initialised
 * residual-closing convolutions (see UNetInit); with a record of tensors (e.g. a checkpoint or the
 * output of pruneParams), exactly the config's parameters are copied in, names and shapes checked.
 */
export function createUNet(config: UNetConfig, init: Rng | Record<string, tf.Tensor>): UNet {
  validateUNetConfig(config);
  const cfg = cloneUNetConfig(config);
  const specs = unetParamSpecs(cfg);
  if (!(init instanceof Rng)) {
    const expected = new Set(specs.map((s) => s.name));
    const extra = Object.keys(init).filter((k) => !expected.has(k));
    if (extra.length > 0) {
      throw new ModelConfigError(
        `U-Net weights contain ${extra.length} name(s) the config does not have, e.g. '${extra[0]}'; prune or drop them first`,
      );
    }
  }
  const params: Record<string, tf.Variable> = {};
  try {
    for (const spec of specs) {
      const value = init instanceof Rng ? initialValue(spec, init) : loadedValue(spec, init);
      params[spec.name] = tf.variable(value, true);
      value.dispose();
    }
  } catch (e) {
    for (const v of Object.values(params)) v.dispose();
    throw e;
  }
  const plan = unetPlan(cfg);
  const heads = cfg.numHeads;
  const cond = cfg.conditioning;

  const w = (name: string): tf.Tensor => {
    const v = params[name];
    if (!v) throw new ModelConfigError(`U-Net parameter '${name}' is missing; keep every key of params`);
    return v;
  };

  const linear = (x: tf.Tensor, name: string, bias = true): tf.Tensor => {
    const weight = w(`${name}.weight`) as tf.Tensor2D;
    const x2 = tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D;
    const y = tf.fused.matMul({ a: x2, b: weight, bias: bias ? w(`${name}.bias`) : undefined });
    return tf.reshape(y, [...x.shape.slice(0, -1), weight.shape[1]]);
  };

  const conv = (x: tf.Tensor4D, name: string, strides: 1 | 2 = 1): tf.Tensor4D => {
    const filter = w(`${name}.weight`) as tf.Tensor4D;
    if (filter.shape[0] === 1) {
      // A 1×1 convolution is a matrix product over channels.
      const [, , cin, cout] = filter.shape;
      const y = tf.fused.matMul({ a: tf.reshape(x, [-1, cin]), b: tf.reshape(filter, [cin, cout]), bias: w(`${name}.bias`) });
      return tf.reshape(y, [x.shape[0], x.shape[1], x.shape[2], cout]);
    }
    // pad 1 on every side as PyTorch's padding=1 (for stride 2, TF's 'same' would pad bottom/right only).
    return tf.fused.conv2d({ x, filter, strides, pad: 1, bias: w(`${name}.bias`) });
  };

  const gn = (x: tf.Tensor, name: string, eps: number): tf.Tensor => groupNorm(x, cfg.groups, eps, w(`${name}.weight`), w(`${name}.bias`));
  const ln = (x: tf.Tensor, name: string): tf.Tensor => layerNorm(x, 1, UNET_LAYER_NORM_EPS, w(`${name}.weight`), w(`${name}.bias`));
  const silu = (x: tf.Tensor): tf.Tensor => tf.mul(x, tf.sigmoid(x));
  // Exact (erf) GELU, as torch.nn.functional.gelu in diffusers' GEGLU.
  const gelu = (x: tf.Tensor): tf.Tensor => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));

  const resnet = (h: tf.Tensor4D, temb: tf.Tensor, prefix: string): tf.Tensor4D => {
    const r = conv(silu(gn(h, `${prefix}.norm1`, UNET_NORM_EPS)) as tf.Tensor4D, `${prefix}.conv1`);
    const outC = r.shape[3];
    const t = tf.reshape(linear(silu(temb), `${prefix}.time_emb_proj`), [-1, 1, 1, outC]);
    const r2 = conv(silu(gn(tf.add(r, t), `${prefix}.norm2`, UNET_NORM_EPS)) as tf.Tensor4D, `${prefix}.conv2`);
    const shortcut = params[`${prefix}.conv_shortcut.weight`] ? conv(h, `${prefix}.conv_shortcut`) : h;
    return tf.add(shortcut, r2);
  };

  const attention = (x: tf.Tensor, context: tf.Tensor, prefix: string): tf.Tensor => {
    const [b, n, c] = x.shape as [number, number, number];
    const m = context.shape[1]!;
    const hd = c / heads;
    const split = (y: tf.Tensor, len: number) => tf.transpose(tf.reshape(y, [b, len, heads, hd]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = split(tf.mul(linear(x, `${prefix}.to_q`, false), 1 / Math.sqrt(hd)), n);
    const k = split(linear(context, `${prefix}.to_k`, false), m);
    const v = split(linear(context, `${prefix}.to_v`, false), m);
    const out = tf.matMul(tf.softmax(tf.matMul(q, k, false, true)), v);
    return linear(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, n, c]), `${prefix}.to_out.0`);
  };

  const feedForward = (x: tf.Tensor, prefix: string): tf.Tensor => {
    const [hidden, gate] = tf.split(linear(x, `${prefix}.net.0.proj`), 2, -1) as [tf.Tensor, tf.Tensor];
    return linear(tf.mul(hidden, gelu(gate)), `${prefix}.net.2`);
  };

  const transformer = (h: tf.Tensor4D, context: tf.Tensor | null, prefix: string): tf.Tensor4D => {
    const [b, hh, ww, c] = h.shape;
    const blk = `${prefix}.transformer_blocks.0`;
    let x = tf.reshape(conv(gn(h, `${prefix}.norm`, UNET_TRANSFORMER_NORM_EPS) as tf.Tensor4D, `${prefix}.proj_in`), [b, hh * ww, c]);
    const normed1 = ln(x, `${blk}.norm1`);
    x = tf.add(x, attention(normed1, normed1, `${blk}.attn1`));
    if (context) x = tf.add(x, attention(ln(x, `${blk}.norm2`), context, `${blk}.attn2`));
    x = tf.add(x, feedForward(ln(x, `${blk}.norm3`), `${blk}.ff`));
    return tf.add(conv(tf.reshape(x, [b, hh, ww, c]) as tf.Tensor4D, `${prefix}.proj_out`), h);
  };

  const upsampleNearest = (h: tf.Tensor4D): tf.Tensor4D => {
    // Nearest ×2 (F.interpolate(scale_factor=2)) as two rank-3 tiles (columns, then rows): tile's gradient
    // is a plain sum on every backend, unlike ResizeNearestNeighborGrad's.
    const [b, hh, ww, c] = h.shape;
    const cols = tf.tile(tf.reshape(h, [b * hh * ww, 1, c]), [1, 2, 1]);
    const rows = tf.tile(tf.reshape(cols, [b * hh, 1, 2 * ww * c]), [1, 2, 1]);
    return tf.reshape(rows, [b, 2 * hh, 2 * ww, c]);
  };

  const contextOf = (b: number, c: tf.Tensor | undefined, opts: UNetForwardOptions): tf.Tensor | null => {
    if (cond.kind === 'none') {
      if (c) throw new ModelInputError('this U-Net is unconditional (conditioning none): call forward(x, t) without cond');
      return null;
    }
    if (cond.kind === 'text') {
      if (!c || c.rank !== 3 || c.shape[0] !== b || c.shape[2] !== cond.contextDim || c.dtype !== 'float32') {
        throw new ModelInputError(
          `U-Net context must be float32 [${b}, M, ${cond.contextDim}], got ${c ? `${c.dtype} [${c.shape.join(', ')}]` : 'nothing'}`,
        );
      }
      return c;
    }
    if (!c || c.rank !== 1 || c.shape[0] !== b || c.dtype !== 'int32') {
      throw new ModelInputError(`U-Net labels must be int32 [${b}], got ${c ? `${c.dtype} [${c.shape.join(', ')}]` : 'nothing'}`);
    }
    let labels = c as tf.Tensor1D;
    if (opts.labelDropout && cond.classDropoutProb > 0) {
      const drop = new Uint8Array(b);
      for (let i = 0; i < b; i++) drop[i] = opts.labelDropout.uniform() < cond.classDropoutProb ? 1 : 0;
      labels = tf.where(tf.tensor1d(drop, 'bool'), tf.fill([b], cond.numClasses, 'int32'), labels);
    }
    return tf.expandDims(tf.gather(w('class_context.weight'), labels), 1);
  };

  const forward = (x: tf.Tensor4D, t: tf.Tensor1D, c?: tf.Tensor, opts: UNetForwardOptions = {}): tf.Tensor4D =>
    tf.tidy(() => {
      const want = [cfg.sampleSize, cfg.sampleSize, cfg.inChannels];
      if (x.rank !== 4 || x.shape.slice(1).some((v, i) => v !== want[i])) {
        throw new ModelInputError(`U-Net input x must be NHWC [B, ${want.join(', ')}], got [${x.shape.join(', ')}]`);
      }
      const b = x.shape[0];
      if (t.rank !== 1 || t.shape[0] !== b) {
        throw new ModelInputError(`U-Net timesteps t must have shape [${b}] (one per example), got [${t.shape.join(', ')}]`);
      }
      const context = contextOf(b, c, opts);
      const temb = linear(silu(linear(timestepFrequencies(t, cfg.channels[0]!), 'time_embedding.linear_1')), 'time_embedding.linear_2');
      let h = conv(x, 'conv_in');
      const skips: tf.Tensor4D[] = [];
      for (const s of plan) {
        if (s.op === 'skip') skips.push(h);
        else if (s.op === 'resnet') h = resnet(s.skipChannels > 0 ? tf.concat([h, skips.pop()!], 3) : h, temb, s.prefix);
        else if (s.op === 'transformer') h = transformer(h, context, s.prefix);
        else if (s.op === 'downsample') h = conv(h, `${s.prefix}.conv`, 2);
        else h = conv(upsampleNearest(h), `${s.prefix}.conv`);
        if (s.op !== 'skip') opts.onStep?.(s.prefix, h);
      }
      return conv(silu(gn(h, 'conv_norm_out', UNET_NORM_EPS)) as tf.Tensor4D, 'conv_out');
    });

  return {
    config: cfg,
    params,
    forward,
    dispose() {
      for (const v of Object.values(params)) v.dispose();
    },
  };
}
