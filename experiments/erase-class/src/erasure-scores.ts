import { tf } from '@difflab/core-tensor';
import type { FmnistFeatureNet } from '@difflab/metrics';
import { imageBatches } from '@difflab/evaluation';

/** How a classifier sees samples conditioned on the erased label. */
export interface ErasedClassScores {
  n: number;
  /** Mean softmax probability of the erased class. */
  probability: number;
  /** Mean entropy of the softmax, in nats (ln 10 ≈ 2.303 = no idea which class). */
  entropy: number;
  /** Fraction classified (argmax) as the erased class. */
  accuracy: number;
}

/** Scores from logits [n, classes], row-major; softmax in float64 with the row maximum subtracted. */
export function erasedClassScores(logits: ArrayLike<number>, classes: number, erased: number): ErasedClassScores {
  if (logits.length === 0 || logits.length % classes !== 0) throw new RangeError(`erasedClassScores: ${logits.length} logits is not a positive multiple of ${classes} classes`);
  if (!Number.isInteger(erased) || erased < 0 || erased >= classes) throw new RangeError(`erasedClassScores: erased class ${erased} outside 0..${classes - 1}`);
  const n = logits.length / classes;
  let probability = 0;
  let entropy = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: classes }, (_, c) => Number(logits[i * classes + c]));
    const max = Math.max(...row);
    const e = row.map((v) => Math.exp(v - max));
    const z = e.reduce((s, v) => s + v, 0);
    const p = e.map((v) => v / z);
    probability += p[erased]!;
    entropy -= p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);
    if (row.indexOf(max) === erased) hits++;
  }
  return { n, probability: probability / n, entropy: entropy / n, accuracy: hits / n };
}

/** The network's logits [count, 10] of images in [0, 1] (28×28, row-major). */
export function logitsOf(net: FmnistFeatureNet, images: Float32Array, count: number, batchSize = 100): Float32Array {
  const out = new Float32Array(count * 10);
  let at = 0;
  for (const batch of imageBatches(images, count, batchSize)) {
    const logits = tf.tidy(() => net.forward(tf.sub(tf.mul(batch, 2), 1) as tf.Tensor4D).logits);
    out.set(logits.dataSync() as Float32Array, at * 10);
    at += batch.shape[0];
    tf.dispose([batch, logits]);
  }
  return out;
}
