import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigError, ModelInputError } from '../errors.js';

/**
 * A discrete noise schedule with every derived quantity in float64 (DDPM/ADM notation).
 * Index t = 0..T−1; ᾱ_{−1} = 1.
 */
export interface NoiseSchedule {
  readonly numTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  /** ᾱ_t = ∏_{s≤t} α_s */
  readonly alphasCumprod: Float64Array;
  /** ᾱ_{t−1}, with ᾱ_{−1} = 1 */
  readonly alphasCumprodPrev: Float64Array;
  /** β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t), the variance of q(x_{t−1} | x_t, x_0) */
  readonly posteriorVariance: Float64Array;
  /** log β̃_t with β̃_0 replaced by β̃_1 (β̃_0 = 0) */
  readonly posteriorLogVarianceClipped: Float64Array;
  /** Posterior mean = coef1 · x_0 + coef2 · x_t */
  readonly posteriorMeanCoef1: Float64Array;
  readonly posteriorMeanCoef2: Float64Array;
}

/** Derives every schedule quantity from β_1..β_T. */
export function scheduleFromBetas(betas: ArrayLike<number>): NoiseSchedule {
  const T = betas.length;
  if (T < 2) throw new ModelConfigError(`a noise schedule needs at least 2 timesteps, got ${T}`);
  const b = Float64Array.from(betas);
  for (let i = 0; i < T; i++) {
    if (!(b[i]! > 0 && b[i]! <= 1)) throw new ModelConfigError(`schedule beta[${i}] = ${b[i]} must be in (0, 1]`);
  }
  const ac = new Float64Array(T);
  const acPrev = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) {
    acPrev[i] = prod;
    prod *= 1 - b[i]!;
    ac[i] = prod;
  }
  return withPosterior(b, ac, acPrev);
}

/**
 * A schedule from β_t, ᾱ_t and ᾱ_{t−1}: the posterior q(x_{t−1} | x_t, x_0) terms. Shared by
 * scheduleFromBetas and respaceSchedule, which get ᾱ differently (a product, or copied from a base).
 */
export function withPosterior(betas: Float64Array, ac: Float64Array, acPrev: Float64Array): NoiseSchedule {
  const T = betas.length;
  const alphas = betas.map((x) => 1 - x);
  const postVar = new Float64Array(T);
  const c1 = new Float64Array(T);
  const c2 = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    postVar[i] = (betas[i]! * (1 - acPrev[i]!)) / (1 - ac[i]!);
    c1[i] = (betas[i]! * Math.sqrt(acPrev[i]!)) / (1 - ac[i]!);
    c2[i] = ((1 - acPrev[i]!) * Math.sqrt(alphas[i]!)) / (1 - ac[i]!);
  }
  const logVar = postVar.map((v, i) => Math.log(i === 0 ? postVar[1]! : v));
  return {
    numTimesteps: T,
    betas,
    alphas,
    alphasCumprod: ac,
    alphasCumprodPrev: acPrev,
    posteriorVariance: postVar,
    posteriorLogVarianceClipped: logVar,
    posteriorMeanCoef1: c1,
    posteriorMeanCoef2: c2,
  };
}

/** DDPM's linear β schedule, scaled by 1000/T as in ADM/DiT so any T spans the same noise range. */
export function linearSchedule(numTimesteps = 1000, betaStart = 1e-4, betaEnd = 0.02): NoiseSchedule {
  const scale = 1000 / numTimesteps;
  const lo = scale * betaStart;
  const hi = scale * betaEnd;
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) betas[i] = lo + ((hi - lo) * i) / (numTimesteps - 1);
  return scheduleFromBetas(betas);
}

/** Nichol & Dhariwal's cosine schedule: ᾱ(t) = cos²((t/T + s)/(1 + s)·π/2), β clipped at maxBeta. */
export function cosineSchedule(numTimesteps = 1000, s = 0.008, maxBeta = 0.999): NoiseSchedule {
  const alphaBar = (u: number) => Math.cos(((u + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    betas[i] = Math.min(1 - alphaBar((i + 1) / numTimesteps) / alphaBar(i / numTimesteps), maxBeta);
  }
  return scheduleFromBetas(betas);
}

export function checkTimesteps(schedule: NoiseSchedule, t: ArrayLike<number>, batch: number): void {
  if (t.length !== batch) {
    throw new ModelInputError(`need one timestep per example: got ${t.length} timesteps for batch ${batch}`);
  }
  for (let i = 0; i < t.length; i++) {
    const v = t[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= schedule.numTimesteps) {
      throw new ModelInputError(`timestep t[${i}] = ${v} must be an integer in [0, ${schedule.numTimesteps})`);
    }
  }
}

/** A per-example coefficient broadcastable over an NHWC batch: [B, 1, 1, 1]. */
export function perExample(values: ArrayLike<number>, rank: number): tf.Tensor {
  const shape = [values.length, ...new Array<number>(rank - 1).fill(1)];
  return tf.tensor(Float32Array.from(values as ArrayLike<number>), shape, 'float32');
}

/** Forward noising q(x_t | x_0): √ᾱ_t·x0 + √(1−ᾱ_t)·noise, with t one integer per example. */
export function addNoise(schedule: NoiseSchedule, x0: tf.Tensor, noise: tf.Tensor, t: ArrayLike<number>): tf.Tensor {
  const b = x0.shape[0] ?? 0;
  checkTimesteps(schedule, t, b);
  if (!tf.util.arraysEqual(x0.shape, noise.shape)) {
    throw new ModelInputError(`addNoise: noise shape [${noise.shape}] must equal x0 shape [${x0.shape}]`);
  }
  return tf.tidy(() => {
    const ac = Array.from(t, (v) => schedule.alphasCumprod[v]!);
    const a = perExample(ac.map(Math.sqrt), x0.rank);
    const s = perExample(ac.map((v) => Math.sqrt(1 - v)), x0.rank);
    return tf.add(tf.mul(a, x0), tf.mul(s, noise));
  });
}
