import { ModelConfigError } from '../errors.js';
import { type UNetConfig, cloneUNetConfig, sdStyleUNetConfig } from './config.js';
import { type UNetBlockRemoval, type UNetPruningSpec, applyPruning } from './prune.js';

/** Stable Diffusion v1.4/v1.5's U-Net (diffusers' UNet2DConditionModel config of CompVis/stable-diffusion-v1-4). */
const SD_V1: UNetConfig = sdStyleUNetConfig({
  sampleSize: 64,
  inChannels: 4,
  outChannels: 4,
  channels: [320, 640, 1280, 1280],
  layersPerLevel: 2,
  attention: [true, true, true, false],
  mid: true,
  numHeads: 8,
  groups: 32,
  conditioning: { kind: 'text', contextDim: 768 },
});

const block = (stage: 'down' | 'up', level: number, index: number, withAttention: boolean): UNetBlockRemoval => ({
  stage,
  level,
  index,
  parts: withAttention ? ['resnet', 'attention'] : ['resnet'],
});

/**
 * BK-SDM (Kim et al., arXiv 2305.15798, §3.1) on SD v1.4, as the official student configs and the
 * teacher-to-student weight copy (Nota-NetsPresso/BK-SDM, kd_train_text_to_image.py) define them:
 * - Base: one block pair fewer per stage: the second of each down stage, the middle of each up stage;
 * - Small: Base without the mid block;
 * - Tiny: Small without the innermost level (its remaining down block and the other two up blocks).
 */
const baseRemovals: UNetBlockRemoval[] = [0, 1, 2, 3].flatMap((l) => [block('down', l, 1, l < 3), block('up', l, 1, l < 3)]);

export const BK_SDM_SPECS: Readonly<Record<'BK-SDM-Base' | 'BK-SDM-Small' | 'BK-SDM-Tiny', UNetPruningSpec>> = Object.freeze({
  'BK-SDM-Base': { remove: baseRemovals },
  'BK-SDM-Small': { removeMid: true, remove: baseRemovals },
  'BK-SDM-Tiny': {
    removeMid: true,
    remove: [...baseRemovals, block('down', 3, 0, false), block('up', 3, 0, false), block('up', 3, 2, false)],
  },
});

function fmnist(conditional: boolean): UNetConfig {
  return sdStyleUNetConfig({
    sampleSize: 32,
    inChannels: 1,
    outChannels: 1,
    channels: [32, 64, 64],
    layersPerLevel: 1,
    attention: [false, false, true],
    mid: true,
    numHeads: 4,
    groups: 8,
    conditioning: conditional ? { kind: 'class', numClasses: 10, contextDim: 64, classDropoutProb: 0.1 } : { kind: 'none' },
  });
}

/**
 * Named U-Nets: SD v1.4 (64×64×4 latents, 768-d text context), the three BK-SDM students derived from it
 * by applyPruning, and small Fashion-MNIST models (32×32×1 = 28×28 padded; 32/64/64 channels, one block
 * per down stage, attention at 8×8 and in the mid block; class context of 10 classes + null, or none).
 */
export const UNET_CONFIGS: Readonly<Record<string, UNetConfig>> = Object.freeze({
  'SD-v1.4': SD_V1,
  'BK-SDM-Base': applyPruning(SD_V1, BK_SDM_SPECS['BK-SDM-Base']),
  'BK-SDM-Small': applyPruning(SD_V1, BK_SDM_SPECS['BK-SDM-Small']),
  'BK-SDM-Tiny': applyPruning(SD_V1, BK_SDM_SPECS['BK-SDM-Tiny']),
  'UNet-FMNIST': fmnist(true),
  'UNet-FMNIST-uncond': fmnist(false),
});

/** A copy of a named config; unknown names throw with the list of valid ones. */
export function unetConfig(name: string): UNetConfig {
  const c = UNET_CONFIGS[name];
  if (!c) throw new ModelConfigError(`unknown U-Net config '${name}'; valid names: ${Object.keys(UNET_CONFIGS).join(', ')}`);
  return cloneUNetConfig(c);
}
