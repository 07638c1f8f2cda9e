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
 * `classes`: the first that many labels, or a list of labels (class-major in the listed order); `split`: any split.
 */
export function realSample(perClass: number, classes: number | readonly number[] = 10, split: ImageSplit = loadFashionMnist().train): RealSample {
  const list = typeof classes === 'number' ? Array.from({ length: classes }, (_, c) => c) : classes;
  const pixels = split.height * split.width;
  const count = perClass * list.length;
  const images = new Float32Array(count * pixels);
  const labels = new Int32Array(count);
  const taken = new Array<number>(list.length).fill(0);
  let filled = 0;
  for (let i = 0; i < split.count && filled < count; i++) {
    const c = list.indexOf(split.labels[i]!);
    if (c < 0 || taken[c]! >= perClass) continue;
    const at = c * perClass + taken[c]!;
    taken[c]!++;
    filled++;
    labels[at] = list[c]!;
    const src = split.images.subarray(i * pixels, (i + 1) * pixels);
    for (let p = 0; p < pixels; p++) images[at * pixels + p] = src[p]! / 255;
  }
  if (filled < count) {
    const short = list.filter((_, c) => taken[c]! < perClass);
    throw new EvalError(`${perClass} images per class: class ${short.join(', ')} has fewer than ${perClass} images in the split; use at most ${Math.min(...taken)}`);
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
