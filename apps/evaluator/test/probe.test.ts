import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, tf } from '@difflab/core-tensor';
import { loadFashionMnist, readParquet, tableToRows, type ImageSplit } from '@difflab/data';
import { cknna, FmnistFeatureNet, linearProbe, type FeatureMatrix } from '@difflab/metrics';
import { createDiT, ditConfig } from '@difflab/models';
import { parseTrainConfig, scheduleFor } from '@difflab/runs';
import { train } from '@difflab/training';
import { parseTimestepSpec, probeRun, resolveTimestep, type ProbeRunResult } from '../src/index.js';
import { EvalError } from '@difflab/evaluation';
import { loadRun, RunDirError } from '@difflab/runs';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-probe-'));

const DEPTH = 3;
const tinyConfig = parseTrainConfig({
  name: 'tiny-probe',
  seed: 3,
  model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: DEPTH, numHeads: 2 },
  diffusion: { timesteps: 100 },
  train: { steps: 4, batchSize: 8, lr: 2e-3, warmupSteps: 1, emaDecay: 0.5 },
  checkpoint: { every: 4 },
  eval: { heldoutExamples: 10 },
  sample: { steps: 2, perClass: 1, cfgScale: 1 },
});

const TRAIN = 60;
const TEST = 30;
const TOPK = 5;
const SEED = 7;
const PROBE = { cGrid: [0.1, 1], maxIter: 300, tol: 1e-6 };

/** Block `layer`'s mean-pooled tokens, computed here: x_t by the closed form, padding and pooling by hand. */
function layerFeatures(dit: ReturnType<typeof createDiT>, split: ImageSplit, indices: Int32Array, noise: Rng, t: number, layer: number): FeatureMatrix {
  const ac = scheduleFor(tinyConfig.diffusion).alphasCumprod[t]!;
  const n = indices.length;
  const x = new Float32Array(n * 32 * 32);
  for (let e = 0; e < n; e++) {
    const eps = noise.normalArray(32 * 32);
    for (let r = 0; r < 32; r++)
      for (let c = 0; c < 32; c++) {
        const inside = r >= 2 && r < 30 && c >= 2 && c < 30;
        const x0 = inside ? split.images[indices[e]! * 784 + (r - 2) * 28 + (c - 2)]! / 127.5 - 1 : -1;
        x[e * 1024 + r * 32 + c] = Math.sqrt(ac) * x0 + Math.sqrt(1 - ac) * eps[r * 32 + c]!;
      }
  }
  const d = dit.config.hiddenSize;
  const pooled = new Float64Array(n * d);
  tf.tidy(() => {
    dit.forward(tf.tensor4d(x, [n, 32, 32, 1]), tf.fill([n], t, 'float32') as tf.Tensor1D, tf.fill([n], 10, 'int32') as tf.Tensor1D, {
      onBlock: (index, h) => {
        if (index !== layer) return;
        const v = h.dataSync();
        const tokens = h.shape[1];
        for (let e = 0; e < n; e++)
          for (let j = 0; j < d; j++) {
            let sum = 0;
            for (let k = 0; k < tokens; k++) sum += v[(e * tokens + k) * d + j]!;
            pooled[e * d + j] = sum / tokens;
          }
      },
    });
  });
  return { rows: n, dim: d, data: pooled };
}

function unitRows(x: FeatureMatrix): FeatureMatrix {
  const data = Float64Array.from(x.data);
  for (let r = 0; r < x.rows; r++) {
    const row = data.subarray(r * x.dim, (r + 1) * x.dim);
    const norm = Math.hypot(...row);
    row.forEach((v, j) => (row[j] = v / norm));
  }
  return { rows: x.rows, dim: x.dim, data };
}

describe('probeRun', () => {
  let runDir: string;
  let netPath: string;
  let result: ProbeRunResult;

  beforeAll(async () => {
    runDir = tmp();
    await train(tinyConfig, { runDir, progressStream: quiet });
    netPath = join(tmp(), 'fmnist-featurenet.safetensors');
    const net = FmnistFeatureNet.init(11);
    await net.save(netPath);
    net.dispose();
    result = await probeRun(runDir, { t: { fraction: 0.25 }, trainExamples: TRAIN, testExamples: TEST, cknnaTopk: TOPK, seed: SEED, featureNet: netPath, batchSize: 16, ...PROBE });
  });

  it('writes one row per block with accuracies in [0, 1], as parquet and markdown', () => {
    expect(result.timestep).toBe(25); // round(0.25 · 99)
    expect(result.rows.map((r) => r.layer)).toEqual([0, 1, 2]);
    for (const r of result.rows) {
      expect(r.probe_top1).toBeGreaterThanOrEqual(0);
      expect(r.probe_top1).toBeLessThanOrEqual(1);
      expect(r.val_top1).toBeGreaterThanOrEqual(0);
      expect(r.val_top1).toBeLessThanOrEqual(1);
      expect(Number.isFinite(r.cknna)).toBe(true);
      expect([r.n_train, r.n_val, r.n_test, r.t]).toEqual([48, 12, TEST, 25]);
    }
    expect(result.tablePath).toBe(join(runDir, 'probe', 'probe-t25.parquet'));
    const table = tableToRows(readParquet(result.tablePath));
    expect(table.map((r) => [Number(r.layer), r.probe_top1, r.cknna, Number(r.n_train), Number(r.n_test), Number(r.t)])).toEqual(
      result.rows.map((r) => [r.layer, r.probe_top1, r.cknna, r.n_train, r.n_test, r.t]),
    );
    const md = readFileSync(result.markdownPath, 'utf8');
    expect(md.split('\n').filter((l) => /^\| \d/.test(l)).length).toBe(DEPTH);
  });

  it('equals a probe and CKNNA recomputed from hidden states taken with the onBlock hook', async () => {
    const LAYER = 1;
    const run = await loadRun(runDir, 'ema');
    const dit = createDiT({ ...ditConfig('DiT-FMNIST-S/4'), patchSize: 8, hiddenSize: 32, depth: DEPTH, numHeads: 2 }, new Rng(99));
    for (const [name, v] of Object.entries(dit.params)) v.assign(run.weights[name]!);
    tf.dispose(Object.values(run.weights));
    const data = loadFashionMnist();
    const rng = new Rng(SEED);
    const trainIdx = rng.permutation(60_000).subarray(0, TRAIN);
    const testIdx = rng.permutation(10_000).subarray(0, TEST);
    const trainFeats = layerFeatures(dit, data.train, trainIdx, rng, 25, LAYER);
    const testFeats = layerFeatures(dit, data.test, testIdx, rng, 25, LAYER);
    dit.dispose();
    const rows = (x: FeatureMatrix, from: number, to: number): FeatureMatrix => ({ rows: to - from, dim: x.dim, data: (x.data as Float64Array).slice(from * x.dim, to * x.dim) });
    const labels = (split: ImageSplit, idx: Int32Array) => Array.from(idx, (i) => split.labels[i]!);
    const trainLabels = labels(data.train, trainIdx);
    const probe = linearProbe(
      { features: rows(trainFeats, 0, 48), labels: trainLabels.slice(0, 48) },
      { features: rows(trainFeats, 48, TRAIN), labels: trainLabels.slice(48) },
      { features: testFeats, labels: labels(data.test, testIdx) },
      { numClasses: 10, ...PROBE },
    );
    const net = await FmnistFeatureNet.load(netPath);
    const clean = Float32Array.from(Array.from(testIdx).flatMap((i) => Array.from(data.test.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255)));
    const ref = tf.tidy(() => net.extract(tf.tensor4d(clean, [TEST, 28, 28, 1])));
    const refFeats = { rows: TEST, dim: net.dim, data: ref.dataSync() };
    ref.dispose();
    net.dispose();
    const row = result.rows[LAYER]!;
    expect(row.probe_top1).toBe(probe.testAccuracy);
    expect(row.best_c).toBe(probe.bestC);
    expect(row.cknna).toBeCloseTo(cknna(unitRows(testFeats), unitRows(refFeats), { topk: TOPK }), 5);
  });

  it('probes only the named layers, in the order given', async () => {
    const some = await probeRun(runDir, { t: { timestep: 25 }, layers: [2, 0], trainExamples: TRAIN, testExamples: TEST, cknnaTopk: TOPK, seed: SEED, featureNet: netPath, batchSize: 16, ...PROBE });
    expect(some.rows.map((r) => r.layer)).toEqual([2, 0]);
    expect(some.rows[0]!.cknna).toBe(result.rows[2]!.cknna);
    expect(some.rows[1]!.probe_top1).toBe(result.rows[0]!.probe_top1);
  });

  it('rejects a missing checkpoint, t out of range, bad layer indices, bad probe options and too few training images per class', async () => {
    const base = { trainExamples: TRAIN, testExamples: TEST, cknnaTopk: TOPK, featureNet: netPath };
    const empty = tmp();
    copyFileSync(join(runDir, 'config.json'), join(empty, 'config.json'));
    await expect(probeRun(empty, { t: { timestep: 1 }, ...base })).rejects.toThrow(/no checkpoint/);
    await expect(probeRun(join(empty, 'nope'), { t: { timestep: 1 }, ...base })).rejects.toThrow(RunDirError);
    await expect(probeRun(runDir, { t: { timestep: 100 }, ...base })).rejects.toThrow(/integer in \[0, 99\]/);
    await expect(probeRun(runDir, { t: { fraction: 1.5 }, ...base })).rejects.toThrow(/\[0, 1\]/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, layers: [3], ...base })).rejects.toThrow(/layer 3 does not exist: the model has 3 blocks/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, layers: [], ...base })).rejects.toThrow(/at least one block/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, ...base, cknnaTopk: TEST })).rejects.toThrow(/cknnaTopk/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, ...base, featureNet: join(empty, 'net.safetensors') })).rejects.toThrow(/fmnist-featurenet:train/);
    // Probe options and class coverage are checked before any forward pass (issue #19).
    await expect(probeRun(runDir, { t: { timestep: 1 }, ...base, maxIter: 0 })).rejects.toThrow(/maxIter \(--max-iter\) must be a positive integer, got 0/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, ...base, tol: 0 })).rejects.toThrow(/tol \(--tol\) must be a finite number > 0/);
    await expect(probeRun(runDir, { t: { timestep: 1 }, ...base, trainExamples: 10 })).rejects.toThrow(/the 8 probe-training images \(--train-examples 10 .*\): class \d has [01] training rows?/);
    expect(existsSync(join(empty, 'probe'))).toBe(false);
  });
});

describe('timestep spec', () => {
  it('reads a decimal as a fraction of T and an integer as a timestep', () => {
    expect(parseTimestepSpec('0.25')).toEqual({ fraction: 0.25 });
    expect(parseTimestepSpec('1.0')).toEqual({ fraction: 1 });
    expect(parseTimestepSpec('250')).toEqual({ timestep: 250 });
    expect(() => parseTimestepSpec('abc')).toThrow(/--t must be/);
    expect(resolveTimestep({ fraction: 0 }, 1000)).toBe(0);
    expect(resolveTimestep({ fraction: 1 }, 1000)).toBe(999);
    expect(resolveTimestep({ fraction: 0.5 }, 1000)).toBe(500); // round(499.5)
    expect(resolveTimestep({ timestep: 999 }, 1000)).toBe(999);
    expect(() => resolveTimestep({ timestep: 2.5 }, 1000)).toThrow(EvalError);
  });
});
