import { AdamW, Rng, tf } from '@difflab/core-tensor';
import { diffusionTrainingLoss } from '@difflab/losses';
import { createSampler, createUNet, linearSchedule, sample, type NoiseSchedule, type UNet, type UNetConfig } from '@difflab/models';
import { EvalError } from '../errors.js';

/**
 * A minimal unconditional ε-prediction training loop for spectrogram images: the proof that the
 * mel data is learnable with the repo's U-Net and loss before the trainer app takes it over.
 * Not a replacement for the trainer (no checkpoints, no tracking).
 */
export interface BaselineOptions {
  steps: number;
  batchSize: number;
  /** Peak learning rate: linear warm-up over the first 5% of steps, then cosine decay to 0. */
  lr: number;
  seed: number;
  /** Images of the held-out batch whose loss (fixed t and ε) is measured before and after training. */
  heldoutCount: number;
  log?: (line: string) => void;
}

export interface BaselineResult {
  model: UNet;
  schedule: NoiseSchedule;
  /** Mean training loss of each step. */
  losses: number[];
  /** ε-MSE on the held-out batch with fixed timesteps and noise, before and after training. */
  heldoutBefore: number;
  heldoutAfter: number;
  seconds: number;
}

interface ImageSet {
  images: Float32Array;
  n: number;
}

function batchOf(set: ImageSet, idx: ArrayLike<number>, size: number): tf.Tensor4D {
  const side = Math.sqrt(size);
  const out = new Float32Array(idx.length * size);
  for (let j = 0; j < idx.length; j++) out.set(set.images.subarray(idx[j]! * size, (idx[j]! + 1) * size), j * size);
  return tf.tensor4d(out, [idx.length, side, side, 1]);
}

/** Trains `config` (unconditional, 1 channel) on `train` with AdamW and the linear 1000-step DDPM schedule. */
export async function trainSpectrogramBaseline(config: UNetConfig, train: ImageSet, heldout: ImageSet, opts: BaselineOptions): Promise<BaselineResult> {
  const size = config.sampleSize * config.sampleSize;
  if (config.conditioning.kind !== 'none' || config.inChannels !== 1 || config.outChannels !== 1) {
    throw new EvalError('config: the baseline trains an unconditional 1-channel U-Net (conditioning none, inChannels = outChannels = 1)');
  }
  for (const [name, set] of [['train', train], ['heldout', heldout]] as const) {
    if (set.images.length !== set.n * size) throw new EvalError(`${name}.images: ${set.images.length} values for n = ${set.n} images of ${config.sampleSize}×${config.sampleSize}×1`);
  }
  if (train.n < opts.batchSize || heldout.n < opts.heldoutCount) throw new EvalError(`need ≥ batchSize (${opts.batchSize}) training and ≥ heldoutCount (${opts.heldoutCount}) held-out images`);
  const schedule = linearSchedule(1000);
  const rng = new Rng(opts.seed);
  const model = createUNet(config, rng.fork());
  const denoise = (x: tf.Tensor4D, t: tf.Tensor1D) => model.forward(x, t);
  const noLabels = tf.zeros([opts.batchSize], 'int32') as tf.Tensor1D;
  const held = batchOf(heldout, Array.from({ length: opts.heldoutCount }, (_, i) => i), size);
  const heldLabels = tf.zeros([opts.heldoutCount], 'int32') as tf.Tensor1D;
  // The same draws of t and ε (a fresh Rng with one seed) every time: before/after losses differ only by the weights.
  const heldoutLoss = async () => {
    const l = tf.tidy(() => diffusionTrainingLoss(denoise, held, heldLabels, new Rng(opts.seed + 1), schedule));
    const v = (await l.data())[0]!;
    l.dispose();
    return v;
  };
  const heldoutBefore = await heldoutLoss();
  const optim = new AdamW({ lr: opts.lr, weightDecay: 0 });
  const names = Object.keys(model.params);
  const vars = Object.values(model.params);
  const warmup = Math.max(1, Math.round(0.05 * opts.steps));
  const losses: number[] = [];
  const started = performance.now();
  let order = rng.permutation(train.n);
  let at = 0;
  for (let step = 1; step <= opts.steps; step++) {
    if (at + opts.batchSize > train.n) [order, at] = [rng.permutation(train.n), 0];
    const x0 = batchOf(train, order.subarray(at, at + opts.batchSize), size);
    at += opts.batchSize;
    const lr = step <= warmup ? (opts.lr * step) / warmup : 0.5 * opts.lr * (1 + Math.cos((Math.PI * (step - warmup)) / (opts.steps - warmup)));
    const { value, grads } = tf.variableGrads(() => diffusionTrainingLoss(denoise, x0, noLabels, rng, schedule), vars);
    const byName: Record<string, tf.Tensor> = {};
    vars.forEach((v, k) => (byName[names[k]!] = grads[v.name]!));
    optim.step(model.params, byName, lr);
    const loss = (await value.data())[0]!;
    tf.dispose([x0, value, grads]);
    if (!Number.isFinite(loss)) throw new EvalError(`training loss became ${loss} at step ${step}; lower lr`);
    losses.push(loss);
    if (opts.log && (step % 20 === 0 || step === opts.steps)) {
      const rate = step / ((performance.now() - started) / 1000);
      const recent = losses.slice(-20);
      opts.log(`step ${step}/${opts.steps} loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)} ${(rate * opts.batchSize).toFixed(1)} ex/s ETA ${((opts.steps - step) / rate).toFixed(0)} s`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const heldoutAfter = await heldoutLoss();
  tf.dispose([noLabels, held, heldLabels]);
  return { model, schedule, losses, heldoutBefore, heldoutAfter, seconds };
}

/** `count` samples in [−1, 1] from the model with deterministic DDIM (η = 0, x̂₀ clipped), from Rng(seed): NHWC row-major. */
export function sampleSpectrograms(model: UNet, schedule: NoiseSchedule, count: number, opts: { steps: number; batchSize: number; seed: number }): Float32Array {
  const side = model.config.sampleSize;
  const sampler = createSampler({ kind: 'ddpm', schedule }, { kind: 'ddim', steps: opts.steps, eta: 0, clipDenoised: true });
  const rng = new Rng(opts.seed);
  const out = new Float32Array(count * side * side);
  for (let at = 0; at < count; at += opts.batchSize) {
    const b = Math.min(opts.batchSize, count - at);
    const x = sample((xt, t) => model.forward(xt, t), sampler, { shape: [b, side, side, 1], labels: new Int32Array(b), rng });
    out.set(tf.tidy(() => tf.clipByValue(x, -1, 1).dataSync() as Float32Array), at * side * side);
    x.dispose();
  }
  return out;
}
