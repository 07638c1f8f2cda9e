// The erased class's scores from logits, against closed forms: uniform logits (p = 1/K, entropy ln K), a
// two-way tie, a confident row, and a hand-computed mixture; bad shapes and classes are refused.
import { describe, expect, it } from 'vitest';
import { erasedClassScores } from '../src/erasure-scores.js';

describe('erasedClassScores', () => {
  it('matches closed forms', () => {
    const uniform = erasedClassScores(new Array(20).fill(3.5), 10, 4);
    expect(uniform.n).toBe(2);
    expect(uniform.probability).toBeCloseTo(0.1, 15);
    expect(uniform.entropy).toBeCloseTo(Math.log(10), 14);
    // Two equal maxima among four classes: p = 1/2 each, entropy ln 2; the first maximum counts as the argmax.
    const tie = erasedClassScores([0, 50, 50, 0], 4, 1);
    expect(tie.probability).toBeCloseTo(0.5, 12);
    expect(tie.entropy).toBeCloseTo(Math.log(2), 12);
    expect(tie.accuracy).toBe(1);
    expect(erasedClassScores([0, 50, 50, 0], 4, 2).accuracy).toBe(0);
    // Softmax of (0, ln 3) = (1/4, 3/4): entropy −(¼ ln ¼ + ¾ ln ¾); averaged with a row that puts ~all mass on class 0.
    const mix = erasedClassScores([0, Math.log(3), 1000, 0], 2, 1);
    expect(mix.probability).toBeCloseTo((0.75 + 0) / 2, 12);
    expect(mix.entropy).toBeCloseTo(-(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)) / 2, 12);
    expect(mix.accuracy).toBe(0.5);
  });

  it('refuses logits that do not fill whole rows and a class outside the labels', () => {
    expect(() => erasedClassScores([1, 2, 3], 2, 0)).toThrow(/3 logits is not a positive multiple of 2 classes/);
    expect(() => erasedClassScores([], 2, 0)).toThrow(/not a positive multiple/);
    expect(() => erasedClassScores([1, 2], 2, 2)).toThrow(/erased class 2 outside 0\.\.1/);
  });
});
