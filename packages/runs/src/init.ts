import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { entriesToTensors, tf } from '@difflab/core-tensor';
import { createUNet, pruneParams, stagePairs, type StagePair, type UNet, type UNetConfig } from '@difflab/models';
import { ConfigError, parseTrainConfig, type TrainConfig } from './config.js';
import { CheckpointFiles, latestCheckpointDir } from './checkpoint.js';
import { resolveModelConfig } from './model.js';

/** A trained run's config and the weights of its latest checkpoint; the caller disposes `params`. */
export interface SourceRun {
  runDir: string;
  config: TrainConfig;
  step: number;
  params: Record<string, tf.Tensor>;
  /** The checkpoint file the weights came from (model.safetensors or ema.safetensors) and its SHA-256 (hex), verified. */
  weightsFile: string;
  weightsSha256: string;
}

/** Reads a run directory named by config field `field` (init.from, distill.teacher); errors name the field and the file. */
export async function loadSourceRun(runDirArg: string, weights: 'ema' | 'raw', field: string): Promise<SourceRun> {
  return readSourceRun(runDirArg, weights, field);
}

/** loadSourceRun without the promise, for callers that cannot await (the denoiser factory behind sampling). */
export function readSourceRun(runDirArg: string, weights: 'ema' | 'raw', field: string): SourceRun {
  return readSourceWeights(openSourceRun(runDirArg, field), weights);
}

/** The weights of a run openSourceRun opened (e.g. after checking its config). */
export function readSourceWeights({ runDir, config, files }: OpenedSourceRun, weights: 'ema' | 'raw'): SourceRun {
  const { step } = files.state();
  const name = weightsFileName(weights);
  // tensors() checks the bytes against the digest first, so the digest is the verified file's.
  const params = entriesToTensors(files.tensors(name).tensors);
  return { runDir, config, step, params, weightsFile: join(files.dir, name), weightsSha256: files.digest(name) };
}

export const weightsFileName = (weights: 'ema' | 'raw') => (weights === 'ema' ? 'ema.safetensors' : 'model.safetensors');

/** The run directory's config and latest checkpoint, unread beyond its digests. */
export interface OpenedSourceRun {
  runDir: string;
  config: TrainConfig;
  files: CheckpointFiles;
}

export function openSourceRun(runDirArg: string, field: string): OpenedSourceRun {
  const runDir = resolve(runDirArg);
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) {
    throw new ConfigError(`${field}: run directory ${runDir} does not exist; train that run first (difflab train <config.json> --out ${runDirArg})`);
  }
  const configPath = join(runDir, 'config.json');
  if (!existsSync(configPath)) throw new ConfigError(`${field}: ${configPath} not found; ${runDir} is not a difflab run directory`);
  const config = parseTrainConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
  const ckpt = latestCheckpointDir(runDir);
  if (ckpt === null) throw new ConfigError(`${field}: ${runDir} has no checkpoint (checkpoints/latest is missing); let that run finish`);
  // Verified like a resume: digests, parse, finite values.
  return { runDir, config, files: CheckpointFiles.open(ckpt) };
}

/** JSON with sorted keys, so configs built along different code paths compare equal. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The U-Net a source run trained must be this config's model before pruning. */
function requireSameBase(source: SourceRun, base: UNetConfig, field: string): UNetConfig {
  const trained = resolveModelConfig(source.config.model);
  if (trained.architecture !== 'unet' || canonical(trained.config) !== canonical(base)) {
    throw new ConfigError(
      `${field}: ${source.runDir} trained '${source.config.model.preset}' with a different architecture than this config's model before model.prune; ` +
        'give model the same preset and layout fields (channels, layersPerLevel, attention, mid, numHeads, groups) as that run',
    );
  }
  return trained.config;
}

/**
 * The weights a run with `init` starts from: the source run's checkpoint, model.zero set to zero, pruned by
 * model.prune (kept weights carried over exactly, renamed to the pruned model). The caller disposes the result.
 */
export async function initialWeights(cfg: TrainConfig): Promise<Record<string, tf.Tensor>> {
  if (!cfg.init) throw new ConfigError('init: not set; initialWeights needs init.from');
  const resolved = resolveModelConfig(cfg.model);
  if (resolved.architecture !== 'unet' || cfg.model.architecture !== 'unet') {
    throw new ConfigError(`init: '${cfg.model.preset}' is a DiT, which starts from a trained run as a fine-tune (finetune section; createRunDenoiser loads its base)`);
  }
  const zero = cfg.model.zero;
  const source = await loadSourceRun(cfg.init.from, cfg.init.weights, 'init.from');
  try {
    requireSameBase(source, resolved.base, 'init.from');
    for (const name of zero ?? []) {
      const w = source.params[name]!;
      source.params[name] = tf.zerosLike(w);
      w.dispose();
    }
    const pruned = pruneParams(source.params, resolved.base, resolved.spec);
    const kept = new Set(Object.values(pruned));
    tf.dispose(Object.values(source.params).filter((t) => !kept.has(t)));
    return pruned;
  } catch (e) {
    tf.dispose(Object.values(source.params));
    throw e;
  }
}

export interface Teacher {
  unet: UNet;
  pairs: StagePair[];
  runDir: string;
  step: number;
}

/** The frozen teacher of distill.teacher and BK-SDM's stage pairs between it and this config's (pruned) model. */
export async function loadTeacher(cfg: TrainConfig): Promise<Teacher> {
  if (!cfg.distill) throw new ConfigError('distill: not set; loadTeacher needs distill.teacher');
  const resolved = resolveModelConfig(cfg.model);
  if (resolved.architecture !== 'unet') throw new ConfigError(`distill: BK-SDM distillation is for U-Net presets; '${cfg.model.preset}' is a DiT`);
  const source = await loadSourceRun(cfg.distill.teacher, cfg.distill.weights, 'distill.teacher');
  try {
    const config = requireSameBase(source, resolved.base, 'distill.teacher');
    const unet = createUNet(config, source.params);
    return { unet, pairs: stagePairs(config, resolved.spec, { includeMid: cfg.distill.includeMid }), runDir: source.runDir, step: source.step };
  } finally {
    tf.dispose(Object.values(source.params));
  }
}
