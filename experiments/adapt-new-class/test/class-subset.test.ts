// The class-subset scores of @difflab/evaluation (the old classes' FID) against an independent computation with
// the same feature network on real Fashion-MNIST: selection, reference, floor and class accuracy recomputed here from
// the raw split; and with all ten classes it equals scoreSamples (a separate code path with its own reference cache).
// The network is a seeded, untrained FmnistFeatureNet written to a temp file: the scores are functions of whatever
// network they are given, so the comparison needs no trained one (and so runs on a fresh clone).
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '@difflab/core-tensor';
import { loadFashionMnist, type ImageSplit } from '@difflab/data';
import { samplesOfClasses, scoreClassSubset, scoreSamples, splitImagesOfClasses, type GeneratedSamples } from '@difflab/evaluation';
import { frechetDistance, gaussianStats, FmnistFeatureNet } from '@difflab/metrics';

const net = join(mkdtempSync(join(tmpdir(), 'class-subset-')), 'fmnist-featurenet.safetensors');
beforeAll(async () => {
  await initBackend();
  const seeded = FmnistFeatureNet.init(7);
  await seeded.save(net);
  seeded.dispose();
});

const split = (labels: number[]): ImageSplit => ({
  images: Uint8Array.from(labels.flatMap((l, i) => [l * 10, i, 255, 0])),
  labels: Uint8Array.from(labels),
  count: labels.length,
  height: 2,
  width: 2,
});

describe('class subsets', () => {
  it('selects the first k images of each listed class in split order, class-major, scaled to [0, 1]', () => {
    const s = split([3, 1, 3, 2, 1, 3]);
    const r = splitImagesOfClasses(s, [3, 1], 2);
    expect(Array.from(r.labels)).toEqual([3, 3, 1, 1]);
    expect(Array.from(r.images.filter((_, i) => i % 4 === 1)).map((v) => Math.round(v * 255))).toEqual([0, 2, 1, 4]);
    expect(Array.from(splitImagesOfClasses(s, [1, 2]).labels)).toEqual([1, 2, 1]);
    expect(() => splitImagesOfClasses(s, [2], 2)).toThrow(/class 2 has fewer than 2 images/);
    const g: GeneratedSamples = { images: new Float32Array(4 * 784).map((_, i) => Math.floor(i / 784)), labels: Int32Array.from([0, 1, 0, 2]), count: 4 };
    const sub = samplesOfClasses(g, [0, 2]);
    expect(Array.from(sub.labels)).toEqual([0, 0, 2]);
    expect([0, 1, 2].map((i) => sub.images[i * 784])).toEqual([0, 2, 3]);
  });

  it("scores the samples of some classes against those classes' test images, as computed independently", async () => {
    const { train, test } = loadFashionMnist();
    const classes = [7, 9];
    const perClass = 20;
    // "Samples": 20 test images of classes 7, 9 and 0 each (class 0 must be ignored), labelled with their class.
    const pick = (c: number) => Array.from({ length: test.count }, (_, i) => i).filter((i) => test.labels[i] === c).slice(0, perClass);
    const rowsOf = (split: ImageSplit, idx: number[]) => Float32Array.from(idx.flatMap((i) => Array.from(split.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255)));
    const idx = [7, 0, 9].map(pick);
    const samples: GeneratedSamples = { images: rowsOf(test, idx.flat()), labels: Int32Array.from([7, 0, 9].flatMap((c) => Array<number>(perClass).fill(c))), count: 3 * perClass };
    const got = await scoreClassSubset(samples, net, classes);

    const model = await FmnistFeatureNet.load(net);
    const feats = (x: Float32Array, n: number) => {
      const t = tf.tensor4d(x, [n, 28, 28, 1]);
      const f = model.extract(t);
      const out = gaussianStats(f.dataSync(), n, f.shape[1]);
      tf.dispose([t, f]);
      return out;
    };
    const refIdx = Array.from({ length: test.count }, (_, i) => i).filter((i) => classes.includes(test.labels[i]!));
    const reference = feats(rowsOf(test, refIdx), refIdx.length);
    const sampleStats = feats(rowsOf(test, [...idx[0]!, ...idx[2]!]), 2 * perClass);
    const trainIdx = classes.flatMap((c) => Array.from({ length: train.count }, (_, i) => i).filter((i) => train.labels[i] === c).slice(0, perClass));
    const floor = feats(rowsOf(train, trainIdx), trainIdx.length);
    const sampled = tf.tensor4d(rowsOf(test, [...idx[0]!, ...idx[2]!]), [2 * perClass, 28, 28, 1]);
    const predicted = model.classify(sampled);
    sampled.dispose();
    model.dispose();

    expect(got.n).toBe(2 * perClass);
    expect(got.referenceImages).toBe(2000);
    expect(got.fid).toBeCloseTo(frechetDistance(reference, sampleStats), 3);
    expect(got.fidFloor).toBeCloseTo(frechetDistance(reference, floor), 3);
    const labelled = [...Array<number>(perClass).fill(7), ...Array<number>(perClass).fill(9)];
    expect(got.classAccuracy).toBe(labelled.filter((c, i) => predicted[i] === c).length / (2 * perClass));
  });

  it('equals scoreSamples with all ten classes', async () => {
    const { train } = loadFashionMnist();
    // Ten images per class from the training split's second thousand (not the floor's own first images).
    const per = 10;
    const taken = new Map<number, number[]>();
    for (let i = 1000; i < train.count && [...taken.values()].flat().length < 10 * per; i++) {
      const c = train.labels[i]!;
      const l = taken.get(c) ?? [];
      if (l.length < per) taken.set(c, [...l, i]);
    }
    const idx = Array.from({ length: 10 }, (_, c) => taken.get(c)!).flat();
    const samples: GeneratedSamples = {
      images: Float32Array.from(idx.flatMap((i) => Array.from(train.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255))),
      labels: Int32Array.from(idx, (i) => train.labels[i]!),
      count: idx.length,
    };
    const all = Array.from({ length: 10 }, (_, c) => c);
    const [sub, whole] = [await scoreClassSubset(samples, net, all), await scoreSamples(samples, net)];
    expect(sub.fid).toBeCloseTo(whole.fid, 2);
    expect(sub.fidFloor).toBeCloseTo(whole.fidFloor, 2);
    expect(sub.classAccuracy).toBeCloseTo(whole.classAccuracy!, 12);
    expect(sub.precision).toBeCloseTo(whole.precision, 12);
    expect(sub.recall).toBeCloseTo(whole.recall, 12);
  });
});
