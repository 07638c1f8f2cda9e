import { describe, expect, it } from 'vitest';
import { DDIMSampler, DDPMSampler, FlowSampler, ModelConfigError } from '@difflab/models';
import { parseTrainConfig } from '../src/config.js';
import { makeSampler, processFor, samplerConfigFor } from '../src/diffusion-setup.js';

const minimal = { model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 10, batchSize: 8, lr: 1e-4 } };

describe('diffusion section → process and sampler', () => {
  it('ddpm (the default): ε-prediction, DDIM with η = 0 and clipping, guidance only for a conditional model', () => {
    const c = parseTrainConfig(minimal);
    const process = processFor(c.diffusion);
    expect(process.kind).toBe('ddpm');
    if (process.kind === 'ddpm') {
      expect(process.prediction).toBe('epsilon');
      expect(process.schedule.numTimesteps).toBe(1000);
    }
    expect(samplerConfigFor(c.sample, c.diffusion, 10)).toEqual({ kind: 'ddim', steps: 50, eta: 0, clipDenoised: true, guidanceScale: 2 });
    expect(samplerConfigFor(c.sample, c.diffusion, null).guidanceScale).toBe(1);
    const sampler = makeSampler(c.sample, c.diffusion, 10);
    expect(sampler).toBeInstanceOf(DDIMSampler);
    expect(sampler.evaluations).toBe(50);
    expect(makeSampler({ ...c.sample, sampler: 'ddpm', steps: 20 }, c.diffusion)).toBeInstanceOf(DDPMSampler);
    const v = parseTrainConfig({ ...minimal, diffusion: { prediction: 'v', schedule: 'cosine', timesteps: 500 } });
    expect(processFor(v.diffusion)).toMatchObject({ kind: 'ddpm', prediction: 'v', schedule: { numTimesteps: 500 } });
  });

  it('flow: Euler by default, no η or clipping; heun and sde on request', () => {
    const c = parseTrainConfig({ ...minimal, diffusion: { process: 'flow' }, sample: { steps: 20, cfgScale: 3 } });
    expect(processFor(c.diffusion)).toEqual({ kind: 'flow' });
    expect(samplerConfigFor(c.sample, c.diffusion, 10)).toEqual({ kind: 'euler', steps: 20, guidanceScale: 3 });
    const euler = makeSampler(c.sample, c.diffusion, 10);
    expect(euler).toBeInstanceOf(FlowSampler);
    expect(euler.config).toEqual({ kind: 'euler', steps: 20, guidanceScale: 3 });
    expect(euler.timesteps[0]).toBe(1000); // the network time of t = 1
    expect(makeSampler({ ...c.sample, sampler: 'heun' }, c.diffusion, 10).evaluations).toBe(19);
    expect(makeSampler({ ...c.sample, sampler: 'sde' }, c.diffusion, 10).config).toMatchObject({ kind: 'sde', steps: 20 });
    expect(() => makeSampler({ ...c.sample, clipDenoised: true }, c.diffusion, 10)).toThrow(ModelConfigError);
  });
});
