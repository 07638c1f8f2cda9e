import { initBackend, Rng, tf } from '@difflab/core-tensor';
import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIO_UNET_CONFIGS, audioUNetConfig, countUNet, createUNet, ModelConfigError } from '../src/index.js';

describe('spectrogram U-Net presets', () => {
  beforeAll(async () => {
    await initBackend({ log: () => {} });
  });

  it('are unconditional 64 × 64 × 1 models whose counted parameters are the allocated ones', () => {
    for (const name of Object.keys(AUDIO_UNET_CONFIGS)) {
      const config = audioUNetConfig(name);
      expect([config.sampleSize, config.inChannels, config.outChannels, config.conditioning.kind]).toEqual([64, 1, 1, 'none']);
      const unet = createUNet(config, new Rng(0));
      const allocated = Object.values(unet.params).reduce((s, v) => s + v.size, 0);
      expect(countUNet(config).params).toBe(allocated);
      if (name === 'UNet-SpokenDigits-S') {
        const out = tf.tidy(() => unet.forward(tf.zeros([2, 64, 64, 1]) as tf.Tensor4D, tf.tensor1d([0, 999])));
        expect(out.shape).toEqual([2, 64, 64, 1]);
        out.dispose();
      }
      unet.dispose();
    }
    // M doubles every width of S: conv MACs grow ≈ 4×.
    const ratio = countUNet(audioUNetConfig('UNet-SpokenDigits-M')).macs / countUNet(audioUNetConfig('UNet-SpokenDigits-S')).macs;
    expect(ratio).toBeGreaterThan(3.5);
    expect(ratio).toBeLessThan(4.1);
  });

  it('returns copies and names the valid presets for an unknown one', () => {
    const a = audioUNetConfig('UNet-SpokenDigits-S');
    a.channels[0] = 999;
    expect(audioUNetConfig('UNet-SpokenDigits-S').channels[0]).toBe(8);
    expect(() => audioUNetConfig('UNet-Audio')).toThrow(ModelConfigError);
    expect(() => audioUNetConfig('UNet-Audio')).toThrow(/UNet-SpokenDigits-S, UNet-SpokenDigits-M/);
  });
});
