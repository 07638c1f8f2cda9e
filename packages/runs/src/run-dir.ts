import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { entriesToTensors, type tf } from '@difflab/core-tensor';
import { CheckpointFiles, latestCheckpointDir, type LoadCheckpointOptions } from './checkpoint.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { fineTuneBaseNow, verifyFineTuneBase } from './finetune.js';
import { weightsFileName } from './init.js';
/** A run directory that cannot be read; the message names the fix. */
export class RunDirError extends Error {
  override name = 'RunDirError';
}

export type WeightsKind = 'ema' | 'raw';

export interface LoadedRun {
  config: TrainConfig;
  checkpointDir: string;
  step: number;
  /** The checkpoint's weights by parameter name (a fine-tune's: its trained tensors only); the caller disposes them. */
  weights: Record<string, tf.Tensor>;
  /** The weights file's safetensors metadata (a fine-tune's records its method and base). */
  metadata: Record<string, string>;
}

/**
 * Reads `<runDir>/config.json` and the chosen weights of the latest checkpoint (nothing else: no optimizer
 * state), verified against the checkpoint's SHA256SUMS and checked for non-finite values. For a fine-tune
 * run, the base init.from holds now must be the one the weights were trained on (createRunDenoiser(config)
 * then rebuilds base + adapter, and the weights go into its params by name).
 */
export async function loadRun(runDir: string, weights: WeightsKind, opts: LoadCheckpointOptions = {}): Promise<LoadedRun> {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) {
    throw new RunDirError(`run directory ${runDir} does not exist; train one first (difflab train <config.json> --out ${runDir})`);
  }
  const configPath = join(runDir, 'config.json');
  if (!existsSync(configPath)) throw new RunDirError(`${configPath} not found; ${runDir} is not a difflab run directory (difflab train writes config.json)`);
  const config = parseTrainConfig(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
  const checkpointDir = latestCheckpointDir(runDir);
  if (checkpointDir === null) {
    throw new RunDirError(`${runDir} has no checkpoint (checkpoints/latest is missing); let the training run reach a checkpoint or finish`);
  }
  const files = CheckpointFiles.open(checkpointDir, opts);
  const step = files.step();
  const file = weightsFileName(weights);
  const { tensors, metadata } = files.tensors(file);
  if (config.finetune) verifyFineTuneBase(metadata, fineTuneBaseNow(config), join(checkpointDir, file));
  return { config, checkpointDir, step, weights: entriesToTensors(tensors), metadata };
}
