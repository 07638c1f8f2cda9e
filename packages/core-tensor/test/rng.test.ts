import { describe, expect, it } from 'vitest';
import { Rng } from '../src/index.js';

describe('Rng', () => {
  it('is reproducible from a seed and differs across seeds', () => {
    const a = new Rng(7).normalArray(100);
    expect(new Rng(7).normalArray(100)).toEqual(a);
    expect(new Rng(8).normalArray(100)).not.toEqual(a);
  });

  it('resumes exactly from a saved state, including a pending Box-Muller spare', () => {
    const r = new Rng(3);
    r.normal();
    const state = JSON.parse(JSON.stringify(r.getState()));
    const expected = [r.normal(), r.uniform(), r.int(10)];
    const resumed = Rng.fromState(state);
    expect([resumed.normal(), resumed.uniform(), resumed.int(10)]).toEqual(expected);
  });

  it('normalArray draws exactly what repeated normal() calls draw (spare, odd lengths, mean and std, state after)', () => {
    for (const [seed, pre, n, mean, std] of [[1, 0, 0, 0, 1], [2, 1, 1, 0, 1], [3, 0, 7, 0.5, 2], [4, 1, 8, -1, 0.25], [5, 3, 10001, 0, 1]] as const) {
      const fast = new Rng(seed), slow = new Rng(seed);
      for (let i = 0; i < pre; i++) expect(fast.normal()).toBe(slow.normal());
      const got = fast.normalArray(n, mean, std);
      const want = new Float32Array(n);
      for (let i = 0; i < n; i++) want[i] = mean + std * slow.normal();
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect(fast.getState()).toEqual(slow.getState());
      expect([fast.normal(), fast.uniform()]).toEqual([slow.normal(), slow.uniform()]);
    }
  });

  it('draws uniforms and normals with the right moments', () => {
    const r = new Rng(11);
    const n = 200_000;
    const u = r.uniformArray(n);
    const z = r.normalArray(n);
    const mean = (x: Float32Array) => x.reduce((s, v) => s + v, 0) / x.length;
    const variance = (x: Float32Array) => {
      const m = mean(x);
      return x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length;
    };
    // Standard errors: uniform mean 0.00065, normal mean 0.0022, normal variance 0.0032.
    expect(Math.abs(mean(u) - 0.5)).toBeLessThan(0.004);
    expect(Math.abs(variance(u) - 1 / 12)).toBeLessThan(0.002);
    expect(Math.abs(mean(z))).toBeLessThan(0.012);
    expect(Math.abs(variance(z) - 1)).toBeLessThan(0.016);
    expect(u.reduce((m, v) => Math.min(m, v), 1)).toBeGreaterThanOrEqual(0);
    expect(u.reduce((m, v) => Math.max(m, v), 0)).toBeLessThan(1);
  });

  it('shuffles into a permutation', () => {
    const p = new Rng(5).permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('rejects bad seeds and bounds with a clear error', () => {
    expect(() => new Rng(-1)).toThrow(/seed must be a non-negative integer/);
    expect(() => new Rng(0).int(0)).toThrow(/positive integer bound/);
  });
});
