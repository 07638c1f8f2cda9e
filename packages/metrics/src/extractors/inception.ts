import { entryValues, readSafetensors, tf, type SafetensorsEntry } from '@difflab/core-tensor';
import { MetricFileError, MetricInputError } from '../errors.js';
import type { FeatureExtractor } from './extractor.js';

/**
 * Inception-v3 as used for FID by pytorch-fid (`fid_inception_v3`): torchvision's Inception3
 * with the TF-compatible blocks FIDInceptionA/C/E_1 (average pools that exclude padding) and
 * FIDInceptionE_2 (max pool in the last block's pool branch), truncated at pool3 (2048-d).
 * Weights come from the standard `pt_inception-2015-12-05` file converted to safetensors with
 * its parameter names (docs/metrics.md); batch norm (eps 1e-3) is folded into the convolutions.
 */

/** One BasicConv2d: conv (no bias) + BatchNorm + ReLU, named as in the state dict. */
export interface ConvSpec {
  name: string;
  inC: number;
  outC: number;
  kh: number;
  kw: number;
  stride: number;
  /** Zero padding (rows, cols); all padded convolutions have stride 1 and pad (k − 1)/2. */
  pad: [number, number];
}

const BN_EPS = 1e-3;
export const INCEPTION_FEATURE_DIM = 2048;

function conv(name: string, inC: number, outC: number, k: number | [number, number], stride = 1, pad: number | [number, number] = 0): ConvSpec {
  const [kh, kw] = typeof k === 'number' ? [k, k] : k;
  const p: [number, number] = typeof pad === 'number' ? [pad, pad] : pad;
  return { name, inC, outC, kh, kw, stride, pad: p };
}

const blockA = (p: string, inC: number, pool: number) => [
  conv(`${p}.branch1x1`, inC, 64, 1),
  conv(`${p}.branch5x5_1`, inC, 48, 1),
  conv(`${p}.branch5x5_2`, 48, 64, 5, 1, 2),
  conv(`${p}.branch3x3dbl_1`, inC, 64, 1),
  conv(`${p}.branch3x3dbl_2`, 64, 96, 3, 1, 1),
  conv(`${p}.branch3x3dbl_3`, 96, 96, 3, 1, 1),
  conv(`${p}.branch_pool`, inC, pool, 1),
];
const blockB = (p: string, inC: number) => [
  conv(`${p}.branch3x3`, inC, 384, 3, 2),
  conv(`${p}.branch3x3dbl_1`, inC, 64, 1),
  conv(`${p}.branch3x3dbl_2`, 64, 96, 3, 1, 1),
  conv(`${p}.branch3x3dbl_3`, 96, 96, 3, 2),
];
const blockC = (p: string, inC: number, c7: number) => [
  conv(`${p}.branch1x1`, inC, 192, 1),
  conv(`${p}.branch7x7_1`, inC, c7, 1),
  conv(`${p}.branch7x7_2`, c7, c7, [1, 7], 1, [0, 3]),
  conv(`${p}.branch7x7_3`, c7, 192, [7, 1], 1, [3, 0]),
  conv(`${p}.branch7x7dbl_1`, inC, c7, 1),
  conv(`${p}.branch7x7dbl_2`, c7, c7, [7, 1], 1, [3, 0]),
  conv(`${p}.branch7x7dbl_3`, c7, c7, [1, 7], 1, [0, 3]),
  conv(`${p}.branch7x7dbl_4`, c7, c7, [7, 1], 1, [3, 0]),
  conv(`${p}.branch7x7dbl_5`, c7, 192, [1, 7], 1, [0, 3]),
  conv(`${p}.branch_pool`, inC, 192, 1),
];
const blockD = (p: string, inC: number) => [
  conv(`${p}.branch3x3_1`, inC, 192, 1),
  conv(`${p}.branch3x3_2`, 192, 320, 3, 2),
  conv(`${p}.branch7x7x3_1`, inC, 192, 1),
  conv(`${p}.branch7x7x3_2`, 192, 192, [1, 7], 1, [0, 3]),
  conv(`${p}.branch7x7x3_3`, 192, 192, [7, 1], 1, [3, 0]),
  conv(`${p}.branch7x7x3_4`, 192, 192, 3, 2),
];
const blockE = (p: string, inC: number) => [
  conv(`${p}.branch1x1`, inC, 320, 1),
  conv(`${p}.branch3x3_1`, inC, 384, 1),
  conv(`${p}.branch3x3_2a`, 384, 384, [1, 3], 1, [0, 1]),
  conv(`${p}.branch3x3_2b`, 384, 384, [3, 1], 1, [1, 0]),
  conv(`${p}.branch3x3dbl_1`, inC, 448, 1),
  conv(`${p}.branch3x3dbl_2`, 448, 384, 3, 1, 1),
  conv(`${p}.branch3x3dbl_3a`, 384, 384, [1, 3], 1, [0, 1]),
  conv(`${p}.branch3x3dbl_3b`, 384, 384, [3, 1], 1, [1, 0]),
  conv(`${p}.branch_pool`, inC, 192, 1),
];

/** Every convolution up to pool3, in state-dict naming (the `fc` head is not needed for FID). */
export const INCEPTION_CONVS: readonly ConvSpec[] = [
  conv('Conv2d_1a_3x3', 3, 32, 3, 2),
  conv('Conv2d_2a_3x3', 32, 32, 3),
  conv('Conv2d_2b_3x3', 32, 64, 3, 1, 1),
  conv('Conv2d_3b_1x1', 64, 80, 1),
  conv('Conv2d_4a_3x3', 80, 192, 3),
  ...blockA('Mixed_5b', 192, 32),
  ...blockA('Mixed_5c', 256, 64),
  ...blockA('Mixed_5d', 288, 64),
  ...blockB('Mixed_6a', 288),
  ...blockC('Mixed_6b', 768, 128),
  ...blockC('Mixed_6c', 768, 160),
  ...blockC('Mixed_6d', 768, 160),
  ...blockC('Mixed_6e', 768, 192),
  ...blockD('Mixed_7a', 768),
  ...blockE('Mixed_7b', 1280),
  ...blockE('Mixed_7c', 2048),
];

/** The state-dict tensors each convolution needs, with their PyTorch shapes. */
export function inceptionParameterShapes(): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const c of INCEPTION_CONVS) {
    shapes.set(`${c.name}.conv.weight`, [c.outC, c.inC, c.kh, c.kw]);
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) shapes.set(`${c.name}.bn.${p}`, [c.outC]);
  }
  return shapes;
}

interface FoldedConv {
  spec: ConvSpec;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

export interface InceptionOptions {
  /** Side the input is resized to (bilinear, half-pixel centres like PyTorch's align_corners=False). pytorch-fid uses 299. */
  inputSize?: number;
}

/** Intermediate activations, for checking the architecture's shapes. */
export interface InceptionTrace {
  block0: tf.Tensor4D;
  block1: tf.Tensor4D;
  block2: tf.Tensor4D;
  block3: tf.Tensor4D;
}

export class InceptionV3Fid implements FeatureExtractor {
  readonly name = 'inception-v3-fid-pool3';
  readonly dim = INCEPTION_FEATURE_DIM;
  private readonly convs: Map<string, FoldedConv>;
  private readonly inputSize: number;

  /** `tensors` is a state dict (e.g. `(await readSafetensors(path)).tensors`); extra entries (fc, aux) are ignored. */
  constructor(tensors: Record<string, SafetensorsEntry>, opts: InceptionOptions = {}, source = 'Inception weights') {
    this.inputSize = opts.inputSize ?? 299;
    if (!Number.isInteger(this.inputSize) || this.inputSize < 75) throw new MetricInputError(`InceptionV3Fid: inputSize must be an integer ≥ 75 (the architecture's minimum), got ${this.inputSize}`);
    const shapes = inceptionParameterShapes();
    const missing = [...shapes.keys()].filter((k) => !(k in tensors));
    if (missing.length > 0) {
      throw new MetricFileError(`${source}: ${missing.length} Inception parameters missing, e.g. ${missing.slice(0, 3).join(', ')}; convert pt_inception-2015-12-05 as in docs/metrics.md`);
    }
    for (const [k, shape] of shapes) {
      const got = tensors[k]!.shape;
      if (got.join() !== shape.join()) throw new MetricFileError(`${source}: ${k} has shape [${got}], expected [${shape}]`);
    }
    this.convs = new Map(INCEPTION_CONVS.map((spec) => [spec.name, foldBatchNorm(spec, tensors)]));
  }

  /** Loads the converted `pt_inception-2015-12-05` safetensors file (docs/metrics.md). */
  static async load(path: string, opts: InceptionOptions = {}): Promise<InceptionV3Fid> {
    return new InceptionV3Fid((await readSafetensors(path)).tensors, opts, path);
  }

  extract(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.mean(this.forward(images).block3, [1, 2]) as tf.Tensor2D);
  }

  /** The four pytorch-fid blocks' outputs (NHWC); pool3 is block3 averaged over H and W. Call inside tf.tidy. */
  forward(images: tf.Tensor4D): InceptionTrace {
    const [, , , ch] = images.shape;
    if (ch !== 1 && ch !== 3) throw new MetricInputError(`InceptionV3Fid: images must have 1 or 3 channels (NHWC), got shape [${images.shape}]`);
    let x: tf.Tensor4D = ch === 1 ? tf.tile(images, [1, 1, 1, 3]) : images;
    x = tf.image.resizeBilinear(x, [this.inputSize, this.inputSize], false, true);
    x = tf.sub(tf.mul(x, 2), 1); // pytorch-fid's normalize_input: [0, 1] → [−1, 1]
    x = this.c('Conv2d_1a_3x3', x);
    x = this.c('Conv2d_2a_3x3', x);
    x = this.c('Conv2d_2b_3x3', x);
    const block0 = tf.maxPool(x, 3, 2, 'valid');
    x = this.c('Conv2d_3b_1x1', block0);
    x = this.c('Conv2d_4a_3x3', x);
    const block1 = tf.maxPool(x, 3, 2, 'valid');
    x = this.a('Mixed_5b', block1);
    x = this.a('Mixed_5c', x);
    x = this.a('Mixed_5d', x);
    x = this.b('Mixed_6a', x);
    for (const p of ['Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e']) x = this.cBlock(p, x);
    const block2 = x;
    x = this.d('Mixed_7a', block2);
    x = this.e('Mixed_7b', x, 'avg');
    const block3 = this.e('Mixed_7c', x, 'max');
    return { block0, block1, block2, block3 };
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      c.filter.dispose();
      c.bias.dispose();
    }
  }

  private c(name: string, x: tf.Tensor4D): tf.Tensor4D {
    const { spec, filter, bias } = this.convs.get(name)!;
    const padded = spec.pad[0] > 0 || spec.pad[1] > 0;
    return tf.relu(tf.add(tf.conv2d(x, filter, spec.stride, padded ? 'same' : 'valid'), bias)) as tf.Tensor4D;
  }

  // TF's 'same' average pool divides by the in-image count, i.e. PyTorch's count_include_pad=False
  // that FIDInceptionA/C/E_1 use.
  private avgPool3(x: tf.Tensor4D): tf.Tensor4D {
    return tf.avgPool(x, 3, 1, 'same');
  }

  private a(p: string, x: tf.Tensor4D): tf.Tensor4D {
    const b1 = this.c(`${p}.branch1x1`, x);
    const b5 = this.c(`${p}.branch5x5_2`, this.c(`${p}.branch5x5_1`, x));
    const b3 = this.c(`${p}.branch3x3dbl_3`, this.c(`${p}.branch3x3dbl_2`, this.c(`${p}.branch3x3dbl_1`, x)));
    const bp = this.c(`${p}.branch_pool`, this.avgPool3(x));
    return tf.concat([b1, b5, b3, bp], 3);
  }

  private b(p: string, x: tf.Tensor4D): tf.Tensor4D {
    const b3 = this.c(`${p}.branch3x3`, x);
    const bd = this.c(`${p}.branch3x3dbl_3`, this.c(`${p}.branch3x3dbl_2`, this.c(`${p}.branch3x3dbl_1`, x)));
    return tf.concat([b3, bd, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  private cBlock(p: string, x: tf.Tensor4D): tf.Tensor4D {
    const b1 = this.c(`${p}.branch1x1`, x);
    let b7 = x;
    for (const s of ['_1', '_2', '_3']) b7 = this.c(`${p}.branch7x7${s}`, b7);
    let bd = x;
    for (const s of ['_1', '_2', '_3', '_4', '_5']) bd = this.c(`${p}.branch7x7dbl${s}`, bd);
    const bp = this.c(`${p}.branch_pool`, this.avgPool3(x));
    return tf.concat([b1, b7, bd, bp], 3);
  }

  private d(p: string, x: tf.Tensor4D): tf.Tensor4D {
    const b3 = this.c(`${p}.branch3x3_2`, this.c(`${p}.branch3x3_1`, x));
    let b7 = x;
    for (const s of ['_1', '_2', '_3', '_4']) b7 = this.c(`${p}.branch7x7x3${s}`, b7);
    return tf.concat([b3, b7, tf.maxPool(x, 3, 2, 'valid')], 3);
  }

  private e(p: string, x: tf.Tensor4D, pool: 'avg' | 'max'): tf.Tensor4D {
    const b1 = this.c(`${p}.branch1x1`, x);
    const t = this.c(`${p}.branch3x3_1`, x);
    const b3 = tf.concat([this.c(`${p}.branch3x3_2a`, t), this.c(`${p}.branch3x3_2b`, t)], 3);
    const u = this.c(`${p}.branch3x3dbl_2`, this.c(`${p}.branch3x3dbl_1`, x));
    const bd = tf.concat([this.c(`${p}.branch3x3dbl_3a`, u), this.c(`${p}.branch3x3dbl_3b`, u)], 3);
    const pooled = pool === 'avg' ? this.avgPool3(x) : tf.maxPool(x, 3, 1, 'same');
    return tf.concat([b1, b3, bd, this.c(`${p}.branch_pool`, pooled)], 3);
  }
}

/** conv(x)·γ/√(σ² + ε) + (β − μ·γ/√(σ² + ε)), as one convolution with bias; OIHW → HWIO. */
function foldBatchNorm(spec: ConvSpec, tensors: Record<string, SafetensorsEntry>): FoldedConv {
  const floats = (key: string) => {
    const v = entryValues(tensors[key]!);
    if (!(v instanceof Float32Array || v instanceof Float64Array)) throw new MetricFileError(`Inception weights: ${key} must be a float tensor, got ${tensors[key]!.dtype}`);
    return v;
  };
  const { name, inC, outC, kh, kw } = spec;
  const w = floats(`${name}.conv.weight`);
  const gamma = floats(`${name}.bn.weight`);
  const beta = floats(`${name}.bn.bias`);
  const mean = floats(`${name}.bn.running_mean`);
  const variance = floats(`${name}.bn.running_var`);
  const filter = new Float32Array(kh * kw * inC * outC);
  const bias = new Float32Array(outC);
  for (let o = 0; o < outC; o++) {
    const scale = gamma[o]! / Math.sqrt(variance[o]! + BN_EPS);
    bias[o] = beta[o]! - mean[o]! * scale;
    for (let i = 0; i < inC; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) filter[((y * kw + x) * inC + i) * outC + o] = w[((o * inC + i) * kh + y) * kw + x]! * scale;
  }
  return { spec, filter: tf.tensor4d(filter, [kh, kw, inC, outC]), bias: tf.tensor1d(bias) };
}
