import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigError, ModelInputError } from '../errors.js';
import { batchMoments, batchNormWith, groupNorm, instanceNorm, layerNorm } from './functional.js';

// Modules with PyTorch's defaults, parameter names and update rules, on channels-last tensors.
// `params` holds the trainable weight/bias; BatchNorm's running statistics are non-trainable
// variables in `buffers` (PyTorch's buffers), so tf.variableGrads leaves them alone.

export interface NormModule {
  /** Trainable parameters keyed as in PyTorch (`weight`, `bias`); empty without an affine transform. */
  readonly params: Record<string, tf.Variable>;
  apply(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

function positiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v <= 0) throw new ModelConfigError(`${what} must be a positive integer, got ${v}`);
}

function positiveEps(eps: number, what: string): void {
  if (!(eps > 0)) throw new ModelConfigError(`${what} eps must be > 0, got ${eps}`);
}

function affineParams(shape: number[], enabled: boolean): Record<string, tf.Variable> {
  if (!enabled) return {};
  return { weight: tf.variable(tf.ones(shape), true), bias: tf.variable(tf.zeros(shape), true) };
}

function checkChannels(x: tf.Tensor, channels: number, what: string): void {
  if (x.rank < 2 || x.shape[x.rank - 1] !== channels) {
    throw new ModelInputError(`${what} expects channels-last input with ${channels} channels, got [${x.shape.join(', ')}]`);
  }
}

function disposeAll(...records: Record<string, tf.Variable>[]): void {
  for (const r of records) for (const v of Object.values(r)) v.dispose();
}

export interface GroupNormOptions {
  eps?: number;
  affine?: boolean;
}

/** torch.nn.GroupNorm(numGroups, numChannels, eps=1e-5, affine=True). */
export class GroupNorm implements NormModule {
  readonly params: Record<string, tf.Variable>;
  readonly eps: number;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: GroupNormOptions = {},
  ) {
    positiveInt(numGroups, 'GroupNorm numGroups');
    positiveInt(numChannels, 'GroupNorm numChannels');
    if (numChannels % numGroups !== 0) {
      throw new ModelConfigError(`GroupNorm numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    }
    this.eps = opts.eps ?? 1e-5;
    positiveEps(this.eps, 'GroupNorm');
    this.params = affineParams([numChannels], opts.affine ?? true);
  }
  apply(x: tf.Tensor): tf.Tensor {
    checkChannels(x, this.numChannels, 'GroupNorm');
    return groupNorm(x, this.numGroups, this.eps, this.params.weight, this.params.bias);
  }
  dispose(): void {
    disposeAll(this.params);
  }
}

export interface LayerNormOptions {
  eps?: number;
  elementwiseAffine?: boolean;
}

/** torch.nn.LayerNorm(normalizedShape, eps=1e-5, elementwise_affine=True): normalises the trailing axes of that shape. */
export class LayerNorm implements NormModule {
  readonly params: Record<string, tf.Variable>;
  readonly normalizedShape: number[];
  readonly eps: number;
  constructor(normalizedShape: number | number[], opts: LayerNormOptions = {}) {
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0) throw new ModelConfigError('LayerNorm normalizedShape must not be empty');
    for (const d of this.normalizedShape) positiveInt(d, 'LayerNorm normalizedShape entry');
    this.eps = opts.eps ?? 1e-5;
    positiveEps(this.eps, 'LayerNorm');
    this.params = affineParams(this.normalizedShape, opts.elementwiseAffine ?? true);
  }
  apply(x: tf.Tensor): tf.Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(-k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new ModelInputError(
        `LayerNorm expects input ending in [${this.normalizedShape.join(', ')}], got [${x.shape.join(', ')}]`,
      );
    }
    return layerNorm(x, k, this.eps, this.params.weight, this.params.bias);
  }
  dispose(): void {
    disposeAll(this.params);
  }
}

export interface InstanceNormOptions {
  eps?: number;
  affine?: boolean;
}

/**
 * torch.nn.InstanceNorm2d(numFeatures, eps=1e-5, affine=False) with track_running_stats=False
 * (PyTorch's default): statistics always come from the input, in training and evaluation alike.
 */
export class InstanceNorm implements NormModule {
  readonly params: Record<string, tf.Variable>;
  readonly eps: number;
  constructor(
    readonly numFeatures: number,
    opts: InstanceNormOptions = {},
  ) {
    positiveInt(numFeatures, 'InstanceNorm numFeatures');
    this.eps = opts.eps ?? 1e-5;
    positiveEps(this.eps, 'InstanceNorm');
    this.params = affineParams([numFeatures], opts.affine ?? false);
  }
  apply(x: tf.Tensor): tf.Tensor {
    checkChannels(x, this.numFeatures, 'InstanceNorm');
    return instanceNorm(x, this.eps, this.params.weight, this.params.bias);
  }
  dispose(): void {
    disposeAll(this.params);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average; null = cumulative average (PyTorch's momentum=None). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

/**
 * torch.nn.BatchNorm{1,2,3}d(numFeatures, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True).
 * Training normalises with the batch mean and biased variance, then updates
 * running = (1 − m)·running + m·batch with the *unbiased* batch variance (n/(n−1)), as PyTorch does.
 * Evaluation normalises with the running statistics.
 */
export class BatchNorm implements NormModule {
  readonly params: Record<string, tf.Variable>;
  /** running_mean, running_var (float32 [C]) and num_batches_tracked (int32 scalar); empty without tracking. */
  readonly buffers: Record<string, tf.Variable>;
  readonly eps: number;
  readonly momentum: number | null;
  training = true;
  constructor(
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
  ) {
    positiveInt(numFeatures, 'BatchNorm numFeatures');
    this.eps = opts.eps ?? 1e-5;
    positiveEps(this.eps, 'BatchNorm');
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new ModelConfigError(`BatchNorm momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    this.params = affineParams([numFeatures], opts.affine ?? true);
    this.buffers =
      (opts.trackRunningStats ?? true)
        ? {
            running_mean: tf.variable(tf.zeros([numFeatures]), false),
            running_var: tf.variable(tf.ones([numFeatures]), false),
            num_batches_tracked: tf.variable(tf.scalar(0, 'int32'), false),
          }
        : {};
  }

  train(mode = true): this {
    this.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  apply(x: tf.Tensor): tf.Tensor {
    checkChannels(x, this.numFeatures, 'BatchNorm');
    const { weight, bias } = this.params;
    const { running_mean: runningMean, running_var: runningVar } = this.buffers;
    if (!this.training && runningMean && runningVar) return batchNormWith(x, runningMean, runningVar, this.eps, weight, bias);
    const count = x.size / this.numFeatures;
    if (count < 2 && this.training) {
      throw new ModelInputError(`BatchNorm in training needs more than one value per channel, got [${x.shape.join(', ')}]`);
    }
    return tf.tidy(() => {
      const { mean, variance } = batchMoments(x);
      if (this.training && runningMean && runningVar) this.updateRunningStats(mean, variance, count);
      return batchNormWith(x, mean, variance, this.eps, weight, bias);
    });
  }

  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, count: number): void {
    const tracked = this.buffers.num_batches_tracked!;
    const steps = tracked.dataSync()[0]! + 1;
    tracked.assign(tf.scalar(steps, 'int32'));
    const m = this.momentum ?? 1 / steps;
    tf.tidy(() => {
      const unbiased = tf.mul(variance, count / (count - 1));
      const blend = (running: tf.Variable, batch: tf.Tensor) => running.assign(tf.add(tf.mul(running, 1 - m), tf.mul(batch, m)));
      blend(this.buffers.running_mean!, mean);
      blend(this.buffers.running_var!, unbiased);
    });
  }

  dispose(): void {
    disposeAll(this.params, this.buffers);
  }
}
