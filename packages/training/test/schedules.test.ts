import { describe, expect, it } from 'vitest';
import { parseTrainConfig } from '@difflab/runs';
import { emaDecayAt, learningRate } from '../src/train.js';

const trainCfg = (train: Record<string, unknown>) =>
  parseTrainConfig({ model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 110, batchSize: 8, lr: 2e-3, ...train } }).train;

describe('learning-rate schedule', () => {
  it('warms up linearly, then stays constant by default', () => {
    const c = trainCfg({ warmupSteps: 10 });
    expect(c.lrSchedule).toBe('constant');
    expect(learningRate(c, 1)).toBeCloseTo(2e-4, 15);
    expect(learningRate(c, 5)).toBeCloseTo(1e-3, 15);
    expect(learningRate(c, 10)).toBe(2e-3);
    expect(learningRate(c, 110)).toBe(2e-3);
  });

  it('cosine: lr at the end of warm-up, half of it half-way through the decay, 0 at the last step', () => {
    const c = trainCfg({ warmupSteps: 10, lrSchedule: 'cosine' });
    expect(learningRate(c, 5)).toBeCloseTo(1e-3, 15);
    expect(learningRate(c, 10)).toBeCloseTo(2e-3, 15);
    expect(learningRate(c, 60)).toBeCloseTo(1e-3, 15);
    // 0.5·(1 + cos(π/4)) of the peak, a quarter of the way through the decay.
    expect(learningRate(c, 35)).toBeCloseTo(1e-3 * (1 + Math.SQRT1_2), 15);
    expect(learningRate(c, 110)).toBeCloseTo(0, 15);
    for (let s = 11; s <= 110; s++) expect(learningRate(c, s)).toBeLessThan(learningRate(c, s - 1));
  });

  it('rejects an unknown schedule by its field name', () => {
    expect(() => trainCfg({ lrSchedule: 'linear' })).toThrow(/train\.lrSchedule/);
  });
});

describe('EMA decay', () => {
  it('is emaDecay from the first update unless warm-up is on', () => {
    const c = trainCfg({ emaDecay: 0.999 });
    expect(emaDecayAt(c, 1)).toBe(0.999);
  });

  it('with warm-up: (1 + n) / (10 + n), capped at emaDecay', () => {
    const c = trainCfg({ emaDecay: 0.99, emaWarmup: true });
    expect(emaDecayAt(c, 1)).toBeCloseTo(2 / 11, 15);
    expect(emaDecayAt(c, 90)).toBeCloseTo(91 / 100, 15);
    // (1 + n)/(10 + n) reaches 0.99 at n = 890.
    expect(emaDecayAt(c, 889)).toBeLessThan(0.99);
    expect(emaDecayAt(c, 891)).toBe(0.99);
  });
});
