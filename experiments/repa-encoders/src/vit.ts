import { Rng, tf } from '@difflab/core-tensor';
import { sincosPosEmbed2d } from '@difflab/models';

/**
 * A small ViT and its masked-autoencoder training head (He et al. 2022, "Masked Autoencoders Are Scalable
 * Vision Learners"), sized for 32×32 Fashion-MNIST: patch 4 gives an 8×8 token grid, the DiT-FMNIST-S/4 grid,
 * so the encoder's tokens need no resizing to be REPA targets. Pre-LN blocks as timm's, fixed 2-D sin-cos
 * positions as MAE's, weights [in, out].
 */
export interface VitConfig {
  patch: number;
  imageSize: number;
  width: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  decoderWidth: number;
  decoderDepth: number;
  /** Fraction of tokens hidden from the encoder while training (MAE: 0.75). */
  maskRatio: number;
}

export const VIT_PARAMS = (c: VitConfig) => ({ grid: c.imageSize / c.patch, patchDim: c.patch * c.patch });

type Params = Record<string, tf.Variable>;

function xavier(rng: Rng, fanIn: number, fanOut: number, shape = [fanIn, fanOut]): tf.Tensor {
  const a = Math.sqrt(6 / (fanIn + fanOut));
  return tf.tensor(rng.uniformArray(shape.reduce((x, y) => x * y, 1), -a, a), shape);
}

function addVar(params: Params, name: string, init: tf.Tensor): void {
  params[name] = tf.variable(init, true);
  init.dispose();
}

function blockParams(params: Params, prefix: string, width: number, mlp: number, rng: Rng): void {
  const linear = (name: string, i: number, o: number) => {
    addVar(params, `${prefix}.${name}.weight`, xavier(rng, i, o));
    addVar(params, `${prefix}.${name}.bias`, tf.zeros([o]));
  };
  for (const n of ['norm1', 'norm2']) {
    addVar(params, `${prefix}.${n}.weight`, tf.ones([width]));
    addVar(params, `${prefix}.${n}.bias`, tf.zeros([width]));
  }
  linear('attn.qkv', width, 3 * width);
  linear('attn.proj', width, width);
  linear('mlp.fc1', width, mlp);
  linear('mlp.fc2', mlp, width);
}

/** All parameters of encoder and decoder, drawn from `seed` (xavier-uniform linears, zero biases, unit norms, mask token N(0, 0.02²)). */
export function initVit(c: VitConfig, seed: number): Params {
  const rng = new Rng(seed);
  const { patchDim } = VIT_PARAMS(c);
  const params: Params = {};
  addVar(params, 'patch_embed.weight', xavier(rng, patchDim, c.width));
  addVar(params, 'patch_embed.bias', tf.zeros([c.width]));
  for (let i = 0; i < c.depth; i++) blockParams(params, `blocks.${i}`, c.width, c.width * c.mlpRatio, rng);
  addVar(params, 'norm.weight', tf.ones([c.width]));
  addVar(params, 'norm.bias', tf.zeros([c.width]));
  addVar(params, 'decoder_embed.weight', xavier(rng, c.width, c.decoderWidth));
  addVar(params, 'decoder_embed.bias', tf.zeros([c.decoderWidth]));
  addVar(params, 'mask_token', rng.normalTensor([c.decoderWidth], 0, 0.02));
  for (let i = 0; i < c.decoderDepth; i++) blockParams(params, `decoder_blocks.${i}`, c.decoderWidth, c.decoderWidth * c.mlpRatio, rng);
  addVar(params, 'decoder_norm.weight', tf.ones([c.decoderWidth]));
  addVar(params, 'decoder_norm.bias', tf.zeros([c.decoderWidth]));
  addVar(params, 'decoder_pred.weight', xavier(rng, c.decoderWidth, patchDim));
  addVar(params, 'decoder_pred.bias', tf.zeros([patchDim]));
  return params;
}

const layerNorm = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-6))), w), b);
};
const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI)))));
const dense = (p: Params, name: string, x: tf.Tensor) => {
  const shape = x.shape;
  const w = p[`${name}.weight`]!;
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, shape.at(-1)!]), w), p[`${name}.bias`]!);
  return tf.reshape(y, [...shape.slice(0, -1), w.shape[1]!]);
};

/** One pre-LN transformer block on [B, N, W]. */
function block(p: Params, prefix: string, x: tf.Tensor3D, heads: number): tf.Tensor3D {
  const [b, n, w] = x.shape;
  const dh = w / heads;
  const h = layerNorm(x, p[`${prefix}.norm1.weight`]!, p[`${prefix}.norm1.bias`]!);
  const qkv = tf.transpose(tf.reshape(dense(p, `${prefix}.attn.qkv`, h), [b, n, 3, heads, dh]), [2, 0, 3, 1, 4]); // [3, B, H, N, dh]
  const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)));
  const mixed = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, w]);
  const x1 = tf.add(x, dense(p, `${prefix}.attn.proj`, mixed));
  const h2 = layerNorm(x1, p[`${prefix}.norm2.weight`]!, p[`${prefix}.norm2.bias`]!);
  return tf.add(x1, dense(p, `${prefix}.mlp.fc2`, gelu(dense(p, `${prefix}.mlp.fc1`, h2)))) as tf.Tensor3D;
}

/** NHWC [B, S, S, 1] → patches [B, (S/p)², p²], row-major grid, row-major within a patch. */
export function patchify(x: tf.Tensor4D, p: number): tf.Tensor3D {
  const [b, s] = x.shape;
  const g = s / p;
  return tf.reshape(tf.transpose(tf.reshape(x, [b, g, p, g, p]), [0, 1, 3, 2, 4]), [b, g * g, p * p]) as tf.Tensor3D;
}

export class Vit {
  readonly grid: number;
  private readonly pos: tf.Tensor2D;
  private readonly decoderPos: tf.Tensor2D;

  constructor(
    readonly config: VitConfig,
    readonly params: Params,
  ) {
    this.grid = VIT_PARAMS(config).grid;
    this.pos = tf.tensor2d(Float32Array.from(sincosPosEmbed2d(config.width, this.grid)), [this.grid * this.grid, config.width]);
    this.decoderPos = tf.tensor2d(Float32Array.from(sincosPosEmbed2d(config.decoderWidth, this.grid)), [this.grid * this.grid, config.decoderWidth]);
  }

  private embed(x: tf.Tensor4D): tf.Tensor3D {
    return tf.add(dense(this.params, 'patch_embed', patchify(x, this.config.patch)), this.pos) as tf.Tensor3D;
  }

  private encode(tokens: tf.Tensor3D): tf.Tensor3D {
    let h = tokens;
    for (let i = 0; i < this.config.depth; i++) h = block(this.params, `blocks.${i}`, h, this.config.heads);
    return layerNorm(h, this.params['norm.weight']!, this.params['norm.bias']!) as tf.Tensor3D;
  }

  /** The encoder's final (normalised) tokens of whole images [B, grid², width]: what REPA aligns to. Images in [−1, 1]. */
  tokens(x: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => this.encode(this.embed(x)));
  }

  /**
   * MAE's loss on a batch: each image keeps a random (1 − maskRatio) of its tokens, drawn from `rng`; the
   * decoder sees encoded visible tokens plus a shared mask token at the hidden positions and predicts the
   * hidden patches' pixels, scored by MSE on the hidden patches only, against per-patch normalised pixels
   * (MAE's norm_pix_loss, which the paper finds gives better representations).
   */
  maeLoss(x: tf.Tensor4D, rng: Rng): tf.Scalar {
    const b = x.shape[0];
    const n = this.grid * this.grid;
    const keep = Math.max(1, Math.round(n * (1 - this.config.maskRatio)));
    const visible = new Int32Array(b * keep);
    const restore = new Int32Array(b * n);
    const masked = new Float32Array(b * n);
    for (let i = 0; i < b; i++) {
      const perm = rng.permutation(n);
      // Row i of [visible; mask tokens] in encoder order, restored to grid order by `restore`.
      for (let j = 0; j < n; j++) {
        const pos = perm[j]!;
        if (j < keep) visible[i * keep + j] = i * n + pos;
        else masked[i * n + pos] = 1;
        restore[i * n + pos] = j < keep ? i * keep + j : b * keep + i * (n - keep) + (j - keep);
      }
    }
    const p = this.params;
    const w = this.config.decoderWidth;
    const embedded = tf.reshape(this.embed(x), [b * n, this.config.width]);
    const enc = this.encode(tf.reshape(tf.gather(embedded, tf.tensor1d(visible, 'int32')), [b, keep, this.config.width]) as tf.Tensor3D);
    const dec = tf.reshape(dense(p, 'decoder_embed', enc), [b * keep, w]);
    const maskTokens = tf.broadcastTo(tf.reshape(p['mask_token']!, [1, w]), [b * (n - keep), w]);
    let h = tf.add(tf.reshape(tf.gather(tf.concat([dec, maskTokens], 0), tf.tensor1d(restore, 'int32')), [b, n, w]), this.decoderPos) as tf.Tensor3D;
    for (let i = 0; i < this.config.decoderDepth; i++) h = block(p, `decoder_blocks.${i}`, h, this.config.heads);
    const pred = dense(p, 'decoder_pred', layerNorm(h, p['decoder_norm.weight']!, p['decoder_norm.bias']!));
    const target = patchify(x, this.config.patch);
    const { mean, variance } = tf.moments(target, -1, true);
    const normTarget = tf.div(tf.sub(target, mean), tf.sqrt(tf.add(variance, 1e-6)));
    const perPatch = tf.mean(tf.square(tf.sub(pred, normTarget)), -1);
    const m = tf.tensor2d(masked, [b, n]);
    return tf.div(tf.sum(tf.mul(perPatch, m)), tf.sum(m)) as tf.Scalar;
  }

  /** Encoder parameters only: the decoder is a training head and is not part of the teacher. */
  encoderParams(): Params {
    return Object.fromEntries(Object.entries(this.params).filter(([k]) => !k.startsWith('decoder') && k !== 'mask_token'));
  }

  dispose(): void {
    tf.dispose([...Object.values(this.params), this.pos, this.decoderPos]);
  }
}
