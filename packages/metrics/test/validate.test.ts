import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eigvalsh, Rng } from '@difflab/core-tensor';
import { describe, expect, it } from 'vitest';
import {
  cka,
  cknna,
  decodeWav,
  encodeWav,
  fitLogisticRegression,
  frechetDistance,
  gaussianStats,
  linearProbe,
  loadStats,
  MetricInputError,
  mutualKnn,
  precisionRecall,
  PSD_TOLERANCE,
  readFeatureFile,
  requireCovariance,
  requireProbeClasses,
  StreamingMoments,
  writeNpy,
  writeNpz,
  type GaussianStats,
  type ProbeSplit,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'difflab-validate-'));

function identityStats(d: number, scale = 1): GaussianStats {
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) cov[i * d + i] = scale;
  return { dim: d, mean: new Float64Array(d), cov };
}

/** Two well-separated classes in 3-d: rows alternate class 0 and 1. */
function split(rows: number, rng: Rng): ProbeSplit & { features: { data: Float32Array }; labels: number[] } {
  const data = rng.normalArray(rows * 3);
  const labels = Array.from({ length: rows }, (_, i) => i % 2);
  labels.forEach((y, i) => (data[i * 3] = data[i * 3]! + 4 * y));
  return { features: { rows, dim: 3, data }, labels };
}

describe('Fréchet distance refuses statistics that are not a Gaussian’s', () => {
  it('a NaN in the mean is an error naming the input and index, not NaN', () => {
    const b = identityStats(3);
    b.mean[1] = NaN;
    expect(() => frechetDistance(identityStats(3), b)).toThrow(/frechetDistance: b: mean: value at index 1 is NaN/);
  });

  it('Σ = −I is not a covariance (it used to give the same value as +I)', () => {
    expect(() => frechetDistance(identityStats(3), identityStats(3, -1))).toThrow(/frechetDistance: b: cov: not positive semi-definite — smallest eigenvalue -1\.000/);
    expect(() => frechetDistance(identityStats(3, -1), identityStats(3))).toThrow(/frechetDistance: a: cov: not positive semi-definite/);
  });

  it('an asymmetric or non-finite covariance names the entry', () => {
    const s = identityStats(3);
    s.cov[1] = 0.5; // (0, 1) set, (1, 0) left 0
    expect(() => frechetDistance(identityStats(3), s)).toThrow(/b: cov: not symmetric — entry \(0, 1\) is 0\.5 but \(1, 0\) is 0/);
    const inf = identityStats(3);
    inf.cov[5] = Infinity;
    expect(() => frechetDistance(identityStats(3), inf)).toThrow(/b: cov: value at row 1, column 2 is Infinity/);
    expect(() => frechetDistance(identityStats(3), identityStats(3), { eps: Infinity })).toThrow(MetricInputError);
  });

  it('accepts the round-off of real covariances: rank-deficient (N < D) in float64 and rounded to float32', () => {
    const rng = new Rng(5);
    const [n, d] = [20, 64];
    const s = gaussianStats(rng.normalArray(n * d), n, d);
    // A copy (not known to be a scatter matrix), so the eigenvalue test runs.
    const f64 = { ...s, cov: Float64Array.from(s.cov) };
    const f32 = { ...s, cov: Float64Array.from(Float32Array.from(s.cov)) };
    for (const t of [f64, f32]) {
      const values = eigvalsh(t.cov, d);
      // The case the tolerance is for: eigenvalues that should be 0 come out slightly negative.
      expect(values[0]!).toBeLessThan(0);
      expect(() => requireCovariance('cov', t.cov, d)).not.toThrow();
    }
    expect(Number.isFinite(frechetDistance(f32, f64))).toBe(true);
  });

  it('draws the PSD line at −PSD_TOLERANCE × the largest eigenvalue', () => {
    const d = 2;
    const cov = (lo: number) => Float64Array.of(1, 0, 0, lo);
    expect(() => requireCovariance('cov', cov(-0.5 * PSD_TOLERANCE), d)).not.toThrow();
    expect(() => requireCovariance('cov', cov(-2 * PSD_TOLERANCE), d)).toThrow(/cov: not positive semi-definite/);
  });

  it('loadStats names the file and the array', async () => {
    const d = 3;
    const sigma = Float64Array.from(identityStats(d, -1).cov);
    await writeNpz(join(dir, 'neg.npz'), { mu: { shape: [d], data: new Float64Array(d) }, sigma: { shape: [d, d], data: sigma } });
    expect(() => loadStats(join(dir, 'neg.npz'))).toThrow(`${join(dir, 'neg.npz')}: 'sigma': not positive semi-definite`);
    await writeNpz(join(dir, 'nan.npz'), { mu: { shape: [d], data: Float64Array.of(0, NaN, 0) }, sigma: { shape: [d, d], data: identityStats(d).cov } });
    expect(() => loadStats(join(dir, 'nan.npz'))).toThrow(`${join(dir, 'nan.npz')}: 'mu': value at index 1 is NaN`);
  });
});

describe('linear probe and logistic regression refuse what they cannot fit', () => {
  const rng = new Rng(3);
  const [train, val, test] = [split(20, rng), split(10, rng), split(10, rng)];

  it('one training row, or one class, is an error (it used to report accuracies)', () => {
    const one: ProbeSplit = { features: { rows: 1, dim: 3, data: train.features.data.slice(0, 3) }, labels: [0] };
    expect(() => linearProbe(one, val, test, { numClasses: 2 })).toThrow(/linearProbe: train\.features: has 1 row; the train split of a probe needs at least 2/);
    const oneClass: ProbeSplit = { features: train.features, labels: new Array(20).fill(1) };
    expect(() => linearProbe(oneClass, val, test, { numClasses: 2 })).toThrow(/linearProbe: train\.labels: 20 training rows, all of class 1; a classifier needs rows of at least 2 classes/);
    expect(() => fitLogisticRegression(oneClass.features, oneClass.labels, 2, { c: 1 })).toThrow(/fitLogisticRegression: labels: 20 training rows, all of class 1/);
  });

  it('a class scored on with fewer than 2 training rows is named', () => {
    const labels = [...train.labels];
    labels[0] = 2; // class 2: one training row
    expect(() => linearProbe({ features: train.features, labels }, val, test, { numClasses: 3 })).toThrow(/linearProbe: train\.labels: class 2 has 1 training row \(it occurs in training\)/);
    const testLabels = [...test.labels];
    testLabels[3] = 2; // class 2 only in test
    expect(() => linearProbe(train, val, { features: test.features, labels: testLabels }, { numClasses: 3 })).toThrow(/class 2 has 0 training rows \(it occurs in test\.labels\)/);
    // Classes that occur nowhere are allowed (a fixed K on a subset).
    expect(() => linearProbe(train, val, test, { numClasses: 5, cGrid: [1] })).not.toThrow();
  });

  it('zero iterations, a zero tolerance or a non-finite C is an error', () => {
    expect(() => linearProbe(train, val, test, { numClasses: 2, maxIter: 0 })).toThrow(/linearProbe: maxIter must be a positive integer, got 0/);
    expect(() => fitLogisticRegression(train.features, train.labels, 2, { c: 1, maxIter: 0 })).toThrow(/fitLogisticRegression: maxIter must be a positive integer, got 0/);
    expect(() => linearProbe(train, val, test, { numClasses: 2, tol: 0 })).toThrow(/linearProbe: tol must be a finite number > 0/);
    expect(() => linearProbe(train, val, test, { numClasses: 2, cGrid: [Infinity] })).toThrow(/each C of cGrid must be a finite number > 0/);
  });

  it('NaN features and out-of-range labels name the split, not L-BFGS or a typed-array length', () => {
    const data = Float64Array.from(train.features.data);
    data[7] = NaN;
    expect(() => linearProbe({ features: { rows: 20, dim: 3, data }, labels: train.labels }, val, test, { numClasses: 2 })).toThrow(/linearProbe: train\.features: value at row 2, column 1 is NaN/);
    expect(() => linearProbe(train, val, { features: test.features, labels: test.labels.map((y) => y * 1e9) }, { numClasses: 2 })).toThrow(/linearProbe: test\.labels: label 1 is 1000000000, expected an integer in \[0, 2\)/);
    expect(() => linearProbe(train, { features: val.features, labels: val.labels.map((y) => -y) }, test, { numClasses: 2 })).toThrow(/val\.labels: label 1 is -1/);
  });

  it('an inferred class count with a gap (1-based labels) is reported without allocating for a huge label', () => {
    const oneBased = { input: 'y', labels: [1, 1, 2, 2] };
    expect(() => requireProbeClasses(oneBased, [], 3, { everyClass: true })).toThrow(/y: class 0 has 0 training rows.*subtract 1 from 1-based labels/);
    const huge = { input: 'y', labels: [0, 0, 1e12, 1e12] };
    expect(() => requireProbeClasses(huge, [], 1e12 + 1, { everyClass: true })).toThrow(/y: class 1 has 0 training rows/);
  });
});

describe('alignment metrics, precision/recall and streaming moments check features by the same rules', () => {
  const rng = new Rng(4);
  const a = { rows: 6, dim: 2, data: rng.normalArray(12) };
  const nan = { rows: 6, dim: 2, data: Float64Array.from(a.data, (v, i) => (i === 9 ? NaN : v)) };

  it('NaN features, too few rows, k ≥ rows', () => {
    expect(() => cka(a, nan)).toThrow(/cka: b: value at row 4, column 1 is NaN/);
    expect(() => cknna(nan, a, { topk: 2 })).toThrow(/cknna: a: value at row 4, column 1 is NaN/);
    expect(() => mutualKnn(a, nan, { topk: 2 })).toThrow(/mutualKnn: b: value at row 4, column 1 is NaN/);
    expect(() => precisionRecall(a, nan)).toThrow(/precisionRecall \(generated\): value at row 4, column 1 is NaN/);
    const three = { rows: 3, dim: 2, data: a.data.slice(0, 6) };
    expect(() => cknna(three, three, { topk: 2 })).toThrow(/cknna: a: has 3 rows; CKNNA with unbiased HSIC needs at least 4/);
    expect(() => cknna(a, a, { topk: 6 })).toThrow(/cknna: topk must be an integer in \[2, 5\] for 6 samples, got 6 — k is at most rows − 1/);
    expect(() => mutualKnn(a, a, { topk: 6 })).toThrow(/mutualKnn: topk must be an integer in \[1, 5\]/);
    const m = new StreamingMoments(2);
    expect(() => m.update(nan.data, 6)).toThrow(/StreamingMoments\.update: features: value at row 4, column 1 is NaN/);
  });
});

describe('files: NaN features and NaN audio name the file', () => {
  it('readFeatureFile names the file, array, row and column', async () => {
    const data = new Float32Array(12);
    data[5] = NaN;
    await writeNpy(join(dir, 'f.npy'), { shape: [4, 3], data });
    expect(() => readFeatureFile(join(dir, 'f.npy'))).toThrow(`${join(dir, 'f.npy')}: value at row 1, column 2 is NaN; features must be finite`);
    await writeNpz(join(dir, 'f.npz'), { feats: { shape: [4, 3], data } });
    expect(() => readFeatureFile(join(dir, 'f.npz'))).toThrow(`${join(dir, 'f.npz')}: array 'feats': value at row 1, column 2 is NaN`);
  });

  it('a float WAV holding NaN is refused with the clip and the time', () => {
    const samples = new Float32Array(16000);
    samples[8000] = NaN;
    expect(() => decodeWav(encodeWav({ sampleRate: 16000, samples }, 'float32'), 'clip.wav')).toThrow(/clip\.wav: sample 8000 \(0\.500 s\) is NaN/);
  });
});
