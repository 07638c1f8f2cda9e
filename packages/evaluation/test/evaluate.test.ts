import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@difflab/core-tensor';
import { loadFashionMnist, readParquet, tableToRows } from '@difflab/data';
import { FmnistFeatureNet, frechetDistance, gaussianStats, precisionRecall } from '@difflab/metrics';
import { openTracker } from '@difflab/tracking';
import { parseTrainConfig, TrackerSink } from '@difflab/runs';
import { train } from '@difflab/training';
import { EvalError, evaluate, scoreSamples, type EvalResult } from '../src/index.js';

const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-eval-'));

const tinyConfig = parseTrainConfig({
  name: 'tiny-eval',
  seed: 5,
  model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
  diffusion: { timesteps: 100 },
  train: { steps: 4, batchSize: 8, lr: 2e-3, warmupSteps: 1, emaDecay: 0.5 },
  checkpoint: { every: 4 },
  eval: { heldoutExamples: 10 },
  sample: { steps: 3, perClass: 1, cfgScale: 2 },
});

const PER_CLASS = 2;

/** Every file under dir except eval/, with its size and mtime. */
function snapshot(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => !f.startsWith('eval'))
    .map((f) => `${f} ${statSync(join(dir, f)).size} ${statSync(join(dir, f)).mtimeMs}`)
    .sort();
}
const REFERENCE = 150;

/** Feature extraction outside the evaluator: one batch, images scaled from bytes directly. */
function featureMatrix(net: FmnistFeatureNet, images: Float32Array, n: number) {
  const f = tf.tidy(() => net.extract(tf.tensor4d(images, [n, 28, 28, 1])));
  const data = f.dataSync();
  f.dispose();
  return { rows: n, dim: net.dim, data };
}
function features(net: FmnistFeatureNet, images: Float32Array, n: number) {
  const f = featureMatrix(net, images, n);
  return gaussianStats(f.data, n, net.dim);
}

/** The first `perClass` training images of each class, found by a plain scan (class-major). */
function firstPerClass(perClass: number): Float32Array {
  const train = loadFashionMnist().train;
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < train.count; i++) if (byClass[train.labels[i]!]!.length < perClass) byClass[train.labels[i]!]!.push(i);
  return Float32Array.from(byClass.flat().flatMap((i) => Array.from(train.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255)));
}

describe('evaluate', () => {
  let runDir: string;
  let netDir: string;
  let netPath: string;
  let trackerDir: string;
  let first: EvalResult;
  const progressLines: string[] = [];

  beforeAll(async () => {
    runDir = tmp();
    trackerDir = tmp();
    const tracker = openTracker({ uri: trackerDir });
    await train(tinyConfig, { runDir, progressStream: quiet, sinks: [new TrackerSink(tracker, 'tiny-eval', 'run-a', runDir)] });
    netDir = tmp();
    netPath = join(netDir, 'fmnist-featurenet.safetensors');
    const net = FmnistFeatureNet.init(11);
    await net.save(netPath);
    net.dispose();
    writeFileSync(join(netDir, 'report.json'), JSON.stringify({ fidTrainVsTest: 0.42, testAccuracy: 0.911 }));
    const capture = { write: (line: string) => progressLines.push(line) > 0, isTTY: false } as unknown as NodeJS.WriteStream;
    first = await evaluate(runDir, { featureNet: netPath, samplesPerClass: PER_CLASS, referenceImages: REFERENCE, batchSize: 7, tracker, progressStream: capture });
    await tracker.close();
  });

  it('computes FID-FMNIST as the Fréchet distance of independently extracted features', async () => {
    const net = await FmnistFeatureNet.load(netPath);
    const test = loadFashionMnist().test;
    const real = Float32Array.from(test.images.subarray(0, REFERENCE * 784), (v) => v / 255);
    const expected = frechetDistance(features(net, real, REFERENCE), features(net, first.samples.images, first.samples.count));
    expect(first.samples.count).toBe(10 * PER_CLASS);
    expect(Math.abs(first.fid - expected)).toBeLessThan(1e-6 * expected);
    expect(first.fid).toBeGreaterThan(0);

    // Class accuracy: the fraction of samples whose predicted class is their conditioning label.
    const predicted = tf.tidy(() => net.classify(tf.tensor4d(first.samples.images, [first.samples.count, 28, 28, 1])));
    const labels = first.samples.labels!;
    expect(Array.from(labels)).toEqual(Array.from({ length: 20 }, (_, i) => Math.floor(i / PER_CLASS)));
    const hits = Array.from(predicted).filter((p, i) => p === labels[i]).length;
    expect(first.classAccuracy).toBe(hits / first.samples.count);

    // The floor: as many real training images per class, against the same reference; precision/recall against them.
    const real20 = firstPerClass(PER_CLASS);
    const floor = frechetDistance(features(net, real, REFERENCE), features(net, real20, 20));
    expect(first.n).toBe(20);
    expect(Math.abs(first.fidFloor - floor)).toBeLessThan(1e-6 * floor);
    const pr = precisionRecall(featureMatrix(net, real20, 20), featureMatrix(net, first.samples.images, 20), { k: 3 });
    expect([first.precision, first.recall]).toEqual([pr.precision, pr.recall]);
    net.dispose();

    expect(Math.min(...first.samples.images)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...first.samples.images)).toBeLessThanOrEqual(1);
  });

  it('scores the same samples with a second, independently initialised network: its own FID, floor and class accuracy', async () => {
    const otherDir = tmp();
    const otherPath = join(otherDir, 'fmnist-featurenet.safetensors');
    const other = FmnistFeatureNet.init(12);
    await other.save(otherPath);
    const second = await scoreSamples(first.samples, otherPath, { referenceImages: REFERENCE, batchSize: 7 });
    const test = loadFashionMnist().test;
    const real = Float32Array.from(test.images.subarray(0, REFERENCE * 784), (v) => v / 255);
    const expected = frechetDistance(features(other, real, REFERENCE), features(other, first.samples.images, first.samples.count));
    const floor = frechetDistance(features(other, real, REFERENCE), features(other, firstPerClass(PER_CLASS), 20));
    const predicted = tf.tidy(() => other.classify(tf.tensor4d(first.samples.images, [first.samples.count, 28, 28, 1])));
    const hits = Array.from(predicted).filter((p, i) => p === first.samples.labels![i]).length;
    other.dispose();
    expect(Math.abs(second.fid - expected)).toBeLessThan(1e-6 * expected);
    expect(Math.abs(second.fidFloor - floor)).toBeLessThan(1e-6 * floor);
    expect(second.classAccuracy).toBe(hits / first.samples.count);
    expect(second.fid).not.toBe(first.fid);
    expect(second.featureNetSha256).not.toBe(first.featureNetSha256);
    // No report.json beside it: no real-data floor is claimed for it.
    expect(second.realDataFloor).toBeNull();
    await expect(scoreSamples(first.samples, join(otherDir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors not found; make it with: npx nx run fmnist-featurenet:train/);
  });

  it('reports sampling progress in images with rate and ETA, ending at all of them', () => {
    // Batches of 7 from 20 images: 7, 14, 20; a non-TTY stream gets a line per batch multiple and the last.
    expect(progressLines.map((l) => l.split('  ')[0])).toEqual(['step 7/20', 'step 14/20', 'step 20/20']);
    expect(progressLines.at(-1)).toMatch(/it\/s  ETA 0:00/);
  });

  it('writes eval/metrics.parquet, one row per metric, and a sample grid', () => {
    const table = readParquet(join(runDir, 'eval', 'metrics.parquet'));
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'name:Utf8',
      'value:Float64',
      'n_samples:Int32',
      'weights:Utf8',
      'step:Int32',
      'feature_net_sha256:Utf8',
    ]);
    const rows = tableToRows(table);
    const sha = first.featureNetSha256;
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    expect(rows).toEqual([
      { name: 'fid_fmnist', value: first.fid, n_samples: 20, weights: 'ema', step: 4, feature_net_sha256: sha },
      { name: 'precision', value: first.precision, n_samples: 20, weights: 'ema', step: 4, feature_net_sha256: sha },
      { name: 'recall', value: first.recall, n_samples: 20, weights: 'ema', step: 4, feature_net_sha256: sha },
      { name: 'fid_fmnist_floor', value: first.fidFloor, n_samples: 20, weights: 'real-data', step: 4, feature_net_sha256: sha },
      { name: 'class_accuracy', value: first.classAccuracy, n_samples: 20, weights: 'ema', step: 4, feature_net_sha256: sha },
      { name: 'fid_fmnist_train_vs_test', value: 0.42, n_samples: 60000, weights: 'real-data', step: 4, feature_net_sha256: sha },
      { name: 'class_accuracy_real_test', value: 0.911, n_samples: 10000, weights: 'real-data', step: 4, feature_net_sha256: sha },
    ]);
    expect(existsSync(join(runDir, 'eval', 'samples.png'))).toBe(true);
  });

  it('logs the metrics at the checkpoint step and the table to the training run found by its run_dir tag', async () => {
    const tracker = openTracker({ uri: trackerDir });
    expect(first.tracked!.attached).toBe(true);
    const exp = await tracker.getExperimentByName('tiny-eval');
    const { items } = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
    expect(items).toHaveLength(1);
    expect(first.tracked!.runId).toBe(items[0]!.info.runId);
    const fid = await tracker.getMetricHistory(first.tracked!.runId, 'fid_fmnist');
    expect(fid.map((m) => [m.step, m.value])).toEqual([[4, first.fid]]);
    const acc = await tracker.getMetricHistory(first.tracked!.runId, 'class_accuracy');
    expect(acc.map((m) => [m.step, m.value])).toEqual([[4, first.classAccuracy]]);
    expect((await tracker.listArtifacts(first.tracked!.runId, 'eval')).map((f) => f.path)).toEqual(['eval/metrics.parquet']);
    await tracker.close();
  });

  it('starts a run tagged with the run directory when the store has none', async () => {
    const tracker = openTracker({ uri: tmp() });
    const result = await evaluate(runDir, { featureNet: netPath, samplesPerClass: 1, referenceImages: REFERENCE, tracker });
    expect(result.tracked!.attached).toBe(false);
    const run = await tracker.getRun(result.tracked!.runId);
    expect(run.data.tags['difflab.run_dir']).toBe(runDir);
    expect(run.info.status).toBe('FINISHED');
    expect((await tracker.getMetricHistory(run.info.runId, 'fid_fmnist')).map((m) => m.value)).toEqual([result.fid]);
    await tracker.close();
  });

  it('reuses the cached reference statistics, keyed by the feature network file hash', async () => {
    expect(first.reference.path.startsWith(netDir)).toBe(true);
    expect(first.reference.path).toContain(first.featureNetSha256.slice(0, 16));
    expect(first.reference.images).toBe(REFERENCE);
    const mtime = statSync(first.reference.path).mtimeMs;
    const before = snapshot(runDir);
    const again = await evaluate(runDir, { featureNet: netPath, samplesPerClass: 1, referenceImages: REFERENCE, weights: 'raw' });
    expect(again.reference).toEqual({ ...first.reference, reused: true });
    expect(first.reference.reused).toBe(false);
    expect(statSync(first.reference.path).mtimeMs).toBe(mtime);
    expect(snapshot(runDir)).toEqual(before);
    expect(again.weights).toBe('raw');
    expect(again.tracked).toBeNull();
    expect(tableToRows(readParquet(again.tablePath))[0]!.weights).toBe('raw');

    // Another network (other weights, same directory) gets statistics of its own.
    const otherPath = join(netDir, 'other.safetensors');
    const other = FmnistFeatureNet.init(12);
    await other.save(otherPath);
    other.dispose();
    const third = await evaluate(runDir, { featureNet: otherPath, samplesPerClass: 1, referenceImages: REFERENCE });
    expect(third.reference.reused).toBe(false);
    expect(third.reference.path).not.toBe(first.reference.path);
  });

  it('names the problem and the fix for bad inputs', async () => {
    const opts = { featureNet: netPath, samplesPerClass: 1, referenceImages: REFERENCE };
    await expect(evaluate(join(tmp(), 'nope'), opts)).rejects.toThrow(/run directory .*nope does not exist/);
    await expect(evaluate(tmp(), opts)).rejects.toThrow(/config\.json not found/);
    const noCheckpoint = tmp();
    copyFileSync(join(runDir, 'config.json'), join(noCheckpoint, 'config.json'));
    mkdirSync(join(noCheckpoint, 'checkpoints'));
    await expect(evaluate(noCheckpoint, opts)).rejects.toThrow(/has no checkpoint/);
    await expect(evaluate(runDir, { ...opts, featureNet: join(tmp(), 'missing.safetensors') })).rejects.toThrow(/npx nx run fmnist-featurenet:train/);
    await expect(evaluate(runDir, { ...opts, samplesPerClass: 0 })).rejects.toThrow(EvalError);
    await expect(evaluate(runDir, { ...opts, weights: 'best' as 'ema' })).rejects.toThrow(/weights must be 'ema' or 'raw'/);
  });
});
