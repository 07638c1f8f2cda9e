import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptCheckpointError, parseTrainConfig, RUN_LOCK_FILE, RunLockedError, type TrainConfigInput } from '@difflab/runs';
import { train } from '../src/train.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-safety-'));

/** Collects what the trainer prints (progress and notices). */
function capture() {
  const lines: string[] = [];
  const stream = { write: (s: string) => (lines.push(s), true), isTTY: false } as unknown as NodeJS.WriteStream;
  return { stream, text: () => lines.join('') };
}
const quiet = capture().stream;

function tinyConfig(train: Partial<TrainConfigInput['train']> = {}) {
  return parseTrainConfig({
    name: 'tiny',
    seed: 3,
    model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
    diffusion: { timesteps: 100 },
    train: { steps: 6, batchSize: 8, lr: 2e-3, warmupSteps: 2, emaDecay: 0.9, ...train },
    checkpoint: { every: 3 },
    eval: { heldoutExamples: 10 },
    sample: { steps: 2, perClass: 1 },
  });
}

describe('run directory safety', () => {
  it('refuses a second writer while the first runs, naming the holder; the first is unaffected', async () => {
    const runDir = tmp();
    const first = train(tinyConfig(), { runDir, progressStream: quiet });
    // The lock is taken synchronously when train() is called, before anything is written.
    expect(JSON.parse(readFileSync(join(runDir, RUN_LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    const second = await train(tinyConfig({ lr: 1e-3 }), { runDir, progressStream: quiet }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RunLockedError);
    expect((second as Error).message).toMatch(new RegExp(`is in use by pid ${process.pid} on host ${hostname()}, since `));
    const result = await first;
    expect(result.status).toBe('FINISHED');
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).train.lr).toBe(2e-3);
    expect(existsSync(join(runDir, RUN_LOCK_FILE))).toBe(false);
  });

  it('releases the lock when it fails, and leaves no directory behind when it wrote nothing', async () => {
    const missing = join(tmp(), 'never-trained');
    await expect(train(tinyConfig(), { runDir: missing, resume: true, progressStream: quiet })).rejects.toThrow(/has no checkpoint to resume from/);
    expect(existsSync(missing)).toBe(false);
  });

  it('takes over the lock of a training process that was killed, with a one-line notice', async () => {
    const runDir = tmp();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(join(runDir, RUN_LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), since: '2026-01-01T00:00:00.000Z', token: 'x' }));
    const out = capture();
    const result = await train(tinyConfig({ steps: 2 }), { runDir, progressStream: out.stream });
    expect(result.status).toBe('FINISHED');
    expect(out.text()).toContain(`difflab: replaced the stale lock of pid ${dead} (host ${hostname()}, since 2026-01-01T00:00:00.000Z)`);
  });

  it('refuses to resume from a corrupt checkpoint, naming the file and the intact one before it', async () => {
    const runDir = tmp();
    await train(tinyConfig(), { runDir, progressStream: quiet });
    const model = join(runDir, 'checkpoints', 'step-0000006', 'model.safetensors');
    const bytes = readFileSync(model);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
    writeFileSync(model, bytes);
    const err = await train(tinyConfig(), { runDir, resume: true, progressStream: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptCheckpointError);
    expect((err as Error).message).toContain(`checkpoint corrupt: ${model}`);
    expect((err as Error).message).toContain('The previous intact checkpoint is step-0000003');
  });
});
