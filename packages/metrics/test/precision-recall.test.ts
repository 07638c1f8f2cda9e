import { describe, expect, it } from 'vitest';
import { Rng } from '@difflab/core-tensor';
import { MetricInputError, type FeatureMatrix, knnRadii, precisionRecall } from '../src/index.js';

const line = (xs: number[]): FeatureMatrix => ({ rows: xs.length, dim: 1, data: xs });

describe('knnRadii', () => {
  it('is the distance to the k-th nearest other sample (hand-computed, 1-D)', () => {
    // Points 0, 1, 3, 7, 20. Distances to the others, sorted:
    //   0: 1 3 7 20 | 1: 1 2 6 19 | 3: 2 3 4 17 | 7: 4 6 7 13 | 20: 13 17 19 20
    const x = line([0, 1, 3, 7, 20]);
    expect(Array.from(knnRadii(x, 1))).toEqual([1, 1, 2, 4, 13]);
    expect(Array.from(knnRadii(x, 3))).toEqual([7, 6, 4, 7, 19]);
    expect(Array.from(knnRadii(x))).toEqual([7, 6, 4, 7, 19]); // k = 3 by default
  });

  it('counts a duplicate as a neighbour at distance 0 (as the reference code does), in any block size', () => {
    const x = line([0, 0, 0, 5]);
    for (const block of [1, 3, 256]) expect(Array.from(knnRadii(x, 2, block))).toEqual([0, 0, 0, 5]);
  });

  it('uses Euclidean distance across features', () => {
    // (0,0), (3,4), (6,8): nearest neighbours at distance 5 for all three.
    expect(Array.from(knnRadii({ rows: 3, dim: 2, data: [0, 0, 3, 4, 6, 8] }, 1))).toEqual([5, 5, 5]);
  });
});

describe('precisionRecall: hand-computed cases', () => {
  it('1-D, k = 1: precision 4/6, recall 1 (an outlying generated sample has a huge sphere)', () => {
    // Real 0, 1, 3, 7, 20 → radii 1, 1, 2, 4, 13.
    // Generated 0.5 (in 0's sphere), 2.5 (3's), 5 (3's: |5−3| = 2 ≤ 2, and 7's), 12 (20's: 8 ≤ 13),
    // −1.5 (outside: 1.5 > 1 from 0, 2.5 > 1 from 1), 40 (outside: 20 > 13) → precision 4/6.
    // Generated sorted −1.5, 0.5, 2.5, 5, 12, 40 → radii 2, 2, 2, 2.5, 7, 28. Reals 0, 1, 3 lie within
    // 0.5 of a generated sample with radius 2; 7 is 2 ≤ 2.5 from 5; 20 is 20 ≤ 28 from 40 → recall 1.
    const pr = precisionRecall(line([0, 1, 3, 7, 20]), line([0.5, 2.5, 5, 12, -1.5, 40]), { k: 1 });
    expect(pr).toEqual({ precision: 4 / 6, recall: 1, k: 1, realCount: 5, generatedCount: 6 });
  });

  it('a sample on a sphere surface is inside (≤, as the reference)', () => {
    // Real 0, 2 → radii 2, 2. Generated 4 is exactly 2 from real 2: inside; 10 is not → precision 1/2.
    // Generated radii |10 − 4| = 6: real 0 is 4 ≤ 6 from 4, real 2 is 2 → recall 1.
    expect(precisionRecall(line([0, 2]), line([4, 10]), { k: 1 })).toMatchObject({ precision: 0.5, recall: 1 });
  });
});

describe('precisionRecall: limiting cases', () => {
  const rng = new Rng(0);
  const real: FeatureMatrix = { rows: 200, dim: 8, data: rng.normalArray(200 * 8) };

  it('identical sets: precision = recall = 1', () => {
    const copy: FeatureMatrix = { ...real, data: Float32Array.from(real.data) };
    expect(precisionRecall(real, copy)).toMatchObject({ precision: 1, recall: 1 });
  });

  it('generated collapsed onto one real sample: precision 1, recall 1/N (only that sample is covered)', () => {
    const one = Array.from(real.data).slice(8 * 17, 8 * 18);
    const collapsed: FeatureMatrix = { rows: 50, dim: 8, data: Array.from({ length: 50 }, () => one).flat() };
    const pr = precisionRecall(real, collapsed);
    expect(pr.precision).toBe(1);
    expect(pr.recall).toBe(1 / 200);
  });

  it('disjoint, far-apart sets: precision = recall = 0', () => {
    const far: FeatureMatrix = { rows: 150, dim: 8, data: rng.normalArray(150 * 8).map((v) => v + 100) };
    expect(precisionRecall(real, far)).toMatchObject({ precision: 0, recall: 0 });
  });

  it('a generator covering only half of the real modes keeps precision and loses recall', () => {
    // Real: two well-separated 2-D clusters. Generators: one sampling both clusters, one only the first.
    const cluster = (n: number, both: boolean): FeatureMatrix => ({
      rows: n, dim: 2, data: Array.from({ length: n }, (_, i) => [rng.normal() + (both && i % 2 === 1 ? 50 : 0), rng.normal()]).flat(),
    });
    const two = cluster(200, true);
    const full = precisionRecall(two, cluster(200, true));
    const half = precisionRecall(two, cluster(200, false));
    expect(full.recall).toBeGreaterThan(0.8);
    expect(Math.abs(half.precision - full.precision)).toBeLessThan(0.1);
    expect(half.recall).toBeLessThanOrEqual(0.5); // the second cluster is 50 away from every generated sample
    expect(half.recall).toBeGreaterThan(0.4);
  });
});

/** Written independently of the module: all pairwise distances with Math.hypot, full sorts, no blocking. */
function bruteForce(real: number[][], gen: number[][], k: number): { precision: number; recall: number } {
  const dist = (a: number[], b: number[]) => Math.hypot(...a.map((v, i) => v - b[i]!));
  const radii = (set: number[][]) => set.map((p, i) => set.filter((_, j) => j !== i).map((q) => dist(p, q)).sort((x, y) => x - y)[k - 1]!);
  const rr = radii(real), rg = radii(gen);
  const precision = gen.filter((g) => real.some((r, i) => dist(g, r) <= rr[i]!)).length / gen.length;
  const recall = real.filter((r) => gen.some((g, j) => dist(r, g) <= rg[j]!)).length / real.length;
  return { precision, recall };
}

describe('precisionRecall against an independent brute force', () => {
  const rng = new Rng(42);
  const cases: [number, number, number, number, number][] = [
    // nReal, nGen, dim, k, blockRows (odd sizes and tiny blocks exercise the blocking remainders)
    [60, 45, 5, 3, 7],
    [33, 80, 3, 1, 256],
    [90, 90, 16, 5, 1],
  ];
  for (const [nr, ng, dim, k, blockRows] of cases) {
    it(`${nr} real × ${ng} generated, dim ${dim}, k = ${k}, blocks of ${blockRows}`, () => {
      const real = Array.from({ length: nr }, () => Array.from({ length: dim }, () => rng.normal()));
      const gen = Array.from({ length: ng }, () => Array.from({ length: dim }, () => 0.3 + 1.2 * rng.normal()));
      const want = bruteForce(real, gen, k);
      const got = precisionRecall({ rows: nr, dim, data: real.flat() }, { rows: ng, dim, data: gen.flat() }, { k, blockRows });
      expect(got.precision).toBe(want.precision);
      expect(got.recall).toBe(want.recall);
      // Non-degenerate: neither quantity is pinned at 0 or 1.
      expect(want.precision).toBeGreaterThan(0);
      expect(want.precision).toBeLessThan(1);
      expect(want.recall).toBeGreaterThan(0);
      expect(want.recall).toBeLessThan(1);
    });
  }
});

describe('precisionRecall input errors', () => {
  const a = line([0, 1, 2, 3, 4]);
  it('names what is wrong', () => {
    expect(() => precisionRecall(a, { rows: 5, dim: 2, data: new Array(10).fill(0) })).toThrow(/width 1 but generated have 2/);
    expect(() => precisionRecall(a, line([0, 1, 2]))).toThrow(/generated set has 3 samples; k = 3 needs at least 4/);
    expect(() => precisionRecall(a, a, { k: 0 })).toThrow(MetricInputError);
    expect(() => precisionRecall(a, a, { blockRows: 0 })).toThrow(/blockRows/);
    expect(() => precisionRecall(a, line([0, 1, NaN, 3]))).toThrow(/precisionRecall \(generated\): value at row 2, column 0 is NaN/);
    expect(() => knnRadii({ rows: 3, dim: 1, data: [1, 2] })).toThrow(/3×1 but hold 2/);
  });
});
