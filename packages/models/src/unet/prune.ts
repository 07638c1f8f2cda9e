import { ModelConfigError } from '../errors.js';
import { type UNetConfig, cloneUNetConfig, upBlockIndex, validateUNetConfig } from './config.js';
import { unetParamSpecs } from './params.js';

export type UNetBlockPart = 'resnet' | 'attention';

/**
 * One residual block (with its transformer) of a stage, or only its transformer. `level` counts from the
 * outermost level (0) as in the config; `index` is the block's position in its stage (diffusers' resnets.j).
 * Removing the resnet removes the whole block, and so its skip: list 'attention' too when it has one.
 */
export interface UNetBlockRemoval {
  stage: 'down' | 'up';
  level: number;
  index: number;
  parts: readonly UNetBlockPart[];
}

/**
 * Block removal in the style of BK-SDM. Removing every block of the innermost level in both stages
 * removes the level (with the downsampler leading into it and its upsampler). Every other level must
 * keep at least one block per stage, and the up stages must still hold one block per skip.
 */
export interface UNetPruningSpec {
  removeMid?: boolean;
  remove: readonly UNetBlockRemoval[];
}

interface Resolved {
  config: UNetConfig;
  /** New → old module prefix (with a trailing dot) for every kept module that moves or stays. */
  prefixes: Map<string, string>;
}

function resolve(config: UNetConfig, spec: UNetPruningSpec): Resolved {
  validateUNetConfig(config);
  const levels = config.channels.length;
  if (spec.removeMid && !config.mid) throw new ModelConfigError('pruning spec removes the mid block, but the config has none');
  // Per stage and level, what stays of each block: null = the whole block goes, else whether it keeps attention.
  const kept = {
    down: config.downLayers.map((l) => l.map((a): boolean | null => a)),
    up: config.upLayers.map((l) => l.map((a): boolean | null => a)),
  };
  const seen = new Set<string>();
  for (const r of spec.remove) {
    const where = `pruning spec entry {stage: '${r.stage}', level: ${r.level}, index: ${r.index}}`;
    if (r.stage !== 'down' && r.stage !== 'up') throw new ModelConfigError(`${where}: stage must be 'down' or 'up'`);
    const stage = r.stage === 'down' ? config.downLayers : config.upLayers;
    if (!Number.isInteger(r.level) || r.level < 0 || r.level >= levels) {
      throw new ModelConfigError(`${where}: level must be in 0..${levels - 1}`);
    }
    const blocks = stage[r.level]!;
    if (!Number.isInteger(r.index) || r.index < 0 || r.index >= blocks.length) {
      throw new ModelConfigError(`${where}: index must be in 0..${blocks.length - 1} (the stage has ${blocks.length} blocks)`);
    }
    const key = `${r.stage}.${r.level}.${r.index}`;
    if (seen.has(key)) throw new ModelConfigError(`${where}: the block is listed twice`);
    seen.add(key);
    const parts = new Set(r.parts);
    if (parts.size === 0 || [...parts].some((p) => p !== 'resnet' && p !== 'attention')) {
      throw new ModelConfigError(`${where}: parts must be a non-empty subset of ['resnet', 'attention']`);
    }
    const hasAttention = blocks[r.index]!;
    if (parts.has('attention') && !hasAttention) throw new ModelConfigError(`${where}: the block has no attention to remove`);
    if (parts.has('resnet') && hasAttention && !parts.has('attention')) {
      throw new ModelConfigError(`${where}: removing the resnet removes the whole block; list parts ['resnet', 'attention']`);
    }
    kept[r.stage][r.level]![r.index] = parts.has('resnet') ? null : false;
  }

  const survivors = (l: number, stage: 'down' | 'up') => kept[stage][l]!.filter((b) => b !== null).length;
  let newLevels = levels;
  const inner = levels - 1;
  if (survivors(inner, 'down') === 0 && survivors(inner, 'up') === 0) {
    if (levels === 1) throw new ModelConfigError('pruning spec removes every block of the only level');
    newLevels = levels - 1;
  }
  for (let l = 0; l < newLevels; l++) {
    for (const stage of ['down', 'up'] as const) {
      if (survivors(l, stage) === 0) {
        throw new ModelConfigError(
          `pruning spec removes every ${stage} block of level ${l}; only the innermost level can be removed, and only from both stages`,
        );
      }
    }
  }

  const pruned = cloneUNetConfig(config);
  pruned.channels = config.channels.slice(0, newLevels);
  pruned.downLayers = kept.down.slice(0, newLevels).map((l) => l.filter((b): b is boolean => b !== null));
  pruned.upLayers = kept.up.slice(0, newLevels).map((l) => l.filter((b): b is boolean => b !== null));
  pruned.mid = config.mid && !spec.removeMid;
  try {
    validateUNetConfig(pruned);
  } catch (e) {
    throw new ModelConfigError(
      `pruning spec leaves an invalid U-Net (${(e as Error).message}); remove as many up blocks as down blocks and resamplers`,
    );
  }

  const prefixes = new Map<string, string>();
  const mapStage = (stage: 'down' | 'up', l: number, oldBlock: string, newBlock: string): void => {
    let j2 = 0;
    kept[stage][l]!.forEach((b, j) => {
      if (b === null) return;
      prefixes.set(`${newBlock}.resnets.${j2}.`, `${oldBlock}.resnets.${j}.`);
      if (b) prefixes.set(`${newBlock}.attentions.${j2}.`, `${oldBlock}.attentions.${j}.`);
      j2++;
    });
  };
  for (let l = 0; l < newLevels; l++) {
    mapStage('down', l, `down_blocks.${l}`, `down_blocks.${l}`);
    if (l < newLevels - 1) prefixes.set(`down_blocks.${l}.downsamplers.0.`, `down_blocks.${l}.downsamplers.0.`);
    const oldUp = `up_blocks.${upBlockIndex(config, l)}`;
    const newUp = `up_blocks.${upBlockIndex(pruned, l)}`;
    mapStage('up', l, oldUp, newUp);
    if (l > 0) prefixes.set(`${newUp}.upsamplers.0.`, `${oldUp}.upsamplers.0.`);
  }
  if (pruned.mid) prefixes.set('mid_block.', 'mid_block.');
  return { config: pruned, prefixes };
}

/** The config left after removing the spec's blocks. Counters and models of a pruned U-Net start here. */
export function applyPruning(config: UNetConfig, spec: UNetPruningSpec): UNetConfig {
  return resolve(config, spec).config;
}

const BLOCK_PARAM = /^(down_blocks|up_blocks|mid_block)\./;

/**
 * For every parameter of the pruned config, the name it had in the unpruned one
 * (e.g. BK-SDM-Base's up_blocks.0.resnets.1.* ← SD's up_blocks.0.resnets.2.*).
 */
export function pruneNameMap(config: UNetConfig, spec: UNetPruningSpec): Map<string, string> {
  const { config: pruned, prefixes } = resolve(config, spec);
  const map = new Map<string, string>();
  for (const { name } of unetParamSpecs(pruned)) {
    if (!BLOCK_PARAM.test(name)) {
      map.set(name, name);
      continue;
    }
    const prefix = [...prefixes.keys()].find((p) => name.startsWith(p));
    if (prefix === undefined) throw new Error(`internal: no source module for U-Net parameter '${name}'`);
    map.set(name, prefixes.get(prefix)! + name.slice(prefix.length));
  }
  return map;
}

/**
 * Carries the kept weights of a U-Net of `config` (a model's params or a loaded checkpoint) over to
 * the pruned config, renamed; removed blocks' weights are left out. Tensors are passed through,
 * not copied. Throws if a kept weight's shape changes (e.g. removing a level's first down block
 * changes the next block's input channels): such a block cannot inherit its weights.
 */
export function pruneParams<T extends { shape: number[] }>(
  params: Record<string, T>,
  config: UNetConfig,
  spec: UNetPruningSpec,
): Record<string, T> {
  const pruned = applyPruning(config, spec);
  const shapes = new Map(unetParamSpecs(pruned).map((s) => [s.name, s.shape]));
  const out: Record<string, T> = {};
  for (const [name, source] of pruneNameMap(config, spec)) {
    const t = params[source];
    if (!t) throw new ModelConfigError(`U-Net weights lack '${source}', which the pruned '${name}' inherits; pass the unpruned model's full weights`);
    const want = shapes.get(name)!;
    if (t.shape.length !== want.length || t.shape.some((v, i) => v !== want[i])) {
      throw new ModelConfigError(
        `pruned U-Net's '${name}' needs shape [${want.join(', ')}] but its source '${source}' has [${t.shape.join(', ')}]; ` +
          'this spec changes the block\'s input channels, so its weights cannot be carried over',
      );
    }
    out[name] = t;
  }
  return out;
}
