import { describe, expect, it } from 'vitest';
import { fitLine, fitParabola, huber, quantile } from '../src/stats.js';

describe('fitLine / fitParabola', () => {
  it('recover an exact line', () => {
    const x = [1, 2, 4, 8];
    const l = fitLine(x, x.map((v) => 3 - 0.5 * v));
    expect(l.slope).toBeCloseTo(-0.5, 12);
    expect(l.intercept).toBeCloseTo(3, 12);
  });

  it('recover an exact parabola far from the origin (x ≈ ln N ≈ 20)', () => {
    const x = [18, 19, 20, 21, 22, 23];
    const p = fitParabola(x, x.map((v) => 0.2 * v * v - 8 * v + 85));
    expect(p.a).toBeCloseTo(0.2, 9);
    expect(p.b).toBeCloseTo(-8, 7);
    expect(p.c).toBeCloseTo(85, 5);
    expect(-p.b / (2 * p.a)).toBeCloseTo(20, 8);
  });
});

describe('quantile (type 7)', () => {
  it('matches hand-computed values', () => {
    const s = [1, 2, 3, 4];
    expect(quantile(s, 0.5)).toBe(2.5);
    expect(quantile(s, 0.25)).toBe(1.75);
    expect(quantile(s, 0)).toBe(1);
    expect(quantile(s, 1)).toBe(4);
  });
});

describe('huber', () => {
  it('is quadratic inside δ and linear outside, continuous at δ', () => {
    expect(huber(0.5e-3, 1e-3)).toEqual([0.125e-6, 0.5e-3]);
    expect(huber(-3e-3, 1e-3)[0]).toBeCloseTo(1e-3 * (3e-3 - 0.5e-3), 15);
    expect(huber(-3e-3, 1e-3)[1]).toBe(-1e-3);
    expect(huber(1e-3, 1e-3)[0]).toBeCloseTo(0.5e-6, 15);
  });
});
