/** Rows of vectors: `rows` × `dim`, row-major. */
export interface Vectors {
  rows: number;
  dim: number;
  data: ArrayLike<number>;
}

export interface CopyingScores {
  /** Per sample: Euclidean distance to its nearest training image and to its nearest held-out image. */
  nearestTrain: Float64Array;
  nearestHeldOut: Float64Array;
  /** Mean over samples of nearestTrain / nearestHeldOut (< 1: samples sit closer to what was trained on). */
  meanRatio: number;
  /** Fraction of samples strictly closer to some training image than to every held-out image. */
  closerToTrain: number;
}

function check(name: string, v: Vectors, dim: number): void {
  if (v.rows < 1 || v.dim !== dim || v.data.length !== v.rows * v.dim) {
    throw new RangeError(`copyingScores: ${name} must be ≥ 1 row of dimension ${dim} (data length rows × dim), got ${v.rows} × ${v.dim} with ${v.data.length} values`);
  }
}

function nearest(a: Vectors, i: number, set: Vectors): number {
  let best = Infinity;
  for (let j = 0; j < set.rows; j++) {
    let s = 0;
    for (let d = 0; d < a.dim; d++) {
      const x = a.data[i * a.dim + d]! - set.data[j * set.dim + d]!;
      s += x * x;
    }
    if (s < best) best = s;
  }
  return Math.sqrt(best);
}

/**
 * Memorisation of a few-shot adaptation: for each sample, the distance to its nearest neighbour among the k
 * training images against the distance to its nearest among k held-out images of the same class. A model that
 * generalises is about as close to unseen images as to seen ones (ratio ≈ 1, closerToTrain ≈ the chance a random
 * draw of the class lands nearer the train set, ≈ 0.5); a copying one sits on its training images (ratio → 0,
 * closerToTrain → 1). A ratio with a zero denominator counts as 1 when both are zero (the sample equals a
 * training and a held-out image) and as Infinity otherwise.
 */
export function copyingScores(samples: Vectors, train: Vectors, heldOut: Vectors): CopyingScores {
  check('samples', samples, samples.dim);
  check('train', train, samples.dim);
  check('heldOut', heldOut, samples.dim);
  const nearestTrain = new Float64Array(samples.rows);
  const nearestHeldOut = new Float64Array(samples.rows);
  let ratioSum = 0;
  let closer = 0;
  for (let i = 0; i < samples.rows; i++) {
    const t = nearest(samples, i, train);
    const h = nearest(samples, i, heldOut);
    nearestTrain[i] = t;
    nearestHeldOut[i] = h;
    ratioSum += h === 0 ? (t === 0 ? 1 : Infinity) : t / h;
    if (t < h) closer++;
  }
  return { nearestTrain, nearestHeldOut, meanRatio: ratioSum / samples.rows, closerToTrain: closer / samples.rows };
}
