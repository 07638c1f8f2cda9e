// Samplers are built from a config by one factory and respace the model's schedule (DiT's
// SpacedDiffusion) rather than recomputing it.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '@difflab/core-tensor';
import {
  DDIMSampler,
  DDPMSampler,
  ModelConfigError,
  cosineSchedule,
  createSampler,
  linearSchedule,
  respaceSchedule,
  sample,
  spacedTimesteps,
  type DenoiseFn,
  type SamplerConfig,
} from '../src/index.js';

await tf.setBackend('cpu');

/** Equal to a relative 1e-10 (0 = 0 included). */
const close = (a: number, b: number) => expect(Math.abs(a - b), `${a} vs ${b}`).toBeLessThanOrEqual(1e-10 * Math.max(Math.abs(a), Math.abs(b)));

describe('respaceSchedule', () => {
  for (const [name, base] of [['linear', linearSchedule()], ['cosine', cosineSchedule(200)]] as const) {
    it(`keeps ᾱ of the ${name} schedule exactly at the kept steps, and ∏(1 − β') reproduces it`, () => {
      const used = spacedTimesteps(base.numTimesteps, 10);
      const s = respaceSchedule(base, used);
      expect(s.timestepMap).toEqual(used);
      used.forEach((t, k) => expect(s.alphasCumprod[k]).toBe(base.alphasCumprod[t]));
      let prod = 1;
      for (let k = 0; k < used.length; k++) {
        prod *= 1 - s.betas[k]!;
        close(prod, base.alphasCumprod[used[k]!]!);
        // Posterior variance, closed form: β'_k (1 − ᾱ_{t_{k−1}}) / (1 − ᾱ_{t_k}).
        const prev = k === 0 ? 1 : base.alphasCumprod[used[k - 1]!]!;
        close(s.posteriorVariance[k]!, (s.betas[k]! * (1 - prev)) / (1 - base.alphasCumprod[used[k]!]!));
      }
    });
  }

  it('respacing onto every step gives back the base schedule', () => {
    const base = linearSchedule(50);
    const s = respaceSchedule(base, spacedTimesteps(50, 50));
    for (let t = 0; t < 50; t++) {
      close(s.betas[t]!, base.betas[t]!);
      close(s.posteriorMeanCoef1[t]!, base.posteriorMeanCoef1[t]!);
      close(s.posteriorMeanCoef2[t]!, base.posteriorMeanCoef2[t]!);
      close(s.posteriorLogVarianceClipped[t]!, base.posteriorLogVarianceClipped[t]!);
    }
  });

  it('rejects timesteps that are not ascending or out of range', () => {
    expect(() => respaceSchedule(linearSchedule(100), [0, 5, 5])).toThrow(ModelConfigError);
    expect(() => respaceSchedule(linearSchedule(100), [0, 100])).toThrow(/ascending integers in \[0, 100\)/);
    expect(() => respaceSchedule(linearSchedule(100), [3])).toThrow(/at least 2/);
  });
});

describe('createSampler', () => {
  const lin = linearSchedule();
  const proc = { kind: 'ddpm', schedule: lin } as const;
  const model: DenoiseFn = (x, _t, y) => tf.tidy(() => tf.add(tf.mul(x, 0.1), tf.reshape(tf.cast(y, 'float32'), [-1, 1, 1, 1])) as tf.Tensor4D);
  const run = (sampler: ReturnType<typeof createSampler>, opts: { guidanceScale?: number } = {}) =>
    sample(model, sampler, { shape: [2, 2, 2, 1], labels: [0, 1], rng: new Rng(4), nullClass: 3, ...opts }).dataSync();

  it('builds the same samplers as the constructors, and records its config', () => {
    const ddim = createSampler(proc, { kind: 'ddim', steps: 7, eta: 0.5, clipDenoised: true });
    expect(run(ddim)).toEqual(run(new DDIMSampler(lin, { steps: 7, eta: 0.5, clipDenoised: true })));
    expect(ddim.config).toEqual({ kind: 'ddim', steps: 7, eta: 0.5, clipDenoised: true, guidanceScale: 1 });
    const ddpm = createSampler(proc, { kind: 'ddpm', steps: 5 });
    expect(run(ddpm)).toEqual(run(new DDPMSampler(lin, { steps: 5 })));
    expect(ddpm.timesteps).toEqual([999, 749, 500, 250, 0]);
  });

  it("applies its guidance scale unless the call gives one", () => {
    const guided = createSampler(proc, { kind: 'ddim', steps: 4, guidanceScale: 3 });
    const plain = createSampler(proc, { kind: 'ddim', steps: 4 });
    expect(run(guided)).toEqual(run(plain, { guidanceScale: 3 }));
    expect(run(guided)).not.toEqual(run(plain));
    expect(run(guided, { guidanceScale: 1 })).toEqual(run(plain));
  });

  it('names the bad setting', () => {
    expect(() => createSampler(proc, { kind: 'ddpm', steps: 4, eta: 0 })).toThrow(/eta applies to ddim only/);
    expect(() => createSampler(proc, { kind: 'euler', steps: 4 } as unknown as SamplerConfig)).toThrow(/kind must be one of ddim, ddpm, got 'euler'/);
    expect(() => createSampler(proc, { kind: 'ddim', steps: 1 })).toThrow(/steps must be an integer in \[2, 1000\]/);
    expect(() => createSampler(proc, { kind: 'ddim', steps: 4, guidanceScale: -1 })).toThrow(/guidanceScale must be a finite number ≥ 0/);
    expect(() => createSampler(proc, { kind: 'ddim', steps: 4, eta: -1 })).toThrow(/eta must be ≥ 0/);
  });
});
