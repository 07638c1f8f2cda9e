import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, Rng, tf } from '@difflab/core-tensor';
import { loadFashionMnist, type ImageSplit } from '@difflab/data';
import { cknna, DEFAULT_C_GRID, FmnistFeatureNet, l2NormalizeRows, linearProbe, requirePositiveInteger, requirePositiveNumber, requireProbeClasses, type FeatureMatrix } from '@difflab/metrics';
import { createDiT, type DiT } from '@difflab/models';
import { resolveModelConfig, scheduleFor } from '@difflab/runs';
import { EvalError } from '@difflab/evaluation';
import { DEFAULT_FEATURE_NET } from '@difflab/evaluation';
import { loadRun, type WeightsKind } from '@difflab/runs';
import { pooledBlockFeatures } from './hidden-states.js';
import { writeProbeMarkdown, writeProbeTable, type ProbeLayerRow } from './probe-table.js';
import { resolveTimestep, type TimestepSpec } from './timestep.js';

export interface ProbeRunOptions {
  /** Noise level of the probed input x_t. */
  t: TimestepSpec;
  /** Blocks to probe; default 'all'. */
  layers?: 'all' | number[];
  /** Train-split images for the probe; the last fifth of them is its validation split. Default 2000. */
  trainExamples?: number;
  /** Test-split images for probe accuracy and CKNNA. Default 1000. */
  testExamples?: number;
  /** Default 'ema'. */
  weights?: WeightsKind;
  /** Picks the images and the noise. Default 0. */
  seed?: number;
  /** CKNNA neighbourhood size; default 10, as in the Platonic-representation paper. */
  cknnaTopk?: number;
  /** Reference encoder; default DEFAULT_FEATURE_NET. */
  featureNet?: string;
  cGrid?: number[];
  maxIter?: number;
  tol?: number;
  /** Images per DiT forward pass; default 100. */
  batchSize?: number;
  log?: (line: string) => void;
}

export interface ProbeRunResult {
  runDir: string;
  step: number;
  weights: WeightsKind;
  /** Timestep index in [0, T) and T. */
  timestep: number;
  numTimesteps: number;
  rows: ProbeLayerRow[];
  tablePath: string;
  markdownPath: string;
}

/** Fraction of trainExamples held out for choosing C. */
const VAL_FRACTION = 0.2;
const NUM_CLASSES = 10;
const IMAGE_SIZE = 28;

/**
 * REPA's Figure 2 at small scale: linear-probe top-1 and CKNNA to the Fashion-MNIST feature net
 * of every DiT block's mean-pooled tokens on noised images x_t. Protocol (reproducible from the
 * seed): rng = new Rng(seed); the train images are the first trainExamples of
 * rng.permutation(60000) (the last VAL_FRACTION of them validate C), the test images the first
 * testExamples of rng.permutation(10000); then rng draws the noise, H·W normals per example, train
 * images first. Labels fed to the DiT are the null class. Writes `<runDir>/probe/probe-t<t>.parquet`
 * and `.md`.
 */
export async function probeRun(runDirArg: string, opts: ProbeRunOptions): Promise<ProbeRunResult> {
  const runDir = resolve(runDirArg);
  const weightsKind = opts.weights ?? 'ema';
  const trainExamples = opts.trainExamples ?? 2000;
  const testExamples = opts.testExamples ?? 1000;
  const topk = opts.cknnaTopk ?? 10;
  const batchSize = opts.batchSize ?? 100;
  const seed = opts.seed ?? 0;
  const log = opts.log ?? (() => undefined);
  if (weightsKind !== 'ema' && weightsKind !== 'raw') throw new EvalError(`weights must be 'ema' or 'raw', got '${String(weightsKind)}'`);
  if (!Number.isInteger(batchSize) || batchSize <= 0) throw new EvalError(`batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(seed) || seed < 0) throw new EvalError(`seed must be a non-negative integer, got ${seed}`);
  const nVal = Math.round(VAL_FRACTION * trainExamples);
  if (!Number.isInteger(trainExamples) || trainExamples < 10 || trainExamples > 60_000) throw new EvalError(`trainExamples must be an integer in [10, 60000], got ${trainExamples}`);
  if (!Number.isInteger(testExamples) || testExamples < 4 || testExamples > 10_000) throw new EvalError(`testExamples must be an integer in [4, 10000], got ${testExamples}`);
  if (!Number.isInteger(topk) || topk < 2 || topk > testExamples - 1) throw new EvalError(`cknnaTopk must be an integer in [2, testExamples − 1 = ${testExamples - 1}], got ${topk}`);
  const cGrid = opts.cGrid ?? DEFAULT_C_GRID;
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-4;
  if (cGrid.length === 0) throw new EvalError('cGrid is empty; give at least one C (--c-grid 0.01,0.1,1)');
  for (const c of cGrid) requirePositiveNumber('each C of cGrid (--c-grid)', c);
  requirePositiveInteger('maxIter (--max-iter)', maxIter);
  requirePositiveNumber('tol (--tol)', tol);
  const featureNetPath = resolve(opts.featureNet ?? DEFAULT_FEATURE_NET);
  if (!existsSync(featureNetPath)) throw new EvalError(`feature network ${featureNetPath} not found; make it with: npx nx run fmnist-featurenet:train (or pass --feature-net PATH)`);

  const run = await loadRun(runDir, weightsKind);
  let dit: DiT | undefined;
  try {
    const resolved = resolveModelConfig(run.config.model);
    if (resolved.architecture !== 'dit') throw new EvalError(`probe reads DiT blocks; ${runDir} trained the U-Net preset '${run.config.model.preset}'`);
    const schedule = scheduleFor(run.config.diffusion);
    const timestep = resolveTimestep(opts.t, schedule.numTimesteps);
    const depth = resolved.config.depth;
    const layers = opts.layers === undefined || opts.layers === 'all' ? Array.from({ length: depth }, (_, i) => i) : opts.layers;
    if (layers.length === 0) throw new EvalError('layers must name at least one block (or be "all")');
    const bad = layers.find((l) => !Number.isInteger(l) || l < 0 || l >= depth);
    if (bad !== undefined) throw new EvalError(`layer ${bad} does not exist: the model has ${depth} blocks, 0..${depth - 1}`);
    if (new Set(layers).size !== layers.length) throw new EvalError(`layers must not repeat, got ${layers.join(',')}`);
    if (resolved.config.classDropoutProb <= 0) {
      throw new EvalError(`the probe feeds the null class, but this model was trained without label dropout (classDropoutProb 0) and has none`);
    }

    await initBackend();
    dit = createDiT(resolved.config, new Rng(0));
    for (const [name, v] of Object.entries(dit.params)) {
      const w = run.weights[name];
      if (!w || w.shape.join() !== v.shape.join()) {
        throw new EvalError(`checkpoint weight '${name}' is ${w ? `[${w.shape}]` : 'missing'}, the config's model needs [${v.shape}]; was config.json edited after training?`);
      }
      v.assign(w);
    }
    const padding = run.config.data.pad32 ? 2 : 0;
    if (dit.config.inputSize !== IMAGE_SIZE + 2 * padding || dit.config.inChannels !== 1) {
      throw new EvalError(`the probe feeds ${IMAGE_SIZE + 2 * padding}×${IMAGE_SIZE + 2 * padding}×1 Fashion-MNIST images; this model takes ${dit.config.inputSize}×${dit.config.inputSize}×${dit.config.inChannels}`);
    }

    const data = loadFashionMnist();
    const rng = new Rng(seed);
    const trainPool = rng.permutation(data.train.count).subarray(0, trainExamples);
    const testIdx = rng.permutation(data.test.count).subarray(0, testExamples);
    const hiddenOpts = { schedule, timestep, layers, padding, noise: rng, batchSize };
    log(`probing ${layers.length} blocks at t=${timestep}/${schedule.numTimesteps} (step ${run.step}, ${weightsKind} weights): ${trainExamples} train + ${testExamples} test images`);
    const nFit = trainExamples - nVal;
    const trainLabels = Array.from(trainPool, (i) => data.train.labels[i]!);
    const testLabels = Array.from(testIdx, (i) => data.test.labels[i]!);
    // Checked before the forward passes: a class the probe is scored on needs training images.
    requireProbeClasses(
      { input: `the ${nFit} probe-training images (--train-examples ${trainExamples} less the validation fifth, seed ${seed})`, labels: trainLabels.slice(0, nFit) },
      [
        { input: 'the validation images', labels: trainLabels.slice(nFit) },
        { input: `the ${testExamples} test images`, labels: testLabels },
      ],
      NUM_CLASSES,
    );
    const trainFeats = pooledBlockFeatures(dit, data.train, trainPool, hiddenOpts);
    const testFeats = pooledBlockFeatures(dit, data.test, testIdx, hiddenOpts);
    // Rows L2-normalised on both sides, as in the Platonic-representation pipeline REPA measures with.
    const reference = l2NormalizeRows(await referenceFeatures(featureNetPath, data.test, testIdx, batchSize));

    const rows: ProbeLayerRow[] = layers.map((layer, k) => {
      const feats = trainFeats[k]!;
      const res = linearProbe(
        { features: rowsOf(feats, 0, nFit), labels: trainLabels.slice(0, nFit) },
        { features: rowsOf(feats, nFit, trainExamples), labels: trainLabels.slice(nFit) },
        { features: testFeats[k]!, labels: testLabels },
        { numClasses: NUM_CLASSES, cGrid, maxIter, tol },
      );
      const row: ProbeLayerRow = {
        layer,
        probe_top1: res.testAccuracy,
        val_top1: res.valAccuracy,
        best_c: res.bestC,
        cknna: cknna(l2NormalizeRows(testFeats[k]!), reference, { topk }),
        n_train: nFit,
        n_val: nVal,
        n_test: testExamples,
        t: timestep,
      };
      log(`block ${layer}: probe top-1 ${(100 * row.probe_top1).toFixed(2)}%, CKNNA ${row.cknna.toFixed(4)}`);
      return row;
    });

    const dir = join(runDir, 'probe');
    mkdirSync(dir, { recursive: true });
    const tablePath = join(dir, `probe-t${timestep}.parquet`);
    const markdownPath = join(dir, `probe-t${timestep}.md`);
    await writeProbeTable(tablePath, rows);
    await writeProbeMarkdown(markdownPath, `Representation probe of ${run.config.name} at t=${timestep}/${schedule.numTimesteps} (step ${run.step}, ${weightsKind} weights, null-class input)`, rows);
    return { runDir, step: run.step, weights: weightsKind, timestep, numTimesteps: schedule.numTimesteps, rows, tablePath, markdownPath };
  } finally {
    dit?.dispose();
    tf.dispose(Object.values(run.weights));
  }
}

function rowsOf(x: FeatureMatrix, from: number, to: number): FeatureMatrix {
  return { rows: to - from, dim: x.dim, data: (x.data as Float64Array).subarray(from * x.dim, to * x.dim) };
}

/** Feature-net features of the clean 28×28 images in [0, 1]: the reference side of CKNNA. */
async function referenceFeatures(path: string, split: ImageSplit, indices: Int32Array, batchSize: number): Promise<FeatureMatrix> {
  const net = await FmnistFeatureNet.load(path);
  try {
    const px = IMAGE_SIZE * IMAGE_SIZE;
    const data = new Float32Array(indices.length * net.dim);
    for (let at = 0; at < indices.length; at += batchSize) {
      const idx = indices.subarray(at, Math.min(indices.length, at + batchSize));
      const images = new Float32Array(idx.length * px);
      idx.forEach((i, r) => images.set(Array.from(split.images.subarray(i * px, (i + 1) * px), (v) => v / 255), r * px));
      const f = tf.tidy(() => net.extract(tf.tensor4d(images, [idx.length, IMAGE_SIZE, IMAGE_SIZE, 1])));
      data.set(f.dataSync() as Float32Array, at * net.dim);
      f.dispose();
    }
    return { rows: indices.length, dim: net.dim, data };
  } finally {
    net.dispose();
  }
}
