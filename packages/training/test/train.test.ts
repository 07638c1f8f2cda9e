import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors, tf } from '@difflab/core-tensor';
import { readParquet, tableToRows } from '@difflab/data';
import { PNG } from 'pngjs';
import { parseTrainConfig, type TrainConfigInput } from '@difflab/runs';
import { NonFiniteLossError, train } from '../src/train.js';
import { CheckpointError } from '@difflab/runs';
import { TrackerSink } from '@difflab/runs';
import { openTracker } from '@difflab/tracking';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

function tinyConfig(train: Partial<TrainConfigInput['train']> = {}, extra: Partial<TrainConfigInput> = {}) {
  return parseTrainConfig({
    name: 'tiny',
    seed: 3,
    model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
    diffusion: { timesteps: 100 },
    train: { steps: 6, batchSize: 8, lr: 2e-3, warmupSteps: 2, emaDecay: 0.9, ...train },
    checkpoint: { every: 3 },
    eval: { heldoutExamples: 20 },
    sample: { steps: 4, perClass: 1 },
    ...extra,
  });
}

const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-train-'));
const losses = (runDir: string) => tableToRows(readParquet(join(runDir, 'metrics.parquet'))).map((r) => Number(r.loss));

describe('trainer', () => {
  it('resumes bit-exactly: N steps straight equal N/2, resume, N/2', async () => {
    const cfg = tinyConfig();
    const straight = tmp();
    await train(cfg, { runDir: straight, progressStream: quiet });
    const split = tmp();
    const first = await train(cfg, { runDir: split, progressStream: quiet, stopAtStep: 3 });
    expect(first.step).toBe(3);
    await train(cfg, { runDir: split, resume: true, progressStream: quiet });

    expect(losses(split)).toEqual(losses(straight));
    expect(losses(straight)).toHaveLength(6);
    const a = await readSafetensors(join(straight, 'checkpoints', 'step-0000006', 'model.safetensors'));
    const b = await readSafetensors(join(split, 'checkpoints', 'step-0000006', 'model.safetensors'));
    for (const [name, entry] of Object.entries(a.tensors)) {
      expect(Buffer.from(b.tensors[name]!.data).equals(Buffer.from(entry.data)), name).toBe(true);
    }
  });

  it('learns: the loss falls, and the run directory has samples, metrics and an evaluation', async () => {
    const cfg = tinyConfig({ steps: 40, lr: 3e-3, batchSize: 16 }, { checkpoint: { every: 40 } });
    const runDir = tmp();
    const result = await train(cfg, { runDir, progressStream: quiet });
    const l = losses(runDir);
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    // adaLN-Zero starts by predicting ε̂ = 0, i.e. loss ≈ E[ε²] = 1.
    expect(mean(l.slice(0, 3))).toBeGreaterThan(0.8);
    expect(mean(l.slice(-5))).toBeLessThan(0.75 * mean(l.slice(0, 3)));
    expect(result.status).toBe('FINISHED');
    const png = PNG.sync.read(readFileSync(result.samplePath!));
    expect(png.height).toBeGreaterThan(10 * 32);
    const evalJson = JSON.parse(readFileSync(join(runDir, 'eval.json'), 'utf8'));
    expect(evalJson.heldout_loss).toBeGreaterThan(0);
    expect(evalJson.heldout_loss).toBeLessThan(1);
    const params = JSON.parse(readFileSync(join(runDir, 'params.json'), 'utf8'));
    expect(params['model.hiddenSize']).toBe(32);
    expect(params.seed).toBe(3);
    expect(typeof params.backend).toBe('string');
  });

  it('logs params, per-step metrics, artifacts and the final status to the tracker', async () => {
    const tracker = openTracker({ uri: tmp() });
    const runDir = tmp();
    await train(tinyConfig({ steps: 4 }), { runDir, progressStream: quiet, sinks: [new TrackerSink(tracker, 'tiny', 'run-a', runDir)] });
    const [run] = (await tracker.searchRuns({ experimentIds: [(await tracker.getExperimentByName('tiny'))!.experimentId] })).items;
    expect(run!.info.status).toBe('FINISHED');
    expect(run!.data.params.seed).toBe('3');
    expect(run!.data.params['train.lr']).toBe('0.002');
    expect(run!.data.params.backend).toBeTruthy();
    expect(run!.data.params.git_commit).toBeTruthy();
    const history = await tracker.getMetricHistory(run!.info.runId, 'loss');
    expect(history.map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(history.map((m) => m.value)).toEqual(losses(runDir));
    expect(run!.data.metrics.find((m) => m.key === 'heldout_loss')).toBeTruthy();
    expect(run!.data.tags['difflab.checkpoint']).toMatch(/step-0000004$/);
    const files = (await tracker.listArtifacts(run!.info.runId)).map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['metrics.parquet', 'config.json', 'eval.json', 'samples']));
    expect((await tracker.listArtifacts(run!.info.runId, 'samples')).map((f) => f.path)).toEqual(['samples/step-0000004.png']);
    await tracker.close();
  });

  it('records a failed run as FAILED in the tracker', async () => {
    const tracker = openTracker({ uri: tmp() });
    const cfg = tinyConfig({ steps: 50, lr: 1e25, gradClip: 0, warmupSteps: 0 });
    const runDir = tmp();
    await expect(train(cfg, { runDir, progressStream: quiet, sinks: [new TrackerSink(tracker, 'tiny', 'bad', runDir)] })).rejects.toThrow(
      NonFiniteLossError,
    );
    const exp = await tracker.getExperimentByName('tiny');
    const { items } = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
    expect(items.map((r) => r.info.status)).toEqual(['FAILED']);
    await tracker.close();
  });

  it('stops on a non-finite loss, keeping the last good checkpoint', async () => {
    const cfg = tinyConfig({ steps: 50, lr: 1e25, gradClip: 0, warmupSteps: 0 }, { checkpoint: { every: 1 } });
    const tensorsBefore = tf.memory().numTensors;
    const runDir = tmp();
    const err = await train(cfg, { runDir, progressStream: quiet }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteLossError);
    const failedAt = Number(/at step (\d+)/.exec((err as Error).message)![1]);
    const latest = readFileSync(join(runDir, 'checkpoints', 'latest'), 'utf8').trim();
    expect(latest).toBe(`step-${String(failedAt - 1).padStart(7, '0')}`);
    expect((err as Error).message).toContain(latest);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('refuses to overwrite a run, to resume a missing run, or to resume with another config', async () => {
    const runDir = tmp();
    await train(tinyConfig({ steps: 3 }), { runDir, progressStream: quiet });
    await expect(train(tinyConfig({ steps: 3 }), { runDir, progressStream: quiet })).rejects.toThrow(/already holds a run; pass --resume/);
    await expect(train(tinyConfig(), { runDir: tmp(), resume: true, progressStream: quiet })).rejects.toThrow(CheckpointError);
    await expect(train(tinyConfig({ steps: 6, lr: 1e-3 }), { runDir, resume: true, progressStream: quiet })).rejects.toThrow(/different config/);
    expect(existsSync(join(runDir, 'checkpoints', 'step-0000003'))).toBe(true);
  });

  it('stops at an abort signal with a checkpoint, status KILLED', async () => {
    const controller = new AbortController();
    controller.abort();
    const runDir = tmp();
    const result = await train(tinyConfig(), { runDir, progressStream: quiet, signal: controller.signal });
    expect(result.status).toBe('KILLED');
    expect(existsSync(join(runDir, 'checkpoints', 'latest'))).toBe(true);
  });
});
