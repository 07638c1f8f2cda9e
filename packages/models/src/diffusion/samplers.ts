import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { ModelConfigError, ModelInputError } from '../errors.js';
import { respaceSchedule, type SpacedSchedule } from './respace.js';
import type { NoiseSchedule } from './schedule.js';

/**
 * The denoiser as the samplers see it: x_t (NHWC), float timesteps [B], int32 labels [B] →
 * C channels (ε̂) or 2C channels (ε̂ and the variance interpolation v of improved DDPM).
 */
export type DenoiseFn = (x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D) => tf.Tensor4D;

/**
 * Everything that defines a sampler, as a config file or run params hold it (diffusers' `from_config`).
 * The coefficients come from the model's schedule, respaced to `steps` timesteps.
 */
export interface SamplerConfig {
  kind: 'ddim' | 'ddpm';
  /** Model evaluations (the respaced schedule's length). */
  steps: number;
  /** DDIM only: 0 = deterministic, 1 = DDPM-like noise. Default 0. */
  eta?: number;
  /** Clip the predicted x_0 to [−1, 1] (pixel-space data); off for latents as in DiT. Default false. */
  clipDenoised?: boolean;
  /** Classifier-free guidance scale s; 1 = none (the default, and the only value for unconditional models). */
  guidanceScale?: number;
}

export const SAMPLER_KINDS = ['ddim', 'ddpm'] as const;

/** A reverse-process stepper, swappable without touching the model (as diffusers schedulers). */
export interface Sampler {
  /** Timesteps at which the model is evaluated, noisiest first. */
  readonly timesteps: readonly number[];
  /** The config it was built from; `sample` takes its guidance scale from here unless told otherwise. */
  readonly config?: Readonly<SamplerConfig>;
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
  readonly config: Readonly<SamplerConfig>;
  /** The base schedule respaced to the used timesteps; index k = 0 is the last step. */
  readonly spaced: SpacedSchedule;
  private readonly clip: boolean;

  constructor(schedule: NoiseSchedule, opts: SamplerOptions & { guidanceScale?: number } = {}) {
    const steps = opts.steps ?? schedule.numTimesteps;
    this.spaced = respaceSchedule(schedule, spacedTimesteps(schedule.numTimesteps, steps));
    this.timesteps = [...this.spaced.timestepMap].reverse();
    this.clip = opts.clipDenoised ?? false;
    this.config = { kind: 'ddpm', steps, clipDenoised: this.clip, guidanceScale: opts.guidanceScale ?? 1 };
  }

  /** Mean and log-variance of p(x_{t−1} | x_t) at respaced index k (k = 0 is the last step). */
  posterior(modelOutput: tf.Tensor4D, k: number, x: tf.Tensor4D): { mean: tf.Tensor; logVariance: tf.Tensor } {
    const s = this.spaced;
    return tf.tidy(() => {
      const { eps, v } = splitOutput(modelOutput, x.shape[3]);
      const x0 = predictX0(x, eps, s.alphasCumprod[k]!, this.clip);
      const mean = tf.add(tf.mul(x0, s.posteriorMeanCoef1[k]!), tf.mul(x, s.posteriorMeanCoef2[k]!));
      const logVariance = v
        ? tf.add(
            tf.mul(tf.div(tf.add(v, 1), 2), Math.log(s.betas[k]!)),
            tf.mul(tf.div(tf.sub(1, v), 2), s.posteriorLogVarianceClipped[k]!),
          )
        : tf.fill(mean.shape, s.posteriorLogVarianceClipped[k]!);
      return { mean, logVariance };
    });
  }

  step(modelOutput: tf.Tensor4D, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const k = this.spaced.numTimesteps - 1 - index;
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
  readonly config: Readonly<SamplerConfig>;
  /** The base schedule respaced to the used timesteps. */
  readonly spaced: SpacedSchedule;
  /** ᾱ at timesteps[i], noisiest first. */
  private readonly alphaBar: number[];
  private readonly eta: number;
  private readonly clip: boolean;

  constructor(schedule: NoiseSchedule, opts: DDIMOptions & { guidanceScale?: number } = {}) {
    this.eta = opts.eta ?? 0;
    if (!(this.eta >= 0)) throw new ModelConfigError(`DDIM eta must be ≥ 0, got ${opts.eta}`);
    this.clip = opts.clipDenoised ?? false;
    const steps = opts.steps ?? 50;
    this.spaced = respaceSchedule(schedule, spacedTimesteps(schedule.numTimesteps, steps));
    this.timesteps = [...this.spaced.timestepMap].reverse();
    this.alphaBar = Array.from(this.spaced.alphasCumprod).reverse();
    this.config = { kind: 'ddim', steps, eta: this.eta, clipDenoised: this.clip, guidanceScale: opts.guidanceScale ?? 1 };
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

/** The one way to build a sampler from its config, respaced from the model's schedule. */
export function createSampler(schedule: NoiseSchedule, config: SamplerConfig): Sampler {
  const guidanceScale = config.guidanceScale ?? 1;
  if (!(guidanceScale >= 0) || !Number.isFinite(guidanceScale)) {
    throw new ModelConfigError(`sampler guidanceScale must be a finite number ≥ 0, got ${config.guidanceScale}`);
  }
  const common = { steps: config.steps, clipDenoised: config.clipDenoised ?? false, guidanceScale };
  switch (config.kind) {
    case 'ddim':
      return new DDIMSampler(schedule, { ...common, eta: config.eta ?? 0 });
    case 'ddpm':
      if (config.eta !== undefined) {
        throw new ModelConfigError(`sampler eta applies to ddim only; ddpm is always ancestral (remove eta or use kind 'ddim')`);
      }
      return new DDPMSampler(schedule, common);
    default:
      throw new ModelConfigError(`sampler kind must be one of ${SAMPLER_KINDS.join(', ')}, got '${(config as { kind: unknown }).kind}'`);
  }
}

export interface SampleOptions {
  /** NHWC shape of the batch to generate. */
  shape: [number, number, number, number];
  /** One class label per example. */
  labels: ArrayLike<number>;
  rng: Rng;
  /** Classifier-free guidance scale s; default the sampler's config.guidanceScale, else 1 (plain conditional sampling). */
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
  const scale = opts.guidanceScale ?? sampler.config?.guidanceScale ?? 1;
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

