import { ModelConfigError } from '../errors.js';
import { type UNetConfig, cloneUNetConfig, sdStyleUNetConfig } from './config.js';

const spectrogram = (channels: number[]): UNetConfig =>
  sdStyleUNetConfig({
    sampleSize: 64,
    inChannels: 1,
    outChannels: 1,
    channels,
    layersPerLevel: 1,
    attention: [false, false, false, true],
    mid: true,
    numHeads: 4,
    groups: 8,
    conditioning: { kind: 'none' },
  });

/**
 * Unconditional U-Nets for 64 × 64 × 1 log-mel spectrograms (64 frames × 64 mel bands; the
 * spoken-digits images of @difflab/metrics' loadSpokenDigitsMel). Four levels down to 8 × 8, one
 * block per down stage, attention only at 8 × 8 and in the mid block (attention over 4096 tokens
 * at full resolution would dominate the cost on CPU). S trains at ≈ 11 examples/s on 2 CPU cores
 * (native backend), so ≈ 10 minutes is ≈ 400 steps of 16; M is 4× the MACs for longer runs and
 * pruning studies. Measured numbers: docs/audio.md.
 */
export const AUDIO_UNET_CONFIGS: Readonly<Record<string, UNetConfig>> = Object.freeze({
  'UNet-SpokenDigits-S': spectrogram([8, 16, 32, 64]),
  'UNet-SpokenDigits-M': spectrogram([16, 32, 64, 128]),
});

/** A copy of a named spectrogram U-Net config; unknown names throw with the list of valid ones. */
export function audioUNetConfig(name: string): UNetConfig {
  const c = AUDIO_UNET_CONFIGS[name];
  if (!c) throw new ModelConfigError(`unknown spectrogram U-Net config '${name}'; valid names: ${Object.keys(AUDIO_UNET_CONFIGS).join(', ')}`);
  return cloneUNetConfig(c);
}
