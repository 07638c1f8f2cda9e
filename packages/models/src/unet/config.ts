import { ModelConfigError } from '../errors.js';

/**
 * What the spatial transformers' cross-attention attends to:
 * - `text`: a context sequence [B, M, contextDim] given to forward (SD: CLIP text states, 77 × 768);
 * - `class`: int32 labels [B] looked up in a learned table of numClasses + 1 rows (the last is the
 *   null class for classifier-free guidance), giving a one-token context;
 * - `none`: unconditional; transformer blocks have self-attention and feed-forward only.
 */
export type UNetConditioning =
  | { kind: 'text'; contextDim: number }
  | { kind: 'class'; numClasses: number; contextDim: number; classDropoutProb: number }
  | { kind: 'none' };

/**
 * A Stable-Diffusion-v1-style U-Net. Levels are listed outermost (full resolution) first; each level
 * after the first halves the resolution. `downLayers[l]` / `upLayers[l]` hold one entry per residual
 * block of level l's down / up stage, `true` where a spatial transformer follows it.
 * Each up-stage block concatenates one skip (pushed by conv_in, every down block and every downsampler,
 * consumed last-in first-out), so the up stages hold exactly as many blocks as there are skips.
 */
export interface UNetConfig {
  /** Side of the square (latent) input. */
  sampleSize: number;
  inChannels: number;
  outChannels: number;
  /** Output channels of each level (SD v1: 320, 640, 1280, 1280). */
  channels: number[];
  downLayers: boolean[][];
  upLayers: boolean[][];
  /** Mid block at the innermost resolution: resnet → transformer → resnet. */
  mid: boolean;
  /** Attention heads in every transformer (SD v1: 8, which diffusers calls attention_head_dim). */
  numHeads: number;
  /** GroupNorm groups in resnets, transformers and the output norm (SD v1: 32). */
  groups: number;
  conditioning: UNetConditioning;
}

/** GroupNorm eps of the resnets and the output norm; transformers use 1e-6, their LayerNorms 1e-5 (SD v1). */
export const UNET_NORM_EPS = 1e-5;
export const UNET_TRANSFORMER_NORM_EPS = 1e-6;
export const UNET_LAYER_NORM_EPS = 1e-5;
/** GEGLU feed-forward width as a multiple of the channels. */
export const UNET_FF_MULT = 4;

/** One step of the U-Net's forward pass, in order; `size` is the input side of the step. */
export type UNetStep =
  | { op: 'resnet'; prefix: string; inChannels: number; skipChannels: number; outChannels: number; size: number }
  | { op: 'transformer'; prefix: string; channels: number; size: number }
  | { op: 'downsample'; prefix: string; channels: number; size: number }
  | { op: 'upsample'; prefix: string; channels: number; size: number }
  /** Push the current features as a skip for the up stages. */
  | { op: 'skip' };

/** Time-embedding width: 4 × the first level's channels (SD v1: 1280). */
export function timeEmbedDim(config: UNetConfig): number {
  return 4 * config.channels[0]!;
}

/** diffusers numbers up blocks from the innermost level: up_blocks.i is level L − 1 − i. */
export function upBlockIndex(config: UNetConfig, level: number): number {
  return config.channels.length - 1 - level;
}

/**
 * The forward pass as a flat list of steps with diffusers' module prefixes (`down_blocks.0.resnets.1`,
 * `mid_block.attentions.0`, `up_blocks.2.upsamplers.0`, ...). conv_in, the time embedding and the
 * output head are not steps. Model, initialisation, counters and pruning all walk this one list.
 */
export function unetPlan(config: UNetConfig): UNetStep[] {
  const levels = config.channels.length;
  const steps: UNetStep[] = [{ op: 'skip' }];
  const skips = [config.channels[0]!];
  let c = config.channels[0]!;
  let size = config.sampleSize;
  for (let l = 0; l < levels; l++) {
    const out = config.channels[l]!;
    config.downLayers[l]!.forEach((attention, j) => {
      steps.push({ op: 'resnet', prefix: `down_blocks.${l}.resnets.${j}`, inChannels: c, skipChannels: 0, outChannels: out, size });
      c = out;
      if (attention) steps.push({ op: 'transformer', prefix: `down_blocks.${l}.attentions.${j}`, channels: c, size });
      steps.push({ op: 'skip' });
      skips.push(c);
    });
    if (l < levels - 1) {
      steps.push({ op: 'downsample', prefix: `down_blocks.${l}.downsamplers.0`, channels: c, size });
      size /= 2;
      steps.push({ op: 'skip' });
      skips.push(c);
    }
  }
  if (config.mid) {
    steps.push({ op: 'resnet', prefix: 'mid_block.resnets.0', inChannels: c, skipChannels: 0, outChannels: c, size });
    steps.push({ op: 'transformer', prefix: 'mid_block.attentions.0', channels: c, size });
    steps.push({ op: 'resnet', prefix: 'mid_block.resnets.1', inChannels: c, skipChannels: 0, outChannels: c, size });
  }
  for (let l = levels - 1; l >= 0; l--) {
    const i = upBlockIndex(config, l);
    const out = config.channels[l]!;
    config.upLayers[l]!.forEach((attention, j) => {
      const skip = skips.pop();
      if (skip === undefined) {
        throw new ModelConfigError(
          `UNetConfig: up block up_blocks.${i}.resnets.${j} has no skip left; the up stages need exactly ` +
            `1 + Σ downLayers + (levels − 1) = ${countSkips(config)} blocks, got ${config.upLayers.flat().length}`,
        );
      }
      steps.push({ op: 'resnet', prefix: `up_blocks.${i}.resnets.${j}`, inChannels: c, skipChannels: skip, outChannels: out, size });
      c = out;
      if (attention) steps.push({ op: 'transformer', prefix: `up_blocks.${i}.attentions.${j}`, channels: c, size });
    });
    if (l > 0) {
      steps.push({ op: 'upsample', prefix: `up_blocks.${i}.upsamplers.0`, channels: c, size });
      size *= 2;
    }
  }
  if (skips.length > 0) {
    throw new ModelConfigError(
      `UNetConfig: ${skips.length} skip(s) left unused; the up stages need exactly 1 + Σ downLayers + (levels − 1) = ` +
        `${countSkips(config)} blocks, got ${config.upLayers.flat().length}`,
    );
  }
  return steps;
}

function countSkips(config: UNetConfig): number {
  return 1 + config.downLayers.flat().length + config.channels.length - 1;
}

function positiveInt(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelConfigError(`UNetConfig.${field} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

/** Throws ModelConfigError naming the first inconsistent field. */
export function validateUNetConfig(config: UNetConfig): void {
  for (const f of ['sampleSize', 'inChannels', 'outChannels', 'numHeads', 'groups'] as const) positiveInt(config[f], f);
  const levels = config.channels?.length ?? 0;
  if (levels === 0) throw new ModelConfigError('UNetConfig.channels must list at least one level');
  config.channels.forEach((c, l) => {
    positiveInt(c, `channels[${l}]`);
    if (c % config.groups !== 0) {
      throw new ModelConfigError(`UNetConfig.channels[${l}] (${c}) must be divisible by groups (${config.groups})`);
    }
  });
  for (const stage of ['downLayers', 'upLayers'] as const) {
    const layers = config[stage];
    if (!Array.isArray(layers) || layers.length !== levels) {
      throw new ModelConfigError(`UNetConfig.${stage} must have one entry per level (${levels}), got ${Array.isArray(layers) ? layers.length : String(layers)}`);
    }
    layers.forEach((level, l) => {
      if (!Array.isArray(level) || level.length === 0 || level.some((a) => typeof a !== 'boolean')) {
        throw new ModelConfigError(
          `UNetConfig.${stage}[${l}] must be a non-empty list of booleans (one per residual block, true = with attention); to drop a level, drop it from channels`,
        );
      }
    });
  }
  const scale = 2 ** (levels - 1);
  if (config.sampleSize % scale !== 0) {
    throw new ModelConfigError(`UNetConfig.sampleSize (${config.sampleSize}) must be divisible by 2^(levels − 1) = ${scale}`);
  }
  const cond = config.conditioning;
  if (!cond || !['text', 'class', 'none'].includes(cond.kind)) {
    throw new ModelConfigError(`UNetConfig.conditioning.kind must be 'text', 'class' or 'none'`);
  }
  if (cond.kind !== 'none') positiveInt(cond.contextDim, 'conditioning.contextDim');
  if (cond.kind === 'class') {
    positiveInt(cond.numClasses, 'conditioning.numClasses');
    if (!(cond.classDropoutProb >= 0 && cond.classDropoutProb < 1)) {
      throw new ModelConfigError(`UNetConfig.conditioning.classDropoutProb must be in [0, 1), got ${cond.classDropoutProb}`);
    }
  }
  for (const step of unetPlan(config)) {
    if (step.op === 'resnet' && (step.inChannels + step.skipChannels) % config.groups !== 0) {
      throw new ModelConfigError(
        `UNetConfig: ${step.prefix} normalises ${step.inChannels + step.skipChannels} channels, not divisible by groups (${config.groups})`,
      );
    }
    if (step.op === 'transformer' && step.channels % config.numHeads !== 0) {
      throw new ModelConfigError(`UNetConfig: ${step.prefix} has ${step.channels} channels, not divisible by numHeads (${config.numHeads})`);
    }
  }
}

export interface SdStyleOptions {
  sampleSize: number;
  inChannels: number;
  outChannels: number;
  channels: number[];
  /** Residual blocks per down stage; up stages get one more (the extra one consumes the resampler's skip). */
  layersPerLevel: number;
  /** Per level: whether its blocks carry spatial transformers. */
  attention: boolean[];
  mid: boolean;
  numHeads: number;
  groups: number;
  conditioning: UNetConditioning;
}

/** The regular layout of SD v1 / diffusers' UNet2DConditionModel from a few numbers. */
export function sdStyleUNetConfig(o: SdStyleOptions): UNetConfig {
  if (o.attention.length !== o.channels.length) {
    throw new ModelConfigError(`attention must have one flag per level (${o.channels.length}), got ${o.attention.length}`);
  }
  positiveInt(o.layersPerLevel, 'layersPerLevel');
  const config: UNetConfig = {
    sampleSize: o.sampleSize,
    inChannels: o.inChannels,
    outChannels: o.outChannels,
    channels: [...o.channels],
    downLayers: o.attention.map((a) => Array<boolean>(o.layersPerLevel).fill(a)),
    upLayers: o.attention.map((a) => Array<boolean>(o.layersPerLevel + 1).fill(a)),
    mid: o.mid,
    numHeads: o.numHeads,
    groups: o.groups,
    conditioning: { ...o.conditioning },
  };
  validateUNetConfig(config);
  return config;
}

/** A deep copy (configs nest arrays; named configs must not be mutated through a copy). */
export function cloneUNetConfig(config: UNetConfig): UNetConfig {
  return {
    ...config,
    channels: [...config.channels],
    downLayers: config.downLayers.map((l) => [...l]),
    upLayers: config.upLayers.map((l) => [...l]),
    conditioning: { ...config.conditioning },
  };
}
