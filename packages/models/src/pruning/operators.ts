import * as tf from '@tensorflow/tfjs-core';
import { ModelConfigError } from '../errors.js';
import { type UNetConfig, unetPlan } from '../unet/config.js';
import { unetParamSpecs } from '../unet/params.js';
import { type UNetPruningSpec, applyPruning, pruneParams } from '../unet/prune.js';
import { type UNet, createUNet } from '../unet/unet.js';

export type OperatorKind = 'resnet' | 'transformer' | 'attn1' | 'attn2' | 'ff';

/**
 * A prunable operator of a U-Net: a residual block, a spatial transformer, or one residual sub-layer of a
 * transformer (self-attention, cross-attention, feed-forward). Every one closes a residual with a last
 * projection; zeroing that projection (`zero`) turns the operator into the identity, or, for a resnet whose
 * channels change (every up block: it reads features ‖ skip), into its 1×1 `conv_shortcut` — the
 * shape-compatible replacement (`exact: false`).
 */
export interface PruningOperator {
  /** The operator's module prefix, e.g. `up_blocks.0.resnets.1`, `mid_block.attentions.0.transformer_blocks.0.ff`. */
  id: string;
  kind: OperatorKind;
  stage: 'down' | 'mid' | 'up';
  /** Level from the outermost (0), as in the config; the mid block is at the innermost level. */
  level: number;
  /** Block position in its stage (diffusers' resnets.j / attentions.j). */
  index: number;
  /** Parameters set to 0 to replace the operator. */
  zero: string[];
  /** True when the replacement is the identity, false when it is the resnet's conv_shortcut. */
  exact: boolean;
}

/** Every operator of the config, in forward order (a transformer's sub-layers follow the transformer). */
export function unetOperators(config: UNetConfig): PruningOperator[] {
  const levels = config.channels.length;
  const ops: PruningOperator[] = [];
  for (const s of unetPlan(config)) {
    if (s.op !== 'resnet' && s.op !== 'transformer') continue;
    const parts = s.prefix.split('.');
    const stage = parts[0] === 'mid_block' ? 'mid' : parts[0] === 'down_blocks' ? 'down' : 'up';
    const level = stage === 'down' ? Number(parts[1]) : stage === 'up' ? levels - 1 - Number(parts[1]) : levels - 1;
    const index = Number(parts[parts.length - 1]);
    const base = { stage, level, index } as const;
    if (s.op === 'resnet') {
      const exact = s.skipChannels === 0 && s.inChannels === s.outChannels;
      ops.push({ ...base, id: s.prefix, kind: 'resnet', zero: [`${s.prefix}.conv2.weight`, `${s.prefix}.conv2.bias`], exact });
      continue;
    }
    ops.push({ ...base, id: s.prefix, kind: 'transformer', zero: [`${s.prefix}.proj_out.weight`, `${s.prefix}.proj_out.bias`], exact: true });
    const blk = `${s.prefix}.transformer_blocks.0`;
    const sub = (kind: OperatorKind, name: string, out: string) =>
      ops.push({ ...base, id: `${blk}.${name}`, kind, zero: [`${blk}.${out}.weight`, `${blk}.${out}.bias`], exact: true });
    sub('attn1', 'attn1', 'attn1.to_out.0');
    if (config.conditioning.kind !== 'none') sub('attn2', 'attn2', 'attn2.to_out.0');
    sub('ff', 'ff', 'ff.net.2');
  }
  return ops;
}

/**
 * A modification of a trained U-Net: blocks removed by a pruning spec (the architecture shrinks, kept weights
 * carry over) and/or operators replaced by zeroing their closing projections (`zero`, names of the unpruned model).
 */
export interface UNetModification {
  spec?: UNetPruningSpec;
  zero?: readonly string[];
}

/**
 * Builds the modified model as a new U-Net (the original is left untouched). The caller disposes it.
 */
export function modifiedUNet(unet: UNet, mod: UNetModification): UNet {
  const zeros: Record<string, tf.Tensor> = {};
  try {
    for (const name of mod.zero ?? []) {
      const v = unet.params[name];
      if (!v) throw new ModelConfigError(`modification zeroes '${name}', which the U-Net does not have`);
      zeros[name] ??= tf.zerosLike(v);
    }
    const record: Record<string, tf.Tensor> = { ...unet.params, ...zeros };
    const spec = mod.spec ?? { remove: [] };
    return createUNet(applyPruning(unet.config, spec), pruneParams(record, unet.config, spec));
  } finally {
    for (const z of Object.values(zeros)) z.dispose();
  }
}

/** Runs fn on the modified model and disposes it afterwards. */
export async function withModification<T>(unet: UNet, mod: UNetModification, fn: (model: UNet) => T | Promise<T>): Promise<T> {
  const model = modifiedUNet(unet, mod);
  try {
    return await fn(model);
  } finally {
    model.dispose();
  }
}

/** Whether a spec is valid and every kept weight keeps its shape, i.e. a trained model can be pruned by it. */
export function specFitsWeights(config: UNetConfig, spec: UNetPruningSpec): boolean {
  // pruneParams validates the spec and checks shapes; shape stubs stand in for the weights.
  const stubs = Object.fromEntries(unetParamSpecs(config).map((s) => [s.name, { shape: s.shape }]));
  try {
    pruneParams(stubs, config, spec);
    return true;
  } catch {
    return false;
  }
}
