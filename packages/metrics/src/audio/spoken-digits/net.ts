import { AdamW, entryToTensor, readSafetensors, Rng, tf, writeSafetensors } from '@difflab/core-tensor';
import { MetricFileError, MetricInputError } from '../../errors.js';
import type { AudioEmbedder } from '../embedder.js';
import { VGGISH_FRONT_END } from '../mel.js';

export const SPOKEN_DIGITS_EMBEDDING_DIM = 128;

const FRAMES = VGGISH_FRONT_END.exampleFrames;
const BANDS = VGGISH_FRONT_END.melBands;

const SHAPES: Record<string, number[]> = {
  'conv1.weight': [3, 3, 1, 16],
  'conv1.bias': [16],
  'conv2.weight': [3, 3, 16, 32],
  'conv2.bias': [32],
  'conv3.weight': [3, 3, 32, 64],
  'conv3.bias': [64],
  'conv4.weight': [3, 3, 64, 64],
  'conv4.bias': [64],
  'fc.weight': [(FRAMES / 16) * (BANDS / 16) * 64, SPOKEN_DIGITS_EMBEDDING_DIM],
  'fc.bias': [SPOKEN_DIGITS_EMBEDDING_DIM],
  'head.weight': [SPOKEN_DIGITS_EMBEDDING_DIM, 10],
  'head.bias': [10],
};

// tfjs variable names are engine-global; several nets (e.g. one trained, one loaded) may coexist.
let instances = 0;
const variableName = (param: string) => `spoken-digits.${instances}.${param}`;

/** Log-mel examples with one digit label each: `count` × 96 × 64 values, row-major. */
export interface LabelledExamples {
  count: number;
  data: Float32Array;
  labels: Int32Array;
}

/**
 * The audio embedding network trained in this repo on the spoken-digits corpus: four stride-2 3×3
 * convolutions (16, 32, 64, 64 channels, ReLU) over a VGGish log-mel example, a 128-d ReLU
 * embedding layer and a 10-way digit classifier. Embeddings are the penultimate layer, so FAD with
 * this network measures what a digit classifier sees. Strided convolutions instead of VGG's
 * pooling stack keep training to minutes on CPU. Inputs are standardised with the training set's
 * log-mel mean and standard deviation, stored with the weights.
 */
export class SpokenDigitsNet implements AudioEmbedder {
  readonly name = 'spoken-digits';
  readonly dim = SPOKEN_DIGITS_EMBEDDING_DIM;
  readonly params: Record<string, tf.Variable>;
  readonly inputMean: number;
  readonly inputStd: number;

  private constructor(params: Record<string, tf.Variable>, inputMean: number, inputStd: number) {
    this.params = params;
    this.inputMean = inputMean;
    this.inputStd = inputStd;
  }

  /** He-normal weights and zero biases from `seed`; `inputMean`/`inputStd` standardise the log-mel input. */
  static init(seed: number, inputMean = 0, inputStd = 1): SpokenDigitsNet {
    if (!(inputStd > 0)) throw new MetricInputError(`SpokenDigitsNet: inputStd must be > 0, got ${inputStd}`);
    const rng = new Rng(seed);
    instances++;
    const params: Record<string, tf.Variable> = {};
    for (const [name, shape] of Object.entries(SHAPES)) {
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const init = name.endsWith('.bias') ? tf.zeros(shape) : rng.normalTensor(shape, 0, Math.sqrt(2 / fanIn));
      params[name] = tf.variable(init, true, variableName(name));
      init.dispose();
    }
    return new SpokenDigitsNet(params, inputMean, inputStd);
  }

  static async load(path: string): Promise<SpokenDigitsNet> {
    const { tensors, metadata } = await readSafetensors(path);
    const mean = Number(metadata?.inputMean);
    const std = Number(metadata?.inputStd);
    if (!Number.isFinite(mean) || !(std > 0)) throw new MetricFileError(`${path}: metadata needs inputMean and inputStd > 0 (written by the spoken-digits train-embedder target); retrain with 'npx nx run spoken-digits:train-embedder'`);
    const params: Record<string, tf.Variable> = {};
    instances++;
    for (const [name, shape] of Object.entries(SHAPES)) {
      const e = tensors[name];
      if (!e || e.shape.join() !== shape.join()) {
        tf.dispose(Object.values(params));
        throw new MetricFileError(`${path}: '${name}' is ${e ? `[${e.shape}]` : 'missing'}, expected [${shape}]; retrain with 'npx nx run spoken-digits:train-embedder'`);
      }
      const t = entryToTensor(e, name);
      params[name] = tf.variable(t, true, variableName(name));
      t.dispose();
    }
    return new SpokenDigitsNet(params, mean, std);
  }

  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await writeSafetensors(path, this.params, { model: this.name, inputMean: String(this.inputMean), inputStd: String(this.inputStd), ...metadata });
  }

  /** Embeddings and logits of [N, 96, 64] log-mel examples. */
  forward(examples: tf.Tensor3D): { embedding: tf.Tensor2D; logits: tf.Tensor2D } {
    const [n, frames, bands] = examples.shape;
    if (frames !== FRAMES || bands !== BANDS) throw new MetricInputError(`SpokenDigitsNet: examples must be [N, 96, 64] log-mel patches, got [${examples.shape}]`);
    const p = this.params;
    const conv = (h: tf.Tensor4D, k: string) => tf.relu(tf.add(tf.conv2d(h, p[`${k}.weight`] as tf.Tensor4D, 2, 'same'), p[`${k}.bias`]!)) as tf.Tensor4D;
    let h = tf.reshape(tf.div(tf.sub(examples, this.inputMean), this.inputStd), [n, FRAMES, BANDS, 1]) as tf.Tensor4D;
    for (const k of ['conv1', 'conv2', 'conv3', 'conv4']) h = conv(h, k);
    const embedding = tf.relu(tf.add(tf.matMul(tf.reshape(h, [n, -1]), p['fc.weight']!), p['fc.bias']!)) as tf.Tensor2D;
    const logits = tf.add(tf.matMul(embedding, p['head.weight']!), p['head.bias']!) as tf.Tensor2D;
    return { embedding, logits };
  }

  embed(examples: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => this.forward(examples).embedding);
  }

  /** Predicted digit per example. */
  classify(examples: tf.Tensor3D): Int32Array {
    return tf.tidy(() => tf.argMax(this.forward(examples).logits, 1).dataSync() as Int32Array);
  }

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose();
  }
}

export interface TrainSpokenDigitsOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  weightDecay: number;
  seed: number;
  /** Each training example is shifted in time by up to this many frames (silence fills the gap). */
  maxShiftFrames: number;
  log?: (line: string) => void;
}

/** Copies example `i` shifted by `shift` frames into `out`, filling with the log-mel of silence. */
function shiftedExample(src: Float32Array, i: number, shift: number, out: Float32Array, at: number): void {
  const size = FRAMES * BANDS;
  out.fill(Math.log(VGGISH_FRONT_END.logOffset), at, at + size);
  const from = Math.max(0, -shift);
  const to = Math.min(FRAMES, FRAMES - shift);
  out.set(src.subarray(i * size + from * BANDS, i * size + to * BANDS), at + (from + shift) * BANDS);
}

/** Mean and standard deviation of every log-mel value of the examples. */
export function examplesMeanStd(data: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of data) s += v;
  const mean = s / data.length;
  let q = 0;
  for (const v of data) q += (v - mean) ** 2;
  return { mean, std: Math.sqrt(q / data.length) };
}

/** AdamW with cosine decay and random time shifts; weight decay on weights only. */
export async function trainSpokenDigitsNet(train: LabelledExamples, opts: TrainSpokenDigitsOptions): Promise<SpokenDigitsNet> {
  if (train.count < opts.batchSize) throw new MetricInputError(`trainSpokenDigitsNet: ${train.count} examples are fewer than one batch of ${opts.batchSize}`);
  const { mean, std } = examplesMeanStd(train.data);
  const net = SpokenDigitsNet.init(opts.seed, mean, std);
  const rng = new Rng(opts.seed + 1);
  const optim = new AdamW({ lr: opts.lr, weightDecay: opts.weightDecay, decay: (n) => n.endsWith('.weight') });
  const size = FRAMES * BANDS;
  const stepsPerEpoch = Math.floor(train.count / opts.batchSize);
  const total = opts.epochs * stepsPerEpoch;
  const names = Object.keys(net.params);
  const vars = Object.values(net.params);
  const x = new Float32Array(opts.batchSize * size);
  const y = new Int32Array(opts.batchSize);
  const started = performance.now();
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    const order = rng.permutation(train.count);
    for (let b = 0; b < stepsPerEpoch; b++) {
      step++;
      for (let j = 0; j < opts.batchSize; j++) {
        const i = order[b * opts.batchSize + j]!;
        shiftedExample(train.data, i, rng.int(2 * opts.maxShiftFrames + 1) - opts.maxShiftFrames, x, j * size);
        y[j] = train.labels[i]!;
      }
      const lr = 0.5 * opts.lr * (1 + Math.cos((Math.PI * (step - 1)) / total));
      const { value, grads } = tf.tidy(() => {
        const xt = tf.tensor3d(x, [opts.batchSize, FRAMES, BANDS]);
        const yt = tf.oneHot(tf.tensor1d(y, 'int32'), 10);
        return tf.variableGrads(() => tf.losses.softmaxCrossEntropy(yt, net.forward(xt).logits) as tf.Scalar, vars);
      });
      const byName: Record<string, tf.Tensor> = {};
      for (const [k, v] of vars.entries()) byName[names[k]!] = grads[v.name]!;
      optim.step(net.params, byName, lr);
      tf.dispose(grads);
      if (opts.log && (step % 20 === 0 || step === total)) {
        const loss = (await value.data())[0]!;
        const rate = step / ((performance.now() - started) / 1000);
        opts.log(`step ${step}/${total} epoch ${epoch + 1} loss ${loss.toFixed(4)} ${rate.toFixed(2)} steps/s ETA ${((total - step) / rate).toFixed(0)} s`);
      }
      value.dispose();
    }
  }
  return net;
}

/** Fraction of examples whose predicted digit is the label. */
export function spokenDigitsAccuracy(net: SpokenDigitsNet, examples: LabelledExamples, batchSize = 128): number {
  const size = FRAMES * BANDS;
  let hit = 0;
  for (let at = 0; at < examples.count; at += batchSize) {
    const n = Math.min(batchSize, examples.count - at);
    const pred = tf.tidy(() => net.classify(tf.tensor3d(examples.data.subarray(at * size, (at + n) * size), [n, FRAMES, BANDS])));
    for (let i = 0; i < n; i++) if (pred[i] === examples.labels[at + i]) hit++;
  }
  return hit / examples.count;
}
