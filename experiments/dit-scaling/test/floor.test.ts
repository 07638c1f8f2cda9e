// The FID floor gather records: the evaluator's own `fid_fmnist_floor` row (FID of N real training images against the
// test reference, at the runs' N), taken once per preset. Checked against a computation that shares no code with the
// evaluator's path: features of the first N/10 training images of each class, found by a plain scan, in one batch.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '@difflab/core-tensor';
import { loadFashionMnist, readParquet, tableFromColumns, tableToRows, writeParquet } from '@difflab/data';
import { FmnistFeatureNet, frechetDistance, gaussianStats } from '@difflab/metrics';
import { parseTrainConfig } from '@difflab/runs';
import { train } from '@difflab/training';
import { evaluate } from '@difflab/evaluation';
import { parseSweepDefinition } from '../src/definition.js';
import { planPreset, type SweepRun } from '../src/plan.js';
import { sweepLayout } from '../src/targets.js';
import { gatherPreset } from '../src/gather.js';
import { SweepFloorError, presetFloor, readFloor } from '../src/floor.js';

const tmp = mkdtempSync(join(tmpdir(), 'sweep-floor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

const PER_CLASS = 2;
const REFERENCE = 150;
const size = (hiddenSize: number, depth: number, numHeads: number) => ({ hiddenSize, depth, numHeads });
const def = parseSweepDefinition({
  name: 'toy-sweep',
  base: { model: { preset: 'DiT-FMNIST-S/4' }, train: { batchSize: 8 } },
  lr: { value: 0.001, referenceWidth: 32 },
  presets: { smoke: { budgets: { min: 1e10, max: 4e10, count: 3 }, sizes: [size(32, 1, 2), size(48, 1, 2), size(64, 1, 2)], fidSamplesPerClass: PER_CLASS } },
});
const layout = sweepLayout('experiments/toy/sweep.json');

/** Features of `n` images in one batch, outside the evaluator's batching. */
function stats(net: FmnistFeatureNet, images: Float32Array, n: number) {
  const f = tf.tidy(() => net.extract(tf.tensor4d(images, [n, 28, 28, 1])));
  const data = f.dataSync();
  f.dispose();
  return gaussianStats(data, n, net.dim);
}

/** The first `perClass` training images of each class, class-major, by a plain scan. */
function firstPerClass(perClass: number): Float32Array {
  const split = loadFashionMnist().train;
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < split.count; i++) if (byClass[split.labels[i]!]!.length < perClass) byClass[split.labels[i]!]!.push(i);
  return Float32Array.from(byClass.flat().flatMap((i) => Array.from(split.images.subarray(i * 784, (i + 1) * 784), (v) => v / 255)));
}

/** What the trainer leaves in a run dir, and an eval table whose floor row is `floorRow` (the evaluator's, or a variant). */
async function fabricateRun(root: string, run: SweepRun, floorRow: Record<string, unknown> | null): Promise<void> {
  const dir = join(root, layout.runDir(run));
  mkdirSync(join(dir, 'eval'), { recursive: true });
  const examples = run.steps * run.batchSize;
  writeFileSync(join(dir, 'eval.json'), JSON.stringify({ step: run.steps, heldout_loss: 0.3, examples_seen: examples, train_compute: 3 * run.flopsFwd * examples, backend: 'cpu' }));
  writeFileSync(join(dir, 'params.json'), JSON.stringify({ model_params: run.modelParams, flops_fwd_per_example: run.flopsFwd }));
  await writeParquet(join(dir, 'metrics.parquet'), tableFromColumns({ step: [run.steps], loss: [0.3], wall_time: [1] }));
  const fid = { name: 'fid_fmnist', value: 200, n_samples: 10 * PER_CLASS, weights: 'raw', step: run.steps, feature_net_sha256: floorRow?.feature_net_sha256 ?? 'ab' };
  const rows = floorRow ? [fid, { ...floorRow, step: run.steps }] : [fid];
  const cols = Object.keys(fid) as Array<keyof typeof fid>;
  await writeParquet(join(dir, 'eval', 'metrics.parquet'), tableFromColumns(Object.fromEntries(cols.map((k) => [k, rows.map((r) => (r as Record<string, unknown>)[k])])) as Record<string, number[] | string[]>));
}

describe('the FID floor of a preset', () => {
  let netPath: string;
  let evaluatorFloor: Record<string, unknown>;

  beforeAll(async () => {
    // One tiny run, scored by the real evaluator at N = 10 · PER_CLASS: its table holds the floor row every run of the preset gets.
    const runDir = join(tmp, 'tiny-run');
    const cfg = parseTrainConfig({
      name: 'tiny-floor',
      seed: 3,
      model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 1, numHeads: 2 },
      diffusion: { process: 'flow' },
      train: { steps: 2, batchSize: 4, lr: 1e-3 },
      checkpoint: { every: 2 },
      eval: { heldoutExamples: 4 },
      sample: { sampler: 'euler', steps: 2, perClass: 1, useEma: false },
    });
    await train(cfg, { runDir, progressStream: quiet });
    netPath = join(tmp, 'fmnist-featurenet.safetensors');
    const net = FmnistFeatureNet.init(7);
    await net.save(netPath);
    net.dispose();
    await evaluate(runDir, { featureNet: netPath, samplesPerClass: PER_CLASS, referenceImages: REFERENCE, weights: 'raw', progressStream: quiet });
    evaluatorFloor = tableToRows(readParquet(join(runDir, 'eval', 'metrics.parquet'))).find((r) => r.name === 'fid_fmnist_floor') as Record<string, unknown>;
  }, 120_000);

  it('records the evaluator’s floor once, equal to N real training images against the reference computed independently', async () => {
    const root = join(tmp, 'gather');
    for (const run of planPreset(def, 'smoke')) await fabricateRun(root, run, evaluatorFloor);
    await gatherPreset(def, 'smoke', layout, root);
    const floor = readFloor(join(root, 'experiments/toy/results/smoke/floor.json'), 'gather');

    const net = await FmnistFeatureNet.load(netPath);
    const test = loadFashionMnist().test;
    const reference = stats(net, Float32Array.from(test.images.subarray(0, REFERENCE * 784), (v) => v / 255), REFERENCE);
    const expected = frechetDistance(reference, stats(net, firstPerClass(PER_CLASS), 10 * PER_CLASS));
    net.dispose();
    expect(Math.abs(floor.fid_floor - expected)).toBeLessThan(1e-6 * expected);
    expect(floor).toMatchObject({ preset: 'smoke', n_samples: 10 * PER_CLASS, runs: 9, max_relative_spread: 0, feature_net_sha256: evaluatorFloor.feature_net_sha256 });
    expect(readFileSync(join(root, 'experiments/toy/results/smoke/runs.md'), 'utf8')).toContain(`FID floor at the same N = ${10 * PER_CLASS}: ${expected.toFixed(2)}`);
  });

  it('names the run, its table and the target to rerun when a run has no floor row or one at another N', async () => {
    const root = join(tmp, 'missing');
    const runs = planPreset(def, 'smoke');
    for (const run of runs) await fabricateRun(root, run, evaluatorFloor);
    await fabricateRun(root, runs[4]!, null);
    const table = join(root, layout.runDir(runs[4]!), 'eval', 'metrics.parquet');
    const rerun = `npx nx run toy-sweep-smoke-${runs[4]!.id}:evaluate`;
    await expect(gatherPreset(def, 'smoke', layout, root)).rejects.toThrow(`${table}: no 'fid_fmnist_floor' row (scored by an evaluator that did not record the real-vs-real floor); rerun: ${rerun}`);
    await fabricateRun(root, runs[4]!, { ...evaluatorFloor, n_samples: 300 });
    await expect(gatherPreset(def, 'smoke', layout, root)).rejects.toThrow(`${table}: the floor is from 300 real images, but the run's FID is from 20 samples; rerun: ${rerun}`);
  });

  it('refuses floors that differ beyond float noise or come from different feature networks, naming the runs', () => {
    const f = (run: string, value: number, sha = 'aa') => ({ run, value, nSamples: 1000, featureNetSha256: sha });
    // Float noise between machines is accepted and reported.
    const ok = presetFloor('full', [f('r1', 2.0), f('r2', 2.0 * (1 + 2e-4)), f('r3', 2.0)]);
    expect(ok.fid_floor).toBeCloseTo((6 + 4e-4) / 3, 12);
    expect(ok.max_relative_spread).toBeGreaterThan(0);
    expect(ok.max_relative_spread).toBeLessThan(2e-4);
    expect(() => presetFloor('full', [f('r1', 2.0), f('r2', 2.1)])).toThrow(SweepFloorError);
    expect(() => presetFloor('full', [f('r1', 2.0), f('r2', 2.1)])).toThrow(/the FID floor differs between runs \(r1: 2, r2: 2\.1\)/);
    expect(() => presetFloor('full', [f('r1', 2.0), f('r2', 2.0, 'bb')])).toThrow(/runs r1 and r2 were scored with different feature networks/);
    expect(() => readFloor(join(tmp, 'nowhere', 'floor.json'), 'npx nx run dit-scaling-smoke:gather')).toThrow(/nowhere\/floor\.json is missing \(written by the preset's gather stage\); run: npx nx run dit-scaling-smoke:gather/);
  });
});
