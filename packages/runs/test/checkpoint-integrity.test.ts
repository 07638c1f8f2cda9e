import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, readSafetensors, Rng, tf, writeSafetensors } from '@difflab/core-tensor';
import type { BatchIteratorState } from '@difflab/data';
import { CorruptCheckpointError, latestCheckpointDir, loadCheckpoint, saveCheckpoint, type Checkpoint } from '../src/checkpoint.js';
import { loadRun } from '../src/run-dir.js';
import { parseTrainConfig } from '../src/config.js';

beforeAll(async () => {
  await initBackend({ log: () => undefined });
});

const stepName = (step: number) => `step-${String(step).padStart(7, '0')}`;

function checkpointAt(step: number): Checkpoint {
  const w = () => tf.tensor([1 + step, 2, 3, 4], [2, 2]);
  return {
    state: { step, trainRng: new Rng(step).getState(), data: { epoch: 0, position: step } as unknown as BatchIteratorState, configHash: 'abc' },
    params: { 'x_embedder.weight': w(), bias: tf.tensor([0.5]) },
    ema: { 'x_embedder.weight': w(), bias: tf.tensor([0.25]) },
    emaDecay: 0.9,
    optimizer: { step, tensors: { 'm/x_embedder.weight': w(), 'v/x_embedder.weight': w() } },
  };
}

/** A run directory with checkpoints at steps 3 and 6 (latest) and a config.json, as `difflab train` leaves it. */
async function runWithTwoCheckpoints(): Promise<string> {
  const runDir = mkdtempSync(join(tmpdir(), 'ckpt-integrity-'));
  for (const step of [3, 6]) {
    const c = checkpointAt(step);
    await saveCheckpoint(runDir, c, 2);
    tf.dispose([...Object.values(c.params), ...Object.values(c.ema), ...Object.values(c.optimizer.tensors)]);
  }
  const cfg = parseTrainConfig({ model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 6, batchSize: 8, lr: 1e-4 } });
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(cfg));
  return runDir;
}

const ckptFile = (runDir: string, step: number, file: string) => join(runDir, 'checkpoints', stepName(step), file);

function flipByte(file: string): void {
  const bytes = readFileSync(file);
  const at = bytes.length - 3; // inside the tensor data, past the header
  bytes[at] = bytes[at]! ^ 0x10;
  writeFileSync(file, bytes);
}

/** Rewrites one value of a tensor and fixes the digest, as a checkpoint written with a bad value would be. */
async function poison(file: string, tensor: string, value: number): Promise<void> {
  const { tensors, metadata } = await readSafetensors(file);
  const f32 = new Float32Array(new Uint8Array(tensors[tensor]!.data).buffer);
  f32[1] = value;
  tensors[tensor] = { ...tensors[tensor]!, data: new Uint8Array(f32.buffer) };
  await writeSafetensors(file, tensors, metadata);
  const sums = join(file, '..', 'SHA256SUMS');
  const name = file.split('/').at(-1)!;
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
  writeFileSync(sums, readFileSync(sums, 'utf8').replace(new RegExp(`^[0-9a-f]{64}  ${name}$`, 'm'), `${digest}  ${name}`));
}

async function loadError(dir: string, opts = {}): Promise<Error> {
  const err = await loadCheckpoint(dir, opts).then(
    (c) => {
      tf.dispose([...Object.values(c.params), ...Object.values(c.ema), ...Object.values(c.optimizer.tensors)]);
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CorruptCheckpointError);
  return err as Error;
}

describe('checkpoint integrity', () => {
  it('writes a SHA256SUMS that coreutils sha256sum -c accepts, and loads a good checkpoint silently', async () => {
    const runDir = await runWithTwoCheckpoints();
    const dir = latestCheckpointDir(runDir)!;
    const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout.trim().split('\n').sort()).toEqual(['ema.safetensors: OK', 'model.safetensors: OK', 'optimizer.safetensors: OK', 'state.json: OK']);
    const notices: string[] = [];
    const c = await loadCheckpoint(dir, { warn: (l) => notices.push(l) });
    expect(notices).toEqual([]);
    expect(c.state.step).toBe(6);
    expect(Array.from(await c.params['x_embedder.weight']!.data())).toEqual([7, 2, 3, 4]);
    tf.dispose([...Object.values(c.params), ...Object.values(c.ema), ...Object.values(c.optimizer.tensors)]);
  });

  it('refuses a flipped byte in model.safetensors as "checkpoint corrupt", naming the file and offering the previous checkpoint', async () => {
    const runDir = await runWithTwoCheckpoints();
    const file = ckptFile(runDir, 6, 'model.safetensors');
    flipByte(file);
    const err = await loadError(latestCheckpointDir(runDir)!);
    expect(err.message).toContain(`checkpoint corrupt: ${file}: its SHA-256 is`);
    expect(err.message).toContain('The previous intact checkpoint is step-0000003');
    const fix = `printf 'step-0000003\\n' > ${join(runDir, 'checkpoints', 'latest')} && difflab train ${join(runDir, 'config.json')} --out ${runDir} --resume`;
    expect(err.message).toContain(fix);
    // The offered fix works: pointing latest at the intact checkpoint loads it.
    writeFileSync(join(runDir, 'checkpoints', 'latest'), 'step-0000003\n');
    const c = await loadCheckpoint(latestCheckpointDir(runDir)!);
    expect(c.state.step).toBe(3);
    tf.dispose([...Object.values(c.params), ...Object.values(c.ema), ...Object.values(c.optimizer.tensors)]);
  });

  it('detects non-finite weights, EMA and optimizer state at load even when the digest matches', async () => {
    for (const [file, tensor, value] of [
      ['model.safetensors', 'x_embedder.weight', NaN],
      ['ema.safetensors', 'x_embedder.weight', Infinity],
      ['optimizer.safetensors', 'v/x_embedder.weight', -Infinity],
    ] as const) {
      const runDir = await runWithTwoCheckpoints();
      const path = ckptFile(runDir, 6, file);
      await poison(path, tensor, value);
      const err = await loadError(latestCheckpointDir(runDir)!);
      expect(err.message).toContain(`checkpoint corrupt: ${path}: tensor '${tensor}' holds ${String(value)} at index 1`);
      expect(err.message).toContain('step-0000003');
    }
  });

  it('names state.json when it is truncated, with or without digests', async () => {
    const runDir = await runWithTwoCheckpoints();
    const state = ckptFile(runDir, 6, 'state.json');
    writeFileSync(state, readFileSync(state, 'utf8').slice(0, 20));
    expect((await loadError(latestCheckpointDir(runDir)!)).message).toContain(`checkpoint corrupt: ${state}: its SHA-256`);
    rmSync(ckptFile(runDir, 6, 'SHA256SUMS'));
    const err = await loadError(latestCheckpointDir(runDir)!, { warn: () => undefined });
    expect(err.message).toContain(`checkpoint corrupt: ${state}: not valid JSON`);
  });

  it('loads a checkpoint written before digests with a one-line notice', async () => {
    const runDir = await runWithTwoCheckpoints();
    rmSync(ckptFile(runDir, 6, 'SHA256SUMS'));
    const notices: string[] = [];
    const c = await loadCheckpoint(latestCheckpointDir(runDir)!, { warn: (l) => notices.push(l) });
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/has no SHA256SUMS .*without an integrity check/);
    tf.dispose([...Object.values(c.params), ...Object.values(c.ema), ...Object.values(c.optimizer.tensors)]);
  });

  it('says when no other intact checkpoint is left', async () => {
    const runDir = await runWithTwoCheckpoints();
    flipByte(ckptFile(runDir, 6, 'ema.safetensors'));
    flipByte(ckptFile(runDir, 3, 'optimizer.safetensors'));
    const err = await loadError(latestCheckpointDir(runDir)!);
    expect(err.message).toMatch(/No other intact checkpoint is left .*step-0000003 corrupt/);
  });

  it('verifies what loadRun reads: the chosen weights and state.json', async () => {
    const runDir = await runWithTwoCheckpoints();
    const raw = await loadRun(runDir, 'raw');
    expect(raw.step).toBe(6);
    tf.dispose(Object.values(raw.weights));
    flipByte(ckptFile(runDir, 6, 'ema.safetensors'));
    await expect(loadRun(runDir, 'ema')).rejects.toThrow(new RegExp(`checkpoint corrupt: ${ckptFile(runDir, 6, 'ema.safetensors')}`));
    await poison(ckptFile(runDir, 6, 'model.safetensors'), 'x_embedder.weight', NaN);
    await expect(loadRun(runDir, 'raw')).rejects.toThrow(/tensor 'x_embedder.weight' holds NaN/);
  });

  it('names a damaged latest pointer', async () => {
    const runDir = await runWithTwoCheckpoints();
    writeFileSync(join(runDir, 'checkpoints', 'latest'), '\0\0garbage');
    expect(() => latestCheckpointDir(runDir)).toThrow(/checkpoint corrupt: .*latest should name a step directory.*step-0000006/);
    expect(existsSync(ckptFile(runDir, 6, 'state.json'))).toBe(true);
  });
});
