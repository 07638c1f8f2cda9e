import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, initBackend, Rng, tf, writeFileAtomic, type SafetensorsEntry } from '@difflab/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { extractorStats, INCEPTION_CONVS, inceptionParameterShapes, InceptionV3Fid, MetricFileError } from '../src/index.js';

function entry(values: Float32Array, shape: number[]): SafetensorsEntry {
  return { dtype: 'F32', shape, data: new Uint8Array(values.buffer) };
}

/** A state dict with He-initialised convolutions and random batch-norm statistics. */
function randomStateDict(rng: Rng): Record<string, SafetensorsEntry> {
  const out: Record<string, SafetensorsEntry> = {};
  for (const [name, shape] of inceptionParameterShapes()) {
    const n = shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (name.endsWith('conv.weight')) v = rng.normalArray(n, 0, Math.sqrt(2 / (shape[1]! * shape[2]! * shape[3]!)));
    else if (name.endsWith('running_var')) v = rng.uniformArray(n, 0.5, 1.5);
    else if (name.endsWith('bn.weight')) v = rng.uniformArray(n, 0.8, 1.2);
    else v = rng.normalArray(n, 0, 0.1);
    out[name] = entry(v, shape);
  }
  out['fc.weight'] = entry(new Float32Array(4), [2, 2]); // extra heads are ignored
  return out;
}

describe('InceptionV3Fid', () => {
  let weights: Record<string, SafetensorsEntry>;
  beforeAll(async () => {
    await initBackend({ log: () => {} });
    weights = randomStateDict(new Rng(1));
  });

  it('declares the torchvision/pytorch-fid parameter names and shapes', () => {
    const shapes = inceptionParameterShapes();
    expect(shapes.get('Conv2d_1a_3x3.conv.weight')).toEqual([32, 3, 3, 3]);
    expect(shapes.get('Mixed_6b.branch7x7_2.conv.weight')).toEqual([128, 128, 1, 7]);
    expect(shapes.get('Mixed_7c.branch3x3dbl_3b.conv.weight')).toEqual([384, 384, 3, 1]);
    expect(shapes.get('Mixed_7c.branch_pool.bn.running_var')).toEqual([192]);
    expect(INCEPTION_CONVS.length).toBe(94);
  });

  it('maps images to 2048-d pool3 features through the architecture\'s block shapes', () => {
    const net = new InceptionV3Fid(weights, { inputSize: 75 });
    const images = new Rng(2).uniformTensor([2, 28, 28, 3], 0, 1) as tf.Tensor4D;
    tf.tidy(() => {
      const t = net.forward(images);
      // 75 → 37 → 35 → 35 → pool 17 | 17 → 15 → pool 7 | Mixed_5*: 7, Mixed_6a: 3 | Mixed_7a: 1.
      expect(t.block0.shape).toEqual([2, 17, 17, 64]);
      expect(t.block1.shape).toEqual([2, 7, 7, 192]);
      expect(t.block2.shape).toEqual([2, 3, 3, 768]);
      expect(t.block3.shape).toEqual([2, 1, 1, 2048]);
    });
    const f = net.extract(images);
    expect(f.shape).toEqual([2, 2048]);
    const v = f.dataSync();
    expect(v.every((x) => Number.isFinite(x) && x >= 0)).toBe(true); // pool3 of ReLUs
    expect(v.some((x) => x > 0)).toBe(true);
    f.dispose();
    images.dispose();
    net.dispose();
  });

  it('treats a grayscale image like its 3-channel replica', async () => {
    const net = new InceptionV3Fid(weights, { inputSize: 75 });
    const gray = new Rng(3).uniformTensor([1, 20, 20, 1], 0, 1) as tf.Tensor4D;
    const a = net.extract(gray);
    const b = net.extract(tf.tile(gray, [1, 1, 1, 3]) as tf.Tensor4D);
    expect(Math.max(...tf.abs(tf.sub(a, b)).dataSync())).toBe(0);
    // Streaming statistics over batches (disposed by extractorStats).
    const stats = await extractorStats(net, [tf.tile(gray, [2, 1, 1, 1]) as tf.Tensor4D, tf.zeros([1, 20, 20, 1]) as tf.Tensor4D]);
    expect(stats.count).toBe(3);
    expect(stats.dim).toBe(2048);
    net.dispose();
  });

  it('folds batch norm: conv weights and running mean ×2 with γ ×½ change nothing', () => {
    const scaled = { ...weights };
    const w = (k: string) => new Float32Array(new Uint8Array(weights[k]!.data).buffer);
    scaled['Mixed_5b.branch1x1.conv.weight'] = entry(w('Mixed_5b.branch1x1.conv.weight').map((x) => 2 * x), [64, 192, 1, 1]);
    scaled['Mixed_5b.branch1x1.bn.weight'] = entry(w('Mixed_5b.branch1x1.bn.weight').map((x) => x / 2), [64]);
    // BN((2·conv − 2μ)·γ/2/√(σ²+ε)) = BN((conv − μ)·γ/√(σ²+ε)).
    scaled['Mixed_5b.branch1x1.bn.running_mean'] = entry(w('Mixed_5b.branch1x1.bn.running_mean').map((x) => 2 * x), [64]);
    const x = new Rng(4).uniformTensor([1, 16, 16, 3], 0, 1) as tf.Tensor4D;
    const [n1, n2] = [new InceptionV3Fid(weights, { inputSize: 75 }), new InceptionV3Fid(scaled, { inputSize: 75 })];
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(n1.extract(x), n2.extract(x)))).dataSync()[0]!);
    expect(diff).toBeLessThan(1e-5);
    n1.dispose();
    n2.dispose();
  });

  it('excludes padding from the 3×3 average pools (PyTorch count_include_pad=False)', () => {
    // The corner of a 'same' 3×3 average over [[1,2],[3,4]] sees 4 in-image values: mean 2.5.
    const v = tf.avgPool(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), 3, 1, 'same').dataSync();
    expect([...v]).toEqual([2.5, 2.5, 2.5, 2.5]);
  });

  it('names missing and mis-shaped parameters', () => {
    const missing = { ...weights };
    delete missing['Mixed_6a.branch3x3.conv.weight'];
    expect(() => new InceptionV3Fid(missing)).toThrow(/1 Inception parameters missing, e\.g\. Mixed_6a\.branch3x3\.conv\.weight/);
    const bad = { ...weights, 'Conv2d_1a_3x3.bn.bias': entry(new Float32Array(3), [3]) };
    expect(() => new InceptionV3Fid(bad)).toThrow(MetricFileError);
  });

  it('loads a safetensors state dict from disk', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'difflab-inception-')), 'weights.safetensors');
    await writeFileAtomic(path, encodeSafetensors(weights));
    const net = await InceptionV3Fid.load(path, { inputSize: 75 });
    expect(net.dim).toBe(2048);
    net.dispose();
    await expect(InceptionV3Fid.load(join(tmpdir(), 'missing-inception.safetensors'))).rejects.toThrow(/cannot read/);
  });
});
