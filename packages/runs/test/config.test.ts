import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadTrainConfig, parseTrainConfig } from '../src/config.js';
import { resolveModelConfig } from '../src/model.js';
import { samplerConfigFor } from '../src/diffusion-setup.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const minimal = { model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 10, batchSize: 8, lr: 1e-4 } };

describe('training config', () => {
  it('fills defaults for everything not about the experiment', () => {
    const c = parseTrainConfig(minimal);
    expect(c.seed).toBe(0);
    expect(c.diffusion).toEqual({ process: 'ddpm', schedule: 'linear', timesteps: 1000 });
    expect(c.train.gradClip).toBe(1);
    // The sampler follows the process when not given (samplerConfigFor: ddim for ddpm, euler for flow).
    expect(c.sample.sampler).toBeUndefined();
  });

  it('refuses fields of the other diffusion process, naming the field and the fix', () => {
    const flow = (extra: Record<string, unknown>) => () =>
      parseTrainConfig({ ...minimal, diffusion: { process: 'flow', ...(extra.diffusion as object) }, train: { ...minimal.train, ...(extra.train as object) }, sample: extra.sample ?? {} });
    expect(flow({ diffusion: { prediction: 'v' } })).toThrow(/diffusion\.prediction: a flow model always predicts the velocity/);
    expect(flow({ train: { vlbWeight: 1 } })).toThrow(/train\.vlbWeight: L_vlb belongs to the ddpm process/);
    expect(flow({ sample: { sampler: 'ddim' } })).toThrow(/sample\.sampler: 'ddim' samples the ddpm process; a flow model uses euler, heun, sde/);
    expect(flow({ sample: { eta: 0.5 } })).toThrow(/sample\.eta: eta is DDIM's/);
    expect(flow({ sample: { clipDenoised: true } })).toThrow(/sample\.clipDenoised/);
    expect(() => parseTrainConfig({ ...minimal, model: { preset: 'DiT-FMNIST-S/4', learnSigma: true }, diffusion: { process: 'flow' } })).toThrow(/model\.learnSigma: learned variances belong to the ddpm process/);
    const ddpm = (train: object, sample: object = {}) => () => parseTrainConfig({ ...minimal, train: { ...minimal.train, ...train }, sample });
    expect(ddpm({ timeSampling: 'logit-normal' })).toThrow(/train\.timeSampling: applies to diffusion\.process 'flow' only/);
    expect(ddpm({ velocityDirectionWeight: 1 })).toThrow(/train\.velocityDirectionWeight: applies to diffusion\.process 'flow' only/);
    expect(ddpm({}, { sampler: 'heun' })).toThrow(/sample\.sampler: 'heun' samples a flow model; the ddpm process uses ddim, ddpm/);
    expect(flow({ train: { timeMean: 0.5 } })).toThrow(/train\.timeMean: parametrises train\.timeSampling: 'logit-normal' only/);
    const ok = flow({ train: { timeSampling: 'logit-normal', timeMean: 0, timeStd: 1, velocityDirectionWeight: 1 }, sample: { sampler: 'heun' } })();
    expect([ok.diffusion.process, ok.train.timeSampling, ok.sample.sampler]).toEqual(['flow', 'logit-normal', 'heun']);
  });

  it('takes the DiT architecture switches as model overrides', () => {
    const c = parseTrainConfig({ ...minimal, model: { preset: 'DiT-FMNIST-S/4', mlp: 'swiglu', norm: 'rmsnorm', rope: true } });
    expect(c.model).toMatchObject({ mlp: 'swiglu', norm: 'rmsnorm', rope: true });
    expect(() => parseTrainConfig({ ...minimal, model: { preset: 'DiT-FMNIST-S/4', mlp: 'relu' } })).toThrow(/model\.mlp/);
  });

  it('names every bad field by its path', () => {
    const bad = { ...minimal, train: { steps: -1, batchSize: 8, lr: 'fast' }, extra: 1 };
    let err: unknown;
    try {
      parseTrainConfig(bad, 'my.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('my.json');
    expect(msg).toMatch(/train\.steps: /);
    expect(msg).toMatch(/train\.lr: /);
    expect(msg).toMatch(/extra/);
  });

  it('reports unreadable files and broken JSON with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    expect(() => loadTrainConfig(join(dir, 'missing.json'))).toThrow(/cannot read training config .*missing\.json/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"model": ');
    expect(() => loadTrainConfig(broken)).toThrow(/broken\.json is not valid JSON/);
  });
});

describe('model section: a DiT or a U-Net', () => {
  it("reads the repository's config files, inferring model.architecture from the preset", () => {
    expect(loadTrainConfig(join(root, 'experiments/dit-fmnist/config.json')).model).toMatchObject({ architecture: 'dit', preset: 'DiT-FMNIST-S/4' });
    const presets = join(root, 'experiments/unet-pruning/presets');
    const dirs = readdirSync(presets);
    expect(dirs.length).toBeGreaterThan(0);
    for (const d of dirs) expect(loadTrainConfig(join(presets, d, 'baseline.json')).model.architecture, d).toBe('unet');
    const sweep = JSON.parse(readFileSync(join(root, 'experiments/dit-scaling/sweep.json'), 'utf8')) as { base: { train: object } };
    const base = parseTrainConfig({ ...sweep.base, train: { ...sweep.base.train, steps: 1, lr: 1e-4 } });
    expect(base.model.architecture).toBe('dit');
  });

  it('names the field and the fix for fields of the other architecture, unknown fields and presets', () => {
    const model = (m: object) => () => parseTrainConfig({ ...minimal, model: m }, 'cfg.json');
    expect(model({ preset: 'DiT-FMNIST-S/4', channels: [8] })).toThrow(/cfg\.json:\n {2}model: channels apply to U-Net presets only; this is a DiT model/);
    expect(model({ preset: 'UNet-FMNIST', depth: 2, colour: 1 })).toThrow(/model: depth apply to DiT presets only; .*; unknown field\(s\) colour; remove them/);
    expect(model({ preset: 'DiT-XXL' })).toThrow(/model\.preset: unknown preset 'DiT-XXL'; DiT presets: .*U-Net presets: /);
    expect(model({ architecture: 'unet', preset: 'DiT-FMNIST-S/4' })).toThrow(/model\.preset: 'DiT-FMNIST-S\/4' is a DiT preset; set model\.architecture to 'dit'/);
    expect(model({ architecture: 'vit', preset: 'DiT-FMNIST-S/4' })).toThrow(/model\.architecture: /);
    expect(model({ preset: 'DiT-FMNIST-S/4', depth: 'deep' })).toThrow(/model\.depth: /);
    expect(() => resolveModelConfig({ preset: 'DiT-FMNIST-S/4', depth: 0 })).toThrow(/model\.depth: /);
  });

  it('the explicit and the inferred architecture parse to the same config', () => {
    const a = parseTrainConfig({ ...minimal, model: { preset: 'UNet-FMNIST', channels: [8, 16] } });
    const b = parseTrainConfig({ ...minimal, model: { architecture: 'unet', preset: 'UNet-FMNIST', channels: [8, 16] } });
    expect(a).toEqual(b);
  });
});

describe('sample section → sampler config', () => {
  it('records kind, steps, η, clipping and guidance; no guidance for an unconditional model', () => {
    const c = parseTrainConfig({ ...minimal, sample: { sampler: 'ddim', steps: 20, cfgScale: 3, eta: 0.5 } });
    expect(samplerConfigFor(c.sample, c.diffusion, 10)).toEqual({ kind: 'ddim', steps: 20, eta: 0.5, clipDenoised: true, guidanceScale: 3 });
    expect(samplerConfigFor(c.sample, c.diffusion, null).guidanceScale).toBe(1);
    const ddpm = parseTrainConfig({ ...minimal, sample: { sampler: 'ddpm', clipDenoised: false } });
    expect(samplerConfigFor(ddpm.sample, ddpm.diffusion, 10)).toEqual({ kind: 'ddpm', steps: 50, clipDenoised: false, guidanceScale: 2 });
    expect(() => parseTrainConfig({ ...minimal, sample: { eta: -1 } })).toThrow(/sample\.eta: /);
  });
});

