import * as tf from '@tensorflow/tfjs-core';

export class TensorLeakError extends Error {
  override name = 'TensorLeakError';
  constructor(
    /** Tensors alive after fn minus those alive before (negative: fn disposed tensors it did not own). */
    readonly leaked: number,
    label: string,
  ) {
    super(
      leaked > 0
        ? `${label} leaked ${leaked} tensor(s): wrap intermediate results in tf.tidy or dispose them`
        : `${label} disposed ${-leaked} tensor(s) it did not create`,
    );
  }
}

/**
 * Runs fn (sync or async) and throws TensorLeakError if the number of live tensors changed.
 * fn's own result is returned; if it holds tensors, dispose them inside fn or count them via `allow`.
 */
export async function withLeakGuard<T>(fn: () => T | Promise<T>, opts: { allow?: number; label?: string } = {}): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const leaked = tf.memory().numTensors - before - (opts.allow ?? 0);
  if (leaked !== 0) throw new TensorLeakError(leaked, opts.label ?? 'function');
  return result;
}

/** Test helper: asserts fn leaves the live tensor count unchanged. */
export async function expectNoTensorLeaks(fn: () => unknown, label?: string): Promise<void> {
  await withLeakGuard(fn, label === undefined ? {} : { label });
}
