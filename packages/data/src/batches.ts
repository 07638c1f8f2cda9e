import { Rng, type RngState } from '@difflab/core-tensor';
import * as tf from '@tensorflow/tfjs-core';
import { DataError } from './errors.js';
import type { ImageSplit } from './fashion-mnist/load.js';

export interface Batch {
  /** NHWC [size, height, width, 1], pixel values scaled from 0..255 to [-1, 1]. */
  x: Float32Array;
  y: Int32Array;
  /** Index of each example in the split. */
  indices: Int32Array;
  /** [size, height, width, 1] of x (after padding). */
  shape: [number, number, number, 1];
}

export interface BatchOptions {
  /** Pixels of value -1 (black) added on each side; 2 turns 28×28 into 32×32. Default 0. */
  padding?: number;
}

/** Serialisable position of a BatchIterator: saved with a checkpoint, it replays the same batches. */
export interface BatchIteratorState {
  batchSize: number;
  count: number;
  epoch: number;
  /** Next position in the current epoch's permutation. */
  position: number;
  /** Generator state before drawing the current epoch's permutation. */
  epochRng: RngState;
}

export interface BatchIteratorOptions extends BatchOptions {
  batchSize: number;
  /** Seed of the shuffle; ignored when `state` is given. */
  seed?: number;
  /** Resume from a saved state instead of starting at epoch 0. */
  state?: BatchIteratorState;
}

/** Writes examples `indices` of `split` into a scaled, padded NHWC batch. */
export function makeBatch(split: ImageSplit, indices: Int32Array, opts: BatchOptions = {}): Batch {
  const pad = opts.padding ?? 0;
  if (!Number.isInteger(pad) || pad < 0) throw new DataError(`padding must be a non-negative integer, got ${pad}`);
  const { height: h, width: w } = split;
  const ph = h + 2 * pad;
  const pw = w + 2 * pad;
  const x = new Float32Array(indices.length * ph * pw).fill(-1);
  const y = new Int32Array(indices.length);
  for (let b = 0; b < indices.length; b++) {
    const i = indices[b]!;
    if (!(i >= 0 && i < split.count)) throw new DataError(`example index ${i} is outside 0..${split.count - 1}`);
    y[b] = split.labels[i]!;
    const src = i * h * w;
    for (let r = 0; r < h; r++) {
      const dst = b * ph * pw + (r + pad) * pw + pad;
      for (let c = 0; c < w; c++) x[dst + c] = split.images[src + r * w + c]! / 127.5 - 1;
    }
  }
  return { x, y, indices, shape: [indices.length, ph, pw, 1] };
}

/**
 * The example order of shuffled training: a fresh seeded permutation per epoch, and only full
 * batches (drop-last), so every step has the same shape and an epoch is floor(count / batchSize)
 * steps; the examples left over differ from epoch to epoch, so none is excluded for good.
 * Its state resumes the same sequence; every batch iterator over in-memory splits shares it.
 */
export class ShuffledOrder {
  private epoch: number;
  private position: number;
  private epochRng: RngState;
  private perm: Int32Array;
  private rng: Rng;

  /** `field` names the batch-size setting in error messages (e.g. `train.batchSize`). */
  constructor(
    private readonly count: number,
    private readonly batchSize: number,
    opts: { seed?: number; state?: BatchIteratorState; field?: string },
  ) {
    const { state, field = 'batchSize' } = opts;
    if (!Number.isInteger(batchSize) || batchSize <= 0 || batchSize > count) {
      throw new DataError(`${field} must be an integer in 1..${count} (the split size), got ${batchSize}`);
    }
    if (state && (state.batchSize !== batchSize || state.count !== count)) {
      throw new DataError(
        `saved batch state is for batchSize ${state.batchSize} over ${state.count} examples, not ${batchSize} over ${count}; resume with the same data and batch size`,
      );
    }
    this.epoch = state?.epoch ?? 0;
    this.position = state?.position ?? 0;
    this.epochRng = state?.epochRng ?? new Rng(opts.seed ?? 0).getState();
    this.rng = Rng.fromState(this.epochRng);
    this.perm = this.rng.permutation(count);
  }

  getState(): BatchIteratorState {
    return {
      batchSize: this.batchSize,
      count: this.count,
      epoch: this.epoch,
      position: this.position,
      epochRng: { s: [...this.epochRng.s], spare: this.epochRng.spare },
    };
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  /** The example indices of the next batch. */
  next(): Int32Array {
    if (this.position + this.batchSize > this.count) {
      this.epoch += 1;
      this.position = 0;
      this.epochRng = this.rng.getState();
      this.perm = this.rng.permutation(this.count);
    }
    const indices = this.perm.slice(this.position, this.position + this.batchSize);
    this.position += this.batchSize;
    return indices;
  }
}

/** Endless shuffled full batches for training, in ShuffledOrder. */
export class BatchIterator {
  private readonly order: ShuffledOrder;
  private readonly batchOpts: BatchOptions;

  constructor(
    private readonly split: ImageSplit,
    opts: BatchIteratorOptions,
  ) {
    this.order = new ShuffledOrder(split.count, opts.batchSize, opts);
    this.batchOpts = { padding: opts.padding ?? 0 };
  }

  getState(): BatchIteratorState {
    return this.order.getState();
  }

  get currentEpoch(): number {
    return this.order.currentEpoch;
  }

  next(): Batch {
    return makeBatch(this.split, this.order.next(), this.batchOpts);
  }
}

/** Every example once, in order, with a smaller last batch: for evaluation and feature extraction. */
export function* sequentialBatches(split: ImageSplit, batchSize: number, opts: BatchOptions = {}): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new DataError(`batchSize must be a positive integer, got ${batchSize}`);
  for (let start = 0; start < split.count; start += batchSize) {
    const end = Math.min(start + batchSize, split.count);
    const indices = new Int32Array(end - start);
    for (let i = 0; i < indices.length; i++) indices[i] = start + i;
    yield makeBatch(split, indices, opts);
  }
}

/** The batch as tensors: x float32 [b, H, W, 1], y int32 [b]. The caller disposes them. */
export function batchToTensors(batch: Batch): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return { x: tf.tensor4d(batch.x, batch.shape, 'float32'), y: tf.tensor1d(batch.y, 'int32') };
}
