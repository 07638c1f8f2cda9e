import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@difflab/core-tensor';
import { ModelConfigError, ModelInputError } from '../errors.js';
import { FLOW_TIME_SCALE } from './flow.js';
import { respaceSchedule, type SpacedSchedule } from './respace.js';
import type { NoiseSchedule } from './schedule.js';

/**
 * The denoiser as the samplers see it: x_t (NHWC), float timesteps [B], int32 labels [B] → C channels
 * (ε̂, v̂ or the flow velocity, as the process says) or 2C channels (ε̂ and the variance interpolation of improved DDPM).
 */
export type DenoiseFn = (x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D) => tf.Tensor4D;

/** What a ddpm-process model outputs: ε̂ (DDPM, DiT) or v̂ = √ᾱ·ε̂ − √(1−ᾱ)·x̂_0 (Salimans & Ho). */
export type Prediction = 'epsilon' | 'v';

/** The process a model was trained on, which decides how its output is read and which samplers apply. */
export type DiffusionProcess =
  /** Discrete variance-preserving diffusion x_t = √ᾱ_t·x + √(1−ᾱ_t)·ε over `schedule`; prediction default 'epsilon'. */
  | { kind: 'ddpm'; schedule: NoiseSchedule; prediction?: Prediction }
  /** Rectified flow (flow.ts): x_t = (1−t)·x + t·ε, the model outputs v̂ = ε̂ − x̂_0 at network time FLOW_TIME_SCALE·t. */
  | { kind: 'flow' };

export const SAMPLER_KINDS = ['ddim', 'ddpm', 'euler', 'heun', 'sde'] as const;
export type SamplerKind = (typeof SAMPLER_KINDS)[number];
/** The samplers that belong to each process. */
export const PROCESS_SAMPLERS: Readonly<Record<DiffusionProcess['kind'], readonly SamplerKind[]>> = {
  ddpm: ['ddim', 'ddpm'],
  flow: ['euler', 'heun', 'sde'],
};

/**
 * Everything that defines a sampler, as a config file or run params hold it (diffusers' `from_config`).
 * ddim/ddpm take their coefficients from the model's schedule, respaced to `steps` timesteps.
 */
export interface SamplerConfig {
  kind: SamplerKind;
  /**
   * Model evaluations per sample, not counting guidance's doubled batch. ddim/ddpm: the respaced schedule's
   * length (≥ 2); euler/sde: the steps (≥ 1); heun: at most this many (2 per step but the last, see FlowSampler).
   */
  steps: number;
  /** DDIM only: 0 = deterministic, 1 = DDPM-like noise. Default 0. */
  eta?: number;
  /** ddpm process: clip the predicted x_0 to [−1, 1] (pixel-space data); off for latents as in DiT. Default false. */
  clipDenoised?: boolean;
  /** Classifier-free guidance scale s; 1 = none (the default, and the only value for unconditional models). */
  guidanceScale?: number;
}

/** The (guided) model at one network timestep for the whole batch, as `sample` hands it to a sampler. */
export type Evaluate = (x: tf.Tensor4D, t: number) => tf.Tensor4D;

/**
 * A reverse-process stepper, swappable without touching the model (as diffusers schedulers). It calls the
 * model itself, so a step may evaluate it more than once (Heun) and every sampler runs in the one `sample` loop.
 */
export interface Sampler {
  /** Network timestep at the start of each step, noisiest first (flow: FLOW_TIME_SCALE·t). One step per entry. */
  readonly timesteps: readonly number[];
  /** Model evaluations of a whole run: the `total` that `sample` reports to onStep. */
  readonly evaluations: number;
  /** The config it was built from; `sample` takes its guidance scale from here unless told otherwise. */
  readonly config?: Readonly<SamplerConfig>;
  /** From x at the start of step `index`, the sample at the next step's start (or x_0 after the last). */
  step(evaluate: Evaluate, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D;
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
  /** What the model outputs; default 'epsilon'. */
  prediction?: Prediction;
}

/**
 * Reads a ddpm-process model output at ᾱ into ε̂ and the variance channels, if any. A v̂ output becomes
 * ε̂ = √(1−ᾱ)·x_t + √ᾱ·v̂; the samplers pass the ᾱ of the base timestep the model was evaluated at (a
 * respaced schedule keeps the base ᾱ at its kept steps), not a respaced β's.
 */
function splitOutput(out: tf.Tensor4D, x: tf.Tensor4D, alphaBar: number, prediction: Prediction): { eps: tf.Tensor; v: tf.Tensor | null } {
  const channels = x.shape[3];
  const c = out.shape[3];
  if (prediction === 'v') {
    if (c !== channels) {
      throw new ModelInputError(`a v-prediction model outputs ${channels} channels, got ${c}; learned variances (${2 * channels} channels) go with ε-prediction only`);
    }
    return { eps: tf.add(tf.mul(x, Math.sqrt(1 - alphaBar)), tf.mul(out, Math.sqrt(alphaBar))), v: null };
  }
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
  readonly evaluations: number;
  private readonly clip: boolean;
  private readonly prediction: Prediction;

  constructor(schedule: NoiseSchedule, opts: SamplerOptions & { guidanceScale?: number } = {}) {
    const steps = opts.steps ?? schedule.numTimesteps;
    this.spaced = respaceSchedule(schedule, spacedTimesteps(schedule.numTimesteps, steps));
    this.timesteps = [...this.spaced.timestepMap].reverse();
    this.evaluations = steps;
    this.clip = opts.clipDenoised ?? false;
    this.prediction = opts.prediction ?? 'epsilon';
    this.config = { kind: 'ddpm', steps, clipDenoised: this.clip, guidanceScale: opts.guidanceScale ?? 1 };
  }

  /** Mean and log-variance of p(x_{t−1} | x_t) at respaced index k (k = 0 is the last step). */
  posterior(modelOutput: tf.Tensor4D, k: number, x: tf.Tensor4D): { mean: tf.Tensor; logVariance: tf.Tensor } {
    const s = this.spaced;
    return tf.tidy(() => {
      const { eps, v } = splitOutput(modelOutput, x, s.alphasCumprod[k]!, this.prediction);
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

  step(evaluate: Evaluate, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const k = this.spaced.numTimesteps - 1 - index;
    return tf.tidy(() => {
      const { mean, logVariance } = this.posterior(evaluate(x, this.timesteps[index]!), k, x);
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
  readonly evaluations: number;
  private readonly eta: number;
  private readonly clip: boolean;
  private readonly prediction: Prediction;

  constructor(schedule: NoiseSchedule, opts: DDIMOptions & { guidanceScale?: number } = {}) {
    this.eta = opts.eta ?? 0;
    if (!(this.eta >= 0)) throw new ModelConfigError(`DDIM eta must be ≥ 0, got ${opts.eta}`);
    this.clip = opts.clipDenoised ?? false;
    const steps = opts.steps ?? 50;
    this.spaced = respaceSchedule(schedule, spacedTimesteps(schedule.numTimesteps, steps));
    this.timesteps = [...this.spaced.timestepMap].reverse();
    this.alphaBar = Array.from(this.spaced.alphasCumprod).reverse();
    this.evaluations = steps;
    this.prediction = opts.prediction ?? 'epsilon';
    this.config = { kind: 'ddim', steps, eta: this.eta, clipDenoised: this.clip, guidanceScale: opts.guidanceScale ?? 1 };
  }

  step(evaluate: Evaluate, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const ac = this.alphaBar[index]!;
    const acPrev = index + 1 < this.alphaBar.length ? this.alphaBar[index + 1]! : 1;
    const sigma = this.eta * Math.sqrt((1 - acPrev) / (1 - ac)) * Math.sqrt(1 - ac / acPrev);
    return tf.tidy(() => {
      let { eps } = splitOutput(evaluate(x, this.timesteps[index]!), x, ac, this.prediction);
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
 * Classifier-free guidance: evaluates the model on [x; x] with labels [y; null] and mixes the first C channels
 * as u + s·(c − u), whatever they predict (ε̂, v̂ or the flow velocity: all are affine in ε̂ at fixed x_t, so
 * guiding any of them is guiding ε̂); variance channels (if any) are taken from the conditional half.
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

export type FlowSamplerKind = 'euler' | 'heun' | 'sde';

/**
 * Samplers of the rectified-flow process (flow.ts) on the uniform grid t_i = 1 − i/N (i = 0…N), from noise
 * at t = 1 to data at t = 0, with h = t_{i+1} − t_i < 0 and `steps` meaning model evaluations:
 * - euler: x ← x + h·v̂(x, t_i); N = steps.
 * - heun: EDM's second-order step: predictor x̃ = x + h·v̂(x, t_i), corrector x ← x + h·(v̂(x, t_i) + v̂(x̃, t_{i+1}))/2,
 *   except on the last interval (to t = 0), which stays Euler as in EDM. N intervals cost 2N − 1 evaluations, so
 *   N = ⌈steps/2⌉: exactly `steps` evaluations for odd steps, steps − 1 for even (never more than asked).
 * - sde: Euler–Maruyama on the reverse-time SDE dx = [v − ½·w·∇log p_t]·dt + √w·dW̄, which has the ODE's
 *   marginals for any w ≥ 0. w(t) = 2t, SiT's default (diffusion form 'sigma', norm 1; SiT's "diffusion" D is
 *   w/2) and REPA's. With ∇log p_t = −ε̂/t and ε̂ = x + (1−t)·v̂ the drift is v̂ + ε̂, and
 *   x ← x + h·(v̂ + ε̂) + √(2t·|h|)·z. The last step is the deterministic x ← x̂_0 = x − t·v̂, since the score
 *   blows up at t = 0 (SiT's "Mean" last step). N = steps.
 * There is no clipDenoised: clipping x̂_0 = x − t·v̂ is definable but no flow reference does it, so it is refused.
 */
export class FlowSampler implements Sampler {
  readonly timesteps: readonly number[];
  readonly evaluations: number;
  readonly config: Readonly<SamplerConfig>;
  /** t_0 = 1 > t_1 > … > t_N = 0. */
  readonly times: readonly number[];

  constructor(
    readonly kind: FlowSamplerKind,
    opts: { steps: number; guidanceScale?: number },
  ) {
    const { steps } = opts;
    if (!Number.isInteger(steps) || steps < 1) throw new ModelConfigError(`sampler steps must be an integer ≥ 1, got ${steps}`);
    const n = kind === 'heun' ? Math.ceil(steps / 2) : steps;
    this.times = Array.from({ length: n + 1 }, (_, i) => 1 - i / n);
    this.timesteps = this.times.slice(0, n).map((t) => FLOW_TIME_SCALE * t);
    this.evaluations = kind === 'heun' ? 2 * n - 1 : n;
    this.config = { kind, steps, guidanceScale: opts.guidanceScale ?? 1 };
  }

  step(evaluate: Evaluate, index: number, x: tf.Tensor4D, rng: Rng): tf.Tensor4D {
    checkIndex(this, index);
    const t = this.times[index]!;
    const next = this.times[index + 1]!;
    const h = next - t;
    const velocity = (xt: tf.Tensor4D, tt: number) => {
      const out = evaluate(xt, FLOW_TIME_SCALE * tt);
      if (out.shape[3] !== x.shape[3]) {
        throw new ModelInputError(`a flow model outputs the velocity (${x.shape[3]} channels), got ${out.shape[3]}; learned variances belong to the ddpm process`);
      }
      return out;
    };
    return tf.tidy(() => {
      const v = velocity(x, t);
      const euler = tf.add(x, tf.mul(v, h)) as tf.Tensor4D;
      if (next === 0 || this.kind === 'euler') return euler;
      if (this.kind === 'heun') {
        const v2 = velocity(euler, next);
        return tf.add(x, tf.mul(tf.add(v, v2), h / 2)) as tf.Tensor4D;
      }
      const eps = tf.add(x, tf.mul(v, 1 - t));
      const drift = tf.add(v, eps);
      return tf.add(tf.add(x, tf.mul(drift, h)), tf.mul(rng.normalTensor(x.shape), Math.sqrt(2 * t * -h))) as tf.Tensor4D;
    });
  }
}

/** The one way to build a sampler: from the process the model was trained on and the sampler's config. */
export function createSampler(process: DiffusionProcess, config: SamplerConfig): Sampler {
  const guidanceScale = config.guidanceScale ?? 1;
  if (!(guidanceScale >= 0) || !Number.isFinite(guidanceScale)) {
    throw new ModelConfigError(`sampler guidanceScale must be a finite number ≥ 0, got ${config.guidanceScale}`);
  }
  const kinds = PROCESS_SAMPLERS[process.kind];
  if (!kinds.includes(config.kind)) {
    const other = (Object.keys(PROCESS_SAMPLERS) as DiffusionProcess['kind'][]).find((p) => PROCESS_SAMPLERS[p].includes(config.kind));
    const why = other ? ` ('${config.kind}' samples the ${other} process; this model's is ${process.kind})` : '';
    throw new ModelConfigError(`sampler kind must be one of ${kinds.join(', ')}, got '${String(config.kind)}'${why}`);
  }
  if (config.eta !== undefined && config.kind !== 'ddim') {
    const use = process.kind === 'flow' ? "the stochastic flow sampler is kind 'sde'" : "ddpm is always ancestral (remove eta or use kind 'ddim')";
    throw new ModelConfigError(`sampler eta applies to ddim only; ${use}`);
  }
  if (process.kind === 'flow') {
    if (config.clipDenoised) throw new ModelConfigError(`sampler clipDenoised applies to the ddpm process only; remove it for a flow model`);
    return new FlowSampler(config.kind as FlowSamplerKind, { steps: config.steps, guidanceScale });
  }
  const common = { steps: config.steps, clipDenoised: config.clipDenoised ?? false, guidanceScale, prediction: process.prediction ?? 'epsilon' };
  return config.kind === 'ddim' ? new DDIMSampler(process.schedule, { ...common, eta: config.eta ?? 0 }) : new DDPMSampler(process.schedule, common);
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
  /** After each step: model evaluations so far and in all (sampler.evaluations), guidance's doubled batch counting once. */
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
  let evaluations = 0;
  const evaluate: Evaluate = (xt, t) => {
    evaluations++;
    return fn(xt, tf.fill([b], t, 'float32') as tf.Tensor1D, y);
  };
  try {
    for (let i = 0; i < sampler.timesteps.length; i++) {
      const next = tf.tidy(() => sampler.step(evaluate, i, x, opts.rng));
      x.dispose();
      x = next;
      opts.onStep?.(evaluations, sampler.evaluations);
    }
  } finally {
    y.dispose();
  }
  return x;
}

