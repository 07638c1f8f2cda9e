// The copying metric on hand-made features with a known answer, and the paired pixel change.
import { describe, expect, it } from 'vitest';
import { copyingScores } from '../src/copying.js';
import { meanRmsChange } from '../src/stages.js';

const rows = (...v: number[][]) => ({ rows: v.length, dim: v[0]!.length, data: v.flat() });

describe('copyingScores', () => {
  it('measures each sample against its nearest training and held-out image', () => {
    // Train at (0,0) and (10,0); held-out at (0,4) and (10,10).
    const train = rows([0, 0], [10, 0]);
    const held = rows([0, 4], [10, 10]);
    // s1 = (0,1): train 1, held 3 → ratio 1/3, closer to train. s2 = (10,6): train 6, held 4 → 1.5. s3 = (3,4): train 5, held 3 → 5/3.
    const s = copyingScores(rows([0, 1], [10, 6], [3, 4]), train, held);
    expect(Array.from(s.nearestTrain)).toEqual([1, 6, 5]);
    expect(Array.from(s.nearestHeldOut)).toEqual([3, 4, 3]);
    expect(s.meanRatio).toBeCloseTo((1 / 3 + 1.5 + 5 / 3) / 3, 12);
    expect(s.closerToTrain).toBeCloseTo(1 / 3, 12);
  });

  it('scores an exact copy of a training image 0 and a tie as not closer', () => {
    const s = copyingScores(rows([10, 0], [0, 2]), rows([0, 0], [10, 0]), rows([0, 4]));
    expect(s.nearestTrain[0]).toBe(0);
    expect(s.closerToTrain).toBe(0.5); // (0,2) is 2 from both: a tie is not closer.
    expect(s.meanRatio).toBeCloseTo((0 + 1) / 2, 12);
    // A sample that equals both a train and a held-out image counts ratio 1.
    expect(copyingScores(rows([1, 1]), rows([1, 1]), rows([1, 1])).meanRatio).toBe(1);
  });

  it('refuses sets of another dimension, naming the set', () => {
    expect(() => copyingScores(rows([0, 0]), rows([0, 0, 0]), rows([0, 0]))).toThrow(/train must be ≥ 1 row of dimension 2/);
  });
});

describe('meanRmsChange', () => {
  it('is the mean over images of each pair\'s RMS difference', () => {
    const a = new Float32Array([0, 0, 0, 0, 1, 1, 1, 1]);
    const b = new Float32Array([1, 1, 1, 1, 1, 1, 1, 0]);
    // Image 1 differs by 1 everywhere (RMS 1); image 2 in one of four pixels (RMS 1/2).
    expect(meanRmsChange(a, b, 4)).toBeCloseTo(0.75, 12);
    expect(() => meanRmsChange(a, b.subarray(0, 4), 4)).toThrow(/differ in size/);
  });
});
