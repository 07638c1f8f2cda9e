import * as tf from '@tensorflow/tfjs-core';

/**
 * Forgets the disposed tensors the innermost engine scope still lists. A scope held open across a long
 * loop (the trainer's, so that a run releases everything it allocated however it ends) lists every
 * tensor any tidy in it ever returned; the disposed ones then stay reachable, the heap grows and garbage
 * collection slows every step (measured: 45 → 61 ms per small-DiT step over 1,000 steps). Live tensors
 * stay listed, so ending the scope still disposes them.
 */
export function forgetDisposedInScope(): void {
  const scope = tf.engine().state.activeScope;
  if (scope) scope.track = scope.track.filter((t) => !t.isDisposed);
}
