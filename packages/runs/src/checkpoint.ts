import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type OptimizerState,
  type RngState,
  readSafetensors,
  entriesToTensors,
  writeFileAtomic,
  writeSafetensors,
  tf,
} from '@difflab/core-tensor';
import type { BatchIteratorState } from '@difflab/data';

/** Everything besides tensors that a bit-exact resume needs. */
export interface TrainerState {
  step: number;
  trainRng: RngState;
  data: BatchIteratorState;
  /** Hash of the resolved config: resuming with a different config is refused. */
  configHash: string;
}

export interface Checkpoint {
  state: TrainerState;
  params: Record<string, tf.Tensor>;
  ema: Record<string, tf.Tensor>;
  emaDecay: number;
  optimizer: OptimizerState;
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const stepDir = (step: number) => `step-${String(step).padStart(7, '0')}`;

/**
 * Writes checkpoints/<step>/ through a temporary directory renamed into place, then the
 * `latest` pointer, so an interrupted save never replaces a good checkpoint with a partial one.
 */
export async function saveCheckpoint(runDir: string, ckpt: Checkpoint, keep: number): Promise<string> {
  const root = join(runDir, 'checkpoints');
  const final = join(root, stepDir(ckpt.state.step));
  const tmp = join(root, `.tmp-${stepDir(ckpt.state.step)}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const meta = { format: 'difflab-checkpoint', step: String(ckpt.state.step) };
  await writeSafetensors(join(tmp, 'model.safetensors'), ckpt.params, meta);
  await writeSafetensors(join(tmp, 'ema.safetensors'), ckpt.ema, {
    ...meta,
    decay: String(ckpt.emaDecay),
  });
  await writeSafetensors(join(tmp, 'optimizer.safetensors'), ckpt.optimizer.tensors, {
    ...meta,
    optimizerStep: String(ckpt.optimizer.step),
  });
  await writeFileAtomic(join(tmp, 'state.json'), JSON.stringify(ckpt.state, null, 2));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  await writeFileAtomic(join(root, 'latest'), `${stepDir(ckpt.state.step)}\n`);
  pruneCheckpoints(root, keep);
  return final;
}

function pruneCheckpoints(root: string, keep: number): void {
  const dirs = readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort();
  for (const d of dirs.slice(0, Math.max(0, dirs.length - keep))) rmSync(join(root, d), { recursive: true, force: true });
}

/** The directory `latest` points to, or null when the run has no checkpoint yet. */
export function latestCheckpointDir(runDir: string): string | null {
  const pointer = join(runDir, 'checkpoints', 'latest');
  if (!existsSync(pointer)) return null;
  const dir = join(runDir, 'checkpoints', readFileSync(pointer, 'utf8').trim());
  if (!existsSync(join(dir, 'state.json'))) {
    throw new CheckpointError(`${pointer} points to ${dir}, which has no state.json; the run directory is damaged`);
  }
  return dir;
}

/** Loads a checkpoint; the caller owns (and disposes) the returned tensors. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint> {
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as TrainerState;
  const model = await readSafetensors(join(dir, 'model.safetensors'));
  const ema = await readSafetensors(join(dir, 'ema.safetensors'));
  const opt = await readSafetensors(join(dir, 'optimizer.safetensors'));
  return {
    state,
    params: entriesToTensors(model.tensors),
    ema: entriesToTensors(ema.tensors),
    emaDecay: Number(ema.metadata.decay),
    optimizer: { step: Number(opt.metadata.optimizerStep), tensors: entriesToTensors(opt.tensors) },
  };
}
