import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, Rng, tf } from '@difflab/core-tensor';
import type { ImageSplit } from '@difflab/data';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractFeatures, fmnistAccuracy, FmnistFeatureNet, MetricFileError, MetricInputError, readFeatureNetConfig, trainFmnistFeatureNet } from '../src/index.js';

/** Class c lights up horizontal band c of the image, plus noise: learnable in a few steps. */
function bands(count: number, classes: number, seed: number): ImageSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  const band = Math.floor(28 / classes);
  for (let i = 0; i < count; i++) {
    const c = rng.int(classes);
    labels[i] = c;
    for (let p = 0; p < 784; p++) {
      const row = Math.floor(p / 28);
      images[i * 784 + p] = Math.min(255, Math.floor(rng.uniform() * 80) + (row >= c * band && row < (c + 1) * band ? 170 : 0));
    }
  }
  return { images, labels, count, height: 28, width: 28 };
}

describe('FmnistFeatureNet', () => {
  beforeAll(async () => {
    // Convolution gradients on the pure-JS cpu backend take seconds per step; the best available backend is used.
    await initBackend({ log: () => {} });
  });

  it('learns a separable toy task and reports its accuracy', async () => {
    const net = await trainFmnistFeatureNet(bands(192, 4, 1), { epochs: 2, batchSize: 32, lr: 3e-3, weightDecay: 1e-4, seed: 0 });
    expect(fmnistAccuracy(net, bands(200, 4, 2))).toBeGreaterThan(0.9);
    net.dispose();
  });

  it('extracts 256-d features and round-trips through safetensors', async () => {
    const net = FmnistFeatureNet.init(3);
    const images = new Rng(4).uniformTensor([3, 28, 28, 1], 0, 1) as tf.Tensor4D;
    const before = net.extract(images);
    expect(before.shape).toEqual([3, 256]);
    const path = join(mkdtempSync(join(tmpdir(), 'difflab-fnet-')), 'net.safetensors');
    await net.save(path);
    const loaded = await FmnistFeatureNet.load(path);
    const after = loaded.extract(images);
    expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
    expect(loaded.classify(images).length).toBe(3);
    const all = await extractFeatures(loaded, [images.slice(0, 2), images.slice(2, 1)]);
    expect([all.rows, all.dim]).toEqual([3, 256]);
    // Batched in two pieces; BLAS may sum in a different order per batch shape.
    const whole = after.dataSync();
    expect(Math.max(...Array.from(all.data, (v, i) => Math.abs(v - whole[i]!)))).toBeLessThan(1e-5);
    expect(() => net.extract(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D)).toThrow(MetricInputError);
    await expect(FmnistFeatureNet.load(join(tmpdir(), 'no-such-net.safetensors'))).rejects.toThrow(/cannot read/);
    tf.dispose([images, before, after]);
    net.dispose();
    loaded.dispose();
  });

  it('rejects weights of the wrong shape', async () => {
    const net = FmnistFeatureNet.init(5);
    const path = join(mkdtempSync(join(tmpdir(), 'difflab-fnet-')), 'bad.safetensors');
    const { writeSafetensors } = await import('@difflab/core-tensor');
    await writeSafetensors(path, { ...net.params, 'fc.bias': tf.zeros([3]) });
    await expect(FmnistFeatureNet.load(path)).rejects.toThrow(MetricFileError);
    net.dispose();
  });

  it('reads a training config and names a bad field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflab-fnet-'));
    const good = { epochs: 2, batchSize: 64, lr: 0.001, weightDecay: 0, seed: 3 };
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(good));
    expect(readFeatureNetConfig(join(dir, 'ok.json'))).toEqual(good);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ ...good, epochs: 1.5 }));
    expect(() => readFeatureNetConfig(join(dir, 'bad.json'))).toThrow(/'epochs' must be a positive integer, got 1\.5/);
  });
});
