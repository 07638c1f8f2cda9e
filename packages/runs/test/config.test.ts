import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadTrainConfig, parseTrainConfig } from '../src/config.js';

const minimal = { model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 10, batchSize: 8, lr: 1e-4 } };

describe('training config', () => {
  it('fills defaults for everything not about the experiment', () => {
    const c = parseTrainConfig(minimal);
    expect(c.seed).toBe(0);
    expect(c.diffusion).toEqual({ schedule: 'linear', timesteps: 1000 });
    expect(c.train.gradClip).toBe(1);
    expect(c.sample.sampler).toBe('ddim');
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
