import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { ModelConfigError, ModelInputError } from '../errors.js';
import type { NoiseSchedule } from './schedule.js';

/**
 * The denoiser as the samplers see it: x_t (NHWC), float timesteps [B], int32 labels [B] →
 * C channels (ε̂) or 2C channels (ε̂ and the variance interpolation v of improved DDPM).
 */
export type DenoiseFn = (x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D) => tf.Tensor4D;

/** A reverse-process stepper, swappable without touching the model (as diffusers schedulers). */
export interface Sampler {
  /** Timesteps at which the model is evaluated, noisiest first. */
  readonly timesteps: readonly number[];
  /** From x at timesteps[index] and the model output there, the sample at the next timestep (or x_0 after the last). */
  step(modelOutput: tf.Tensor4D, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D;
}

/**
 * `steps` timesteps spread evenly over [0, T−1] including both ends (round(i·(T−1)/(steps−1)),
 * ADM's respacing for an integer count), ascending.
 */
export function spacedTimesteps(numTimesteps: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 2 || steps > numTimesteps) {
    throw new ModelConfigError(`sampler steps must be an integer in [2, ${numTimesteps}], got ${steps}`);
  }
  return Array.from({ length: steps }, (_, i) => Math.round((i * (numTimesteps - 1)) / (steps - 1)));
}

export interface SamplerOptions {
  /** Model evaluations; default: every timestep of the schedule. */
  steps?: number;
  /** Clip the predicted x_0 to [−1, 1] (pixel-space data); off for latents as in DiT. */
  clipDenoised?: boolean;
}

/** Splits a model output into ε̂ (first C channels) and the variance channels, if any. */
function splitOutput(out: tf.Tensor4D, channels: number): { eps: tf.Tensor; v: tf.Tensor | null } {
  const c = out.shape[3];
  if (c === channels) return { eps: out, v: null };
  if (c === 2 * channels) {
    const [eps, v] = tf.split(out, 2, 3);
    return { eps: eps!, v: v! };
  }
  throw new ModelInputError(`model output has ${c} channels; expected ${channels} (ε) or ${2 * channels} (ε and variance)`);
}

function predictX0(x: tf.Tensor, eps: tf.Tensor, alphaBar: number, clip: boolean): tf.Tensor {
  const x0 = tf.sub(tf.mul(x, Math.sqrt(1 / alphaBar)), tf.mul(eps, Math.sqrt(1 / alphaBar - 1)));
  return clip ? tf.clipByValue(x0, -1, 1) : x0;
}

function checkIndex(sampler: Sampler, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= sampler.timesteps.length) {
    throw new ModelInputError(`sampler step index ${index} outside [0, ${sampler.timesteps.length})`);
  }
}

/**
 * DDPM ancestral sampling. The variance is the posterior variance β̃_t, or, when the model outputs
 * 2C channels, improved DDPM's learned log-variance interpolation v·log β_t + (1−v)·log β̃_t with
 * v = (out+1)/2. With fewer steps the schedule is respaced (β'_k = 1 − ᾱ_{t_k}/ᾱ_{t_{k−1}}).
 */
export class DDPMSampler implements Sampler {
  readonly timesteps: readonly number[];
  private readonly used: number[];
  private readonly betas: Float64Array;
  private readonly alphaBar: Float64Array;
  private readonly postVar: Float64Array;
  private readonly postLogVar: Float64Array;
  private readonly coef1: Float64Array;
  private readonly coef2: Float64Array;
  private readonly clip: boolean;

  constructor(schedule: NoiseSchedule, opts: SamplerOptions = {}) {
    this.used = spacedTimesteps(schedule.numTimesteps, opts.steps ?? schedule.numTimesteps);
    this.timesteps = [...this.used].reverse();
    this.clip = opts.clipDenoised ?? false;
    const k = this.used.length;
    this.betas = new Float64Array(k);
    this.alphaBar = new Float64Array(k);
    this.postVar = new Float64Array(k);
    this.coef1 = new Float64Array(k);
    this.coef2 = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      const ac = schedule.alphasCumprod[this.used[i]!]!;
      const acPrev = i === 0 ? 1 : schedule.alphasCumprod[this.used[i - 1]!]!;
      const beta = 1 - ac / acPrev;
      this.betas[i] = beta;
      this.alphaBar[i] = ac;
      this.postVar[i] = (beta * (1 - acPrev)) / (1 - ac);
      this.coef1[i] = (beta * Math.sqrt(acPrev)) / (1 - ac);
      this.coef2[i] = ((1 - acPrev) * Math.sqrt(1 - beta)) / (1 - ac);
    }
    this.postLogVar = this.postVar.map((v, i) => Math.log(i === 0 ? this.postVar[1]! : v));
  }

  /** Mean and log-variance of p(x_{t−1} | x_t) at respaced index k (k = 0 is the last step). */
  posterior(modelOutput: tf.Tensor4D, k: number, x: tf.Tensor4D): { mean: tf.Tensor; logVariance: tf.Tensor } {
    return tf.tidy(() => {
      const { eps, v } = splitOutput(modelOutput, x.shape[3]);
      const x0 = predictX0(x, eps, this.alphaBar[k]!, this.clip);
      const mean = tf.add(tf.mul(x0, this.coef1[k]!), tf.mul(x, this.coef2[k]!));
      const logVariance = v
        ? tf.add(
            tf.mul(tf.div(tf.add(v, 1), 2), Math.log(this.betas[k]!)),
            tf.mul(tf.div(tf.sub(1, v), 2), this.postLogVar[k]!),
          )
        : tf.fill(mean.shape, this.postLogVar[k]!);
      return { mean, logVariance };
    });
  }

  step(modelOutput: tf.Tensor4D, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const k = this.used.length - 1 - index;
    return tf.tidy(() => {
      const { mean, logVariance } = this.posterior(modelOutput, k, x);
      if (k === 0) return mean as tf.Tensor4D;
      return tf.add(mean, tf.mul(tf.exp(tf.mul(logVariance, 0.5)), rng.normalTensor(x.shape))) as tf.Tensor4D;
    });
  }
}

export interface DDIMOptions extends SamplerOptions {
  /** 0 = deterministic DDIM; 1 = DDPM-like stochasticity. */
  eta?: number;
}

/** DDIM (Song et al.): x_{t'} = √ᾱ_{t'}·x̂_0 + √(1−ᾱ_{t'}−σ²)·ε̂ + σ·z, with ᾱ = 1 after the last step. */
export class DDIMSampler implements Sampler {
  readonly timesteps: readonly number[];
  private readonly alphaBar: number[];
  private readonly eta: number;
  private readonly clip: boolean;

  constructor(schedule: NoiseSchedule, opts: DDIMOptions = {}) {
    this.eta = opts.eta ?? 0;
    if (!(this.eta >= 0)) throw new ModelConfigError(`DDIM eta must be ≥ 0, got ${opts.eta}`);
    this.clip = opts.clipDenoised ?? false;
    this.timesteps = spacedTimesteps(schedule.numTimesteps, opts.steps ?? 50).reverse();
    this.alphaBar = this.timesteps.map((t) => schedule.alphasCumprod[t]!);
  }

  step(modelOutput: tf.Tensor4D, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const ac = this.alphaBar[index]!;
    const acPrev = index + 1 < this.alphaBar.length ? this.alphaBar[index + 1]! : 1;
    const sigma = this.eta * Math.sqrt((1 - acPrev) / (1 - ac)) * Math.sqrt(1 - ac / acPrev);
    return tf.tidy(() => {
      let { eps } = splitOutput(modelOutput, x.shape[3]);
      const x0 = predictX0(x, eps, ac, this.clip);
      // With clipping, ε̂ is re-derived from the clipped x̂_0 so the update stays on its line.
      if (this.clip) eps = tf.div(tf.sub(x, tf.mul(x0, Math.sqrt(ac))), Math.sqrt(1 - ac));
      const dir = Math.sqrt(Math.max(0, 1 - acPrev - sigma * sigma));
      const next = tf.add(tf.mul(x0, Math.sqrt(acPrev)), tf.mul(eps, dir));
      return (sigma > 0 ? tf.add(next, tf.mul(rng.normalTensor(x.shape), sigma)) : next) as tf.Tensor4D;
    });
  }
}

/**
 * Classifier-free guidance: evaluates the model on [x; x] with labels [y; null] and returns
 * ε̂ = ε̂_u + s·(ε̂_c − ε̂_u); variance channels (if any) are taken from the conditional half.
 */
export function withGuidance(model: DenoiseFn, scale: number, nullClass: number): DenoiseFn {
  return (x, t, y) =>
    tf.tidy(() => {
      const b = x.shape[0];
      const c = x.shape[3];
      const out = model(
        tf.concat([x, x], 0),
        tf.concat([t, t], 0),
        tf.concat([y, tf.fill([b], nullClass, 'int32')], 0) as tf.Tensor1D,
      );
      const [cond, uncond] = tf.split(out, 2, 0) as [tf.Tensor4D, tf.Tensor4D];
      const epsC = tf.slice(cond, [0, 0, 0, 0], [-1, -1, -1, c]);
      const epsU = tf.slice(uncond, [0, 0, 0, 0], [-1, -1, -1, c]);
      const eps = tf.add(epsU, tf.mul(tf.sub(epsC, epsU), scale));
      return (out.shape[3] === c ? eps : tf.concat([eps, tf.slice(cond, [0, 0, 0, c], [-1, -1, -1, -1])], 3)) as tf.Tensor4D;
    });
}

export interface SampleOptions {
  /** NHWC shape of the batch to generate. */
  shape: [number, number, number, number];
  /** One class label per example. */
  labels: ArrayLike<number>;
  rng: Rng;
  /** Classifier-free guidance scale s; 1 (default) = plain conditional sampling. */
  guidanceScale?: number;
  /** The null-class label (DiT: numClasses); required when guidanceScale ≠ 1. */
  nullClass?: number;
  /** Starting noise x_T; default N(0, I) from rng. Not disposed. */
  noise?: tf.Tensor4D;
  onStep?: (done: number, total: number) => void;
}

/** Runs a sampler from pure noise to x_0. */
export function sample(model: DenoiseFn, sampler: Sampler, opts: SampleOptions): tf.Tensor4D {
  const [b] = opts.shape;
  if (opts.labels.length !== b) {
    throw new ModelInputError(`sample: ${opts.labels.length} labels for a batch of ${b}`);
  }
  const scale = opts.guidanceScale ?? 1;
  let fn = model;
  if (scale !== 1) {
    if (opts.nullClass === undefined) {
      throw new ModelInputError('sample: guidanceScale ≠ 1 needs nullClass (the DiT null label, = numClasses)');
    }
    fn = withGuidance(model, scale, opts.nullClass);
  }
  const y = tf.tensor1d(Int32Array.from(opts.labels), 'int32');
  let x = opts.noise ? tf.clone(opts.noise) : (opts.rng.normalTensor(opts.shape) as tf.Tensor4D);
  try {
    sampler.timesteps.forEach((t, i) => {
      const next = tf.tidy(() => sampler.step(fn(x, tf.fill([b], t, 'float32') as tf.Tensor1D, y), i, x, opts.rng));
      x.dispose();
      x = next;
      opts.onStep?.(i + 1, sampler.timesteps.length);
    });
  } finally {
    y.dispose();
  }
  return x;
}

