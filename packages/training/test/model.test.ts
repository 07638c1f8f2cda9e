import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countUNet, unetConfig } from '@difflab/models';
import { parseTrainConfig } from '@difflab/runs';
import { resolveModelConfig } from '@difflab/runs';
import { train } from '../src/train.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

describe('model presets', () => {
  it('applies overrides to DiT presets', () => {
    const r = resolveModelConfig({ preset: 'DiT-FMNIST-S/4', depth: 2 });
    expect(r.architecture).toBe('dit');
    expect(r.config).toMatchObject({ depth: 2, patchSize: 4, inputSize: 32 });
  });

  it('names both preset lists for an unknown preset, and refuses DiT overrides on a U-Net', () => {
    expect(() => resolveModelConfig({ preset: 'DiT-FMNIST-M/4' })).toThrow(/model\.preset: unknown preset .*DiT presets: .*U-Net presets: /);
    expect(() => resolveModelConfig({ preset: 'UNet-FMNIST', depth: 2 })).toThrow(/model: depth apply to DiT presets only/);
  });

  it('trains an unconditional U-Net preset through the same loop', async () => {
    const cfg = parseTrainConfig({
      model: { preset: 'UNet-FMNIST-uncond' },
      diffusion: { timesteps: 50 },
      train: { steps: 2, batchSize: 4, lr: 1e-3 },
      checkpoint: { every: 2 },
      eval: { heldoutExamples: 4 },
      sample: { steps: 2, perClass: 1 },
    });
    const runDir = mkdtempSync(join(tmpdir(), 'unet-'));
    const result = await train(cfg, { runDir, progressStream: quiet });
    expect(result.status).toBe('FINISHED');
    const params = JSON.parse(readFileSync(join(runDir, 'params.json'), 'utf8'));
    expect(params.architecture).toBe('unet');
    expect(params.model_params).toBe(countUNet(unetConfig('UNet-FMNIST-uncond')).params);
  });
});
