import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, Rng, tf, writeSafetensors } from '@difflab/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { MetricFileError, MetricInputError, Vggish, VGGISH_CONFIG, vggishParameterShapes, VggishPostprocessor, writeNpz, type VggishConfig } from '../src/index.js';

const TINY: VggishConfig = { conv: [2, 2, 2, 2], fc: 3, embedding: 2 };

/** Weights under which embedding[0] = the max of input block (rows 32–47, cols 48–63) and embedding[1] = −1. */
function probeWeights(): Record<string, tf.Tensor> {
  const shapes = vggishParameterShapes(TINY);
  const w: Record<string, tf.Tensor> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('/weights') && shape.length === 4) data[(1 * 3 + 1) * shape[2]! * shape[3]!] = 1; // centre tap, channel 0 → 0
    if (name === 'vggish/fc1/fc1_1/weights') data[((2 * 4 + 3) * 2 + 0) * 3 + 0] = 1; // pool4 (h 2, w 3, c 0) in NHWC flatten order → unit 0
    if (name === 'vggish/fc1/fc1_2/weights') data[0] = 1;
    if (name === 'vggish/fc2/weights') data[0] = 1;
    if (name === 'vggish/fc2/biases') data[1] = -1;
    w[name] = tf.tensor(data, shape);
  }
  return w;
}

describe('VGGish', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  it('has the published layer shapes and 72,141,184 parameters', () => {
    const shapes = vggishParameterShapes();
    expect(shapes['vggish/conv1/weights']).toEqual([3, 3, 1, 64]);
    expect(shapes['vggish/conv4/conv4_2/weights']).toEqual([3, 3, 512, 512]);
    expect(shapes['vggish/fc1/fc1_1/weights']).toEqual([12288, 4096]); // 6·4·512
    expect(shapes['vggish/fc2/weights']).toEqual([4096, 128]);
    const count = Object.values(shapes).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    expect(count).toBe(72_141_184); // conv 4,499,712 + fc 50,335,744 + 16,781,312 + 524,416
    expect(VGGISH_CONFIG.embedding).toBe(128);
  });

  it('pools with SAME 2×2 windows, flattens NHWC and returns the pre-activation embedding', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflab-vggish-'));
    await writeSafetensors(join(dir, 'probe.safetensors'), probeWeights());
    const net = await Vggish.load(join(dir, 'probe.safetensors'), TINY);
    const x = new Float32Array(96 * 64).map((_, i) => ((i * 7919) % 1000) / 1000); // in [0, 1)
    x[40 * 64 + 50] = 5; // inside the probed block
    x[10 * 64 + 10] = 9; // outside it
    const out = net.embed(tf.tensor3d(x, [1, 96, 64]));
    expect(out.shape).toEqual([1, 2]);
    const [e0, e1] = out.dataSync();
    expect(e0).toBeCloseTo(5, 6);
    expect(e1).toBeCloseTo(-1, 6); // no ReLU on the embedding layer
    out.dispose();
    net.dispose();
  });

  it('embeds a batch with random weights at the tiny width and rejects other input shapes', () => {
    const net = Vggish.init(1, TINY);
    const out = net.embed(new Rng(2).uniformTensor([3, 96, 64], -4, 2) as tf.Tensor3D);
    expect(out.shape).toEqual([3, 2]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    expect(() => net.embed(tf.zeros([1, 64, 96]) as tf.Tensor3D)).toThrow(MetricInputError);
    out.dispose();
    net.dispose();
  });

  it('names a missing or mis-shaped weight in the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflab-vggish-'));
    const w = probeWeights();
    const { ['vggish/fc2/biases']: _dropped, ...missing } = w;
    await writeSafetensors(join(dir, 'missing.safetensors'), missing);
    await expect(Vggish.load(join(dir, 'missing.safetensors'), TINY)).rejects.toThrow(/'vggish\/fc2\/biases' is missing/);
    await writeSafetensors(join(dir, 'full.safetensors'), w);
    await expect(Vggish.load(join(dir, 'full.safetensors'))).rejects.toThrow(MetricFileError); // tiny weights, published config
    tf.dispose(Object.values(w));
  });
});

describe('VggishPostprocessor', () => {
  it('applies PCA, clips to [−2, 2] and quantises to uint8 like vggish_postprocess', async () => {
    const d = 3;
    // Swaps coordinates 0 and 1, negates 2; means (1, 0, 0).
    const vectors = Float64Array.from([0, 1, 0, 1, 0, 0, 0, 0, -1]);
    const path = join(mkdtempSync(join(tmpdir(), 'difflab-pca-')), 'pca.npz');
    await writeNpz(path, { pca_eigen_vectors: { shape: [d, d], data: vectors }, pca_means: { shape: [d, 1], data: Float64Array.from([1, 0, 0]) } });
    const pp = VggishPostprocessor.load(path);
    // Row 1: e − μ = (0, 1, −3) → (1, 0, 3) → clip (1, 0, 2) → (191.25, 127.5, 255) → (191, 127, 255).
    // Row 2: e − μ = (−4, −2, 0.5) → (−2, −4, −0.5) → clip (−2, −2, −0.5) → (0, 0, 95.625) → (0, 0, 95).
    expect(Array.from(pp.postprocess([1, 1, -3, -3, -2, 0.5], 2))).toEqual([191, 127, 255, 0, 0, 95]);
    expect(() => pp.postprocess([1, 2], 1)).toThrow(MetricInputError);
    const bad = join(mkdtempSync(join(tmpdir(), 'difflab-pca-')), 'bad.npz');
    await writeNpz(bad, { means: { shape: [3], data: new Float64Array(3) } });
    expect(() => VggishPostprocessor.load(bad)).toThrow(/pca_eigen_vectors/);
  });
});
