import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigError } from '../errors.js';
import { type UNetConfig, unetPlan } from './config.js';
import { type UNetPruningSpec, applyPruning } from './prune.js';
import type { UNet, UNetForwardOptions } from './unet.js';

/**
 * A stage's output: diffusers' module name (`down_blocks.l`, `mid_block`, `up_blocks.i`), the plan step
 * that produces it (the stage's last resnet, transformer or resampler) and its NHWC shape without the batch.
 * As in diffusers, a down stage's output is taken after its downsampler, an up stage's after its upsampler.
 */
export interface UNetStage {
  name: string;
  /** Level counted from the outermost (0) as in the config; the mid block has the innermost level. */
  level: number;
  stage: 'down' | 'mid' | 'up';
  lastStep: string;
  shape: [number, number, number];
}

/** Every stage of the config in forward order. */
export function unetStages(config: UNetConfig): UNetStage[] {
  const levels = config.channels.length;
  const stages: UNetStage[] = [];
  for (const s of unetPlan(config)) {
    if (s.op === 'skip') continue;
    const [root, index] = s.prefix.split('.');
    const name = root === 'mid_block' ? root : `${root}.${index}`;
    const stage = root === 'mid_block' ? 'mid' : root === 'down_blocks' ? 'down' : 'up';
    const level = stage === 'down' ? Number(index) : stage === 'up' ? levels - 1 - Number(index) : levels - 1;
    const shape: [number, number, number] =
      s.op === 'resnet'
        ? [s.size, s.size, s.outChannels]
        : s.op === 'downsample'
          ? [s.size / 2, s.size / 2, s.channels]
          : s.op === 'upsample'
            ? [s.size * 2, s.size * 2, s.channels]
            : [s.size, s.size, s.channels];
    const last = stages[stages.length - 1];
    if (last?.name === name) {
      last.lastStep = s.prefix;
      last.shape = shape;
    } else stages.push({ name, level, stage, lastStep: s.prefix, shape });
  }
  return stages;
}

export interface UNetFeatures {
  out: tf.Tensor4D;
  /** Stage name → the stage's output [B, H, W, C]. */
  features: Record<string, tf.Tensor4D>;
}

/**
 * forward that also returns each stage's output (the feature maps BK-SDM distils), or only those listed
 * in `stages`. Pure and tidy like forward: every returned tensor belongs to the caller's scope, so it
 * works inside tf.variableGrads.
 */
export function forwardWithFeatures(
  unet: UNet,
  x: tf.Tensor4D,
  t: tf.Tensor1D,
  cond?: tf.Tensor,
  opts: UNetForwardOptions & { stages?: readonly string[] } = {},
): UNetFeatures {
  const all = unetStages(unet.config);
  const wanted = opts.stages ?? all.map((s) => s.name);
  const byStep = new Map<string, string>();
  for (const name of wanted) {
    const stage = all.find((s) => s.name === name);
    if (!stage) throw new ModelConfigError(`U-Net has no stage '${name}'; stages: ${all.map((s) => s.name).join(', ')}`);
    byStep.set(stage.lastStep, name);
  }
  const { stages: _, ...forwardOpts } = opts;
  return tf.tidy(() => {
    const kept: Record<string, tf.Tensor4D> = {};
    const out = unet.forward(x, t, cond, {
      ...forwardOpts,
      onStep: (prefix, h) => {
        const name = byStep.get(prefix);
        // Kept past forward's tidy, then cloned here so the results are tracked by the caller's scope like `out`.
        if (name !== undefined) kept[name] = tf.keep(h);
        forwardOpts.onStep?.(prefix, h);
      },
    });
    const features: Record<string, tf.Tensor4D> = {};
    for (const [name, h] of Object.entries(kept)) {
      features[name] = tf.clone(h);
      h.dispose();
    }
    return { out, features };
  });
}

/** A student stage distilled towards a teacher stage of the same shape. */
export interface StagePair {
  student: string;
  teacher: string;
}

/**
 * BK-SDM's feature-distillation mapping for the student `applyPruning(teacher, spec)`: stages correspond
 * by level and kind (down ↔ down, up ↔ up; diffusers' up-block index shifts when a level goes). Pairs whose
 * shapes differ are left out: the student's new innermost down stage lost its downsampler (BK-SDM-Tiny,
 * where the official code distils the transformer's proj_out instead), and a removed level has no student.
 * The mid block is not distilled by BK-SDM; `includeMid` adds it when both have one.
 */
export function stagePairs(teacher: UNetConfig, spec: UNetPruningSpec, opts: { includeMid?: boolean } = {}): StagePair[] {
  const student = unetStages(applyPruning(teacher, spec));
  const pairs: StagePair[] = [];
  for (const t of unetStages(teacher)) {
    if (t.stage === 'mid' && !opts.includeMid) continue;
    const s = student.find((c) => c.stage === t.stage && c.level === t.level);
    if (s && s.shape.every((v, i) => v === t.shape[i])) pairs.push({ student: s.name, teacher: t.name });
  }
  return pairs;
}
