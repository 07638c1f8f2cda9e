import { entryToTensor, readSafetensors, Rng, tf } from '@difflab/core-tensor';
import { readNpz } from '@difflab/data';
import { MetricFileError, MetricInputError } from '../errors.js';
import type { AudioEmbedder } from './embedder.js';
import { VGGISH_FRONT_END } from './mel.js';

/** Widths of the VGGish stack; the published model is `VGGISH_CONFIG` (smaller ones exist for tests). */
export interface VggishConfig {
  /** Channels of conv1, conv2, conv3_{1,2}, conv4_{1,2}. */
  conv: readonly [number, number, number, number];
  /** Width of fc1_1 and fc1_2. */
  fc: number;
  embedding: number;
}

export const VGGISH_CONFIG: VggishConfig = { conv: [64, 128, 256, 512], fc: 4096, embedding: 128 };

const CONVS = [
  ['vggish/conv1', 0],
  ['vggish/conv2', 1],
  ['vggish/conv3/conv3_1', 2],
  ['vggish/conv3/conv3_2', 2],
  ['vggish/conv4/conv4_1', 3],
  ['vggish/conv4/conv4_2', 3],
] as const;
/** A 2×2/2 max-pool follows these convolutions. */
const POOL_AFTER = new Set(['vggish/conv1', 'vggish/conv2', 'vggish/conv3/conv3_2', 'vggish/conv4/conv4_2']);

/**
 * Parameter names and shapes, named as the variables of the public TF-Slim checkpoint
 * (`vggish_model.ckpt`) and laid out as TensorFlow stores them: conv kernels HWIO, dense kernels
 * [in, out], the flatten in NHWC order. docs/audio.md converts the checkpoint or torchvggish's .pth.
 */
export function vggishParameterShapes(config: VggishConfig = VGGISH_CONFIG): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  let cin = 1;
  for (const [scope, i] of CONVS) {
    const cout = config.conv[i];
    shapes[`${scope}/weights`] = [3, 3, cin, cout];
    shapes[`${scope}/biases`] = [cout];
    cin = cout;
  }
  // Four SAME 2×2/2 pools take 96×64 to 6×4.
  const flat = (VGGISH_FRONT_END.exampleFrames / 16) * (VGGISH_FRONT_END.melBands / 16) * cin;
  shapes['vggish/fc1/fc1_1/weights'] = [flat, config.fc];
  shapes['vggish/fc1/fc1_1/biases'] = [config.fc];
  shapes['vggish/fc1/fc1_2/weights'] = [config.fc, config.fc];
  shapes['vggish/fc1/fc1_2/biases'] = [config.fc];
  shapes['vggish/fc2/weights'] = [config.fc, config.embedding];
  shapes['vggish/fc2/biases'] = [config.embedding];
  return shapes;
}

/**
 * VGGish (Hershey et al. 2017), as vggish_slim.py defines it: 3×3 SAME convolutions with ReLU
 * (64, 128, 256×2, 512×2) and 2×2 max-pools, two 4096-wide ReLU layers and the 128-d embedding
 * layer, whose pre-activation output is the embedding (no ReLU: the TF reference's `vggish/embedding`,
 * which FAD uses; torchvggish adds a ReLU). Input: [N, 96, 64] log-mel examples.
 */
export class Vggish implements AudioEmbedder {
  readonly name = 'vggish';
  readonly dim: number;
  readonly config: VggishConfig;
  readonly params: Record<string, tf.Tensor>;

  private constructor(params: Record<string, tf.Tensor>, config: VggishConfig) {
    this.params = params;
    this.config = config;
    this.dim = config.embedding;
  }

  /** N(0, 0.01²) weights (vggish_params.INIT_STDDEV) and zero biases: for tests and shape checks. */
  static init(seed: number, config: VggishConfig = VGGISH_CONFIG): Vggish {
    const rng = new Rng(seed);
    const params: Record<string, tf.Tensor> = {};
    for (const [name, shape] of Object.entries(vggishParameterShapes(config))) {
      params[name] = name.endsWith('/biases') ? tf.zeros(shape) : rng.normalTensor(shape, 0, 0.01);
    }
    return new Vggish(params, config);
  }

  /** Loads a user-supplied safetensors file with the names and layout of `vggishParameterShapes`. */
  static async load(path: string, config: VggishConfig = VGGISH_CONFIG): Promise<Vggish> {
    const { tensors } = await readSafetensors(path);
    const params: Record<string, tf.Tensor> = {};
    try {
      for (const [name, shape] of Object.entries(vggishParameterShapes(config))) {
        const e = tensors[name];
        if (!e || e.shape.join() !== shape.join()) {
          throw new MetricFileError(
            `${path}: '${name}' is ${e ? `[${e.shape}]` : 'missing'}, expected [${shape}]; convert the VGGish checkpoint as docs/audio.md shows (TF names, HWIO conv kernels, [in, out] dense kernels)`,
          );
        }
        params[name] = tf.tidy(() => tf.cast(entryToTensor(e, name), 'float32'));
      }
    } catch (err) {
      tf.dispose(Object.values(params));
      throw err;
    }
    return new Vggish(params, config);
  }

  embed(examples: tf.Tensor3D): tf.Tensor2D {
    const [n, frames, bands] = examples.shape;
    if (frames !== VGGISH_FRONT_END.exampleFrames || bands !== VGGISH_FRONT_END.melBands) {
      throw new MetricInputError(`Vggish: examples must be [N, 96, 64] log-mel patches, got [${examples.shape}]`);
    }
    const p = this.params;
    return tf.tidy(() => {
      let h = tf.reshape(examples, [n, frames, bands, 1]) as tf.Tensor4D;
      for (const [scope] of CONVS) {
        h = tf.relu(tf.add(tf.conv2d(h, p[`${scope}/weights`] as tf.Tensor4D, 1, 'same'), p[`${scope}/biases`]!)) as tf.Tensor4D;
        if (POOL_AFTER.has(scope)) h = tf.maxPool(h, 2, 2, 'same');
      }
      let x = tf.reshape(h, [n, -1]) as tf.Tensor2D;
      for (const fc of ['vggish/fc1/fc1_1', 'vggish/fc1/fc1_2']) x = tf.relu(tf.add(tf.matMul(x, p[`${fc}/weights`]!), p[`${fc}/biases`]!)) as tf.Tensor2D;
      return tf.add(tf.matMul(x, p['vggish/fc2/weights']!), p['vggish/fc2/biases']!) as tf.Tensor2D;
    });
  }

  dispose(): void {
    tf.dispose(Object.values(this.params));
  }
}

/**
 * The PCA (with whitening) and 8-bit quantisation that turn raw VGGish embeddings into the
 * released AudioSet features (vggish_postprocess.py), from the published `vggish_pca_params.npz`
 * (`pca_eigen_vectors` 128×128, `pca_means` 128 or 128×1).
 */
export class VggishPostprocessor {
  readonly dim: number;
  private readonly vectors: Float64Array;
  private readonly means: Float64Array;

  constructor(eigenVectors: ArrayLike<number>, means: ArrayLike<number>) {
    const d = means.length;
    if (eigenVectors.length !== d * d) throw new MetricInputError(`VggishPostprocessor: eigenvectors must be ${d}×${d} for ${d} means, got ${eigenVectors.length} values`);
    this.dim = d;
    this.vectors = Float64Array.from(eigenVectors);
    this.means = Float64Array.from(means);
  }

  static load(path: string): VggishPostprocessor {
    const arrays = readNpz(path);
    const vectors = arrays.get('pca_eigen_vectors');
    const means = arrays.get('pca_means');
    if (!vectors || !means) throw new MetricFileError(`${path}: needs arrays 'pca_eigen_vectors' and 'pca_means' (the published vggish_pca_params.npz), found ${[...arrays.keys()].join(', ')}`);
    const d = means.data.length;
    if (vectors.shape.join() !== `${d},${d}`) throw new MetricFileError(`${path}: pca_eigen_vectors has shape (${vectors.shape}), expected (${d}, ${d})`);
    return new VggishPostprocessor(Array.from(vectors.data as ArrayLike<number>), Array.from(means.data as ArrayLike<number>));
  }

  /** rows × dim embeddings → uint8: V·(e − μ), clipped to [−2, 2], scaled to [0, 255] and truncated like NumPy's astype(uint8). */
  postprocess(embeddings: ArrayLike<number>, rows: number): Uint8Array {
    const d = this.dim;
    if (embeddings.length !== rows * d) throw new MetricInputError(`VggishPostprocessor: expected ${rows}×${d} values, got ${embeddings.length}`);
    const out = new Uint8Array(rows * d);
    const centred = new Float64Array(d);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < d; j++) centred[j] = embeddings[r * d + j]! - this.means[j]!;
      for (let i = 0; i < d; i++) {
        let acc = 0;
        for (let j = 0; j < d; j++) acc += this.vectors[i * d + j]! * centred[j]!;
        const clipped = Math.min(2, Math.max(-2, acc));
        out[r * d + i] = Math.trunc((clipped + 2) * (255 / 4));
      }
    }
    return out;
  }
}
