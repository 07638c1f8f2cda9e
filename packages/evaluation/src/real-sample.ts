import { tf } from '@difflab/core-tensor';
import { loadFashionMnist, type ImageSplit } from '@difflab/data';
import { EvalError } from './errors.js';

/** Fashion-MNIST training images in [0, 1], `perClass` of each class in class-major order (as generated samples are). */
export interface RealSample {
  images: Float32Array;
  labels: Int32Array;
  count: number;
}

/**
 * The real counterpart of an evaluation's samples: the first `perClass` training images of each
 * class in file order. Scored against the same test-split reference, it gives the FID a perfect
 * generator would get at this N (FID is biased upwards at small N), and it is the real set of
 * precision and recall. Training images, not test images, so the floor is not the reference against itself.
 */
export function realSample(perClass: number, classes = 10, train: ImageSplit = loadFashionMnist().train): RealSample {
  const pixels = train.height * train.width;
  const count = perClass * classes;
  const images = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  const taken = new Array<number>(classes).fill(0);
  let filled = 0;
  for (let i = 0; i < train.count && filled < count; i++) {
    const c = train.labels[i]!;
    if (c >= classes || taken[c]! >= perClass) continue;
    const at = c * perClass + taken[c]!;
    taken[c]!++;
    filled++;
    labels[at] = c;
    const src = train.images.subarray(i * pixels, (i + 1) * pixels);
    for (let p = 0; p < pixels; p++) images[at * pixels + p] = src[p]! / 255;
  }
  if (filled < count) {
    throw new EvalError(`samplesPerClass ${perClass}: the Fashion-MNIST training split has fewer images of some class; use at most ${Math.min(...taken)}`);
  }
  return { images, labels, count };
}

/** [count, 28, 28, 1] batches of images in [0, 1]. */
export function* imageBatches(images: Float32Array, count: number, batchSize: number, pixels = 784): Generator<tf.Tensor4D> {
  const side = Math.sqrt(pixels);
  for (let at = 0; at < count; at += batchSize) {
    const b = Math.min(batchSize, count - at);
    yield tf.tensor4d(images.subarray(at * pixels, (at + b) * pixels), [b, side, side, 1]);
  }
}
