import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '@difflab/core-tensor';
import { describe, expect, it } from 'vitest';
import { readNpz } from '@difflab/data';
import { frechetDistance, gaussianStats, loadStats, MetricFileError, MetricInputError, saveStats, StreamingMoments, writeNpz, type GaussianStats } from '../src/index.js';

/** Two-pass mean and unbiased covariance, written out directly. */
function twoPass(x: ArrayLike<number>, n: number, d: number) {
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j] += x[r * d + j]! / n;
  const cov = new Float64Array(d * d);
  for (let r = 0; r < n; r++)
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cov[i * d + j] += ((x[r * d + i]! - mean[i]!) * (x[r * d + j]! - mean[j]!)) / (n - 1);
  return { mean, cov };
}

function diagStats(mean: number[], variances: number[]): GaussianStats {
  const d = mean.length;
  const cov = new Float64Array(d * d);
  variances.forEach((v, i) => (cov[i * d + i] = v));
  return { dim: d, mean: Float64Array.from(mean), cov };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('StreamingMoments', () => {
  it('gives the two-pass mean and unbiased covariance whatever the batch split', () => {
    const [n, d] = [37, 5];
    const x = new Rng(1).normalArray(n * d, 2, 3);
    const ref = twoPass(x, n, d);
    for (const splits of [[37], [1, 36], [10, 10, 10, 7], [2, 0, 35]]) {
      const m = new StreamingMoments(d);
      let at = 0;
      for (const rows of splits) {
        m.update(x.subarray(at * d, (at + rows) * d), rows);
        at += rows;
      }
      const s = m.stats();
      expect(s.count).toBe(n);
      expect(maxDiff(s.mean, ref.mean)).toBeLessThan(1e-12);
      expect(maxDiff(s.cov, ref.cov)).toBeLessThan(1e-12);
    }
  });

  it('keeps full precision for features with a large common offset', () => {
    // E[xxᵀ] − μμᵀ would lose all digits here: offset² = 1e12 against variances ~1e-2.
    const [n, d] = [64, 3];
    const noise = new Rng(2).normalArray(n * d, 0, 0.1);
    const x = Float64Array.from(noise, (v) => 1e6 + v);
    const ref = twoPass(noise, n, d);
    const m = new StreamingMoments(d);
    for (let r = 0; r < n; r += 8) m.update(x.subarray(r * d, (r + 8) * d), 8);
    expect(maxDiff(m.stats().cov, ref.cov)).toBeLessThan(1e-9);
  });

  it('rejects wrong widths, non-finite features and too few samples', () => {
    const m = new StreamingMoments(3);
    expect(() => m.update(new Float32Array(5), 2)).toThrow(/expected 2×3 = 6 values, got 5/);
    expect(() => m.update([1, 2, NaN], 1)).toThrow(/value at row 0, column 2 is NaN/);
    m.update([1, 2, 3], 1);
    expect(() => m.stats()).toThrow(MetricInputError);
  });
});

describe('frechetDistance', () => {
  it('is (μ1 − μ2)² + (σ1 − σ2)² in one dimension', () => {
    expect(frechetDistance(diagStats([1], [4]), diagStats([-2], [9]))).toBeCloseTo(9 + 1, 12);
  });

  it('is ‖Δμ‖² + Σ(√a_i − √b_i)² for diagonal covariances, including zero variances', () => {
    const a = [0.5, 2, 0, 7, 1e-3];
    const b = [3, 2, 4, 0, 1e-3];
    const ma = [1, 2, 3, 4, 5];
    const mb = [1, 0, 3, 4, 6];
    const expected = 4 + 1 + a.reduce((s, ai, i) => s + (Math.sqrt(ai) - Math.sqrt(b[i]!)) ** 2, 0);
    expect(frechetDistance(diagStats(ma, a), diagStats(mb, b))).toBeCloseTo(expected, 12);
  });

  it('applies pytorch-fid\'s eps offset inside the square root only', () => {
    const eps = 1e-6;
    const a = [0, 2];
    const b = [3, 0];
    const expected = 5 - 2 * (Math.sqrt(eps * (3 + eps)) + Math.sqrt((2 + eps) * eps));
    expect(frechetDistance(diagStats([0, 0], a), diagStats([0, 0], b), { eps })).toBeCloseTo(expected, 12);
  });

  it('is symmetric, non-negative, ~0 against itself, and reuses the reference factorisation', () => {
    const d = 12;
    const rng = new Rng(3);
    const s1 = gaussianStats(rng.normalArray(40 * d), 40, d);
    const s2 = gaussianStats(rng.normalArray(8 * d, 0.5, 2), 8, d); // 8 samples: rank-7 covariance
    const f12 = frechetDistance(s1, s2);
    expect(f12).toBeGreaterThan(0);
    expect(frechetDistance(s2, s1)).toBeCloseTo(f12, 9);
    expect(frechetDistance(s1, s2)).toBe(f12);
    expect(Math.abs(frechetDistance(s1, s1))).toBeLessThan(1e-10);
    expect(Math.abs(frechetDistance(s2, s2))).toBeLessThan(1e-10);
  });

  it('rejects mismatched dimensions and negative eps', () => {
    expect(() => frechetDistance(diagStats([0], [1]), diagStats([0, 0], [1, 1]))).toThrow(/dimensions differ \(1 vs 2\)/);
    expect(() => frechetDistance(diagStats([0], [1]), diagStats([0], [1]), { eps: -1 })).toThrow(MetricInputError);
  });
});

describe('saveStats / loadStats', () => {
  const dir = mkdtempSync(join(tmpdir(), 'difflab-fid-'));

  it('round-trips mean, covariance and count bit-exactly', async () => {
    const s = gaussianStats(new Rng(4).normalArray(20 * 6), 20, 6);
    const path = join(dir, 'stats.npz');
    await saveStats(path, s);
    const back = loadStats(path);
    expect(back.dim).toBe(6);
    expect(back.count).toBe(20);
    expect([...back.mean]).toEqual([...s.mean]);
    expect([...back.cov]).toEqual([...s.cov]);
    expect([...readNpz(path).keys()].sort()).toEqual(['count', 'mu', 'sigma']);
  });

  it('names the problem for non-npz files and missing arrays', async () => {
    const bad = join(dir, 'bad.npz');
    writeFileSync(bad, 'not a zip');
    expect(() => loadStats(bad)).toThrow(/not a zip/);
    expect(() => loadStats(join(dir, 'missing.npz'))).toThrow(MetricFileError);
    const other = join(dir, 'other.npz');
    await writeNpz(other, { x: { shape: [2], data: Float32Array.of(1, 2) } });
    expect(() => loadStats(other)).toThrow(/expected arrays 'mu' and 'sigma'.*found x/);
  });
});
