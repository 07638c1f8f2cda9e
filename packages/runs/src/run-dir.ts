import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { entriesToTensors, type tf } from '@difflab/core-tensor';
import { CheckpointFiles, latestCheckpointDir, type LoadCheckpointOptions } from './checkpoint.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
/** A run directory that cannot be read; the message names the fix. */
export class RunDirError extends Error {
  override name = 'RunDirError';
}

export type WeightsKind = 'ema' | 'raw';

export interface LoadedRun {
  config: TrainConfig;
  checkpointDir: string;
  step: number;
  /** The checkpoint's weights by parameter name; the caller disposes them. */
  weights: Record<string, tf.Tensor>;
}

/**
 * Reads `<runDir>/config.json` and the chosen weights of the latest checkpoint (nothing else: no optimizer
 * state), verified against the checkpoint's SHA256SUMS and checked for non-finite values.
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
  const { tensors } = files.tensors(weights === 'ema' ? 'ema.safetensors' : 'model.safetensors');
  return { config, checkpointDir, step, weights: entriesToTensors(tensors) };
}
