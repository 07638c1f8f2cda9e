/**
 * Linear probe vs scikit-learn: difflab's `linearProbe` (StandardScaler statistics, multinomial
 * logistic regression by L-BFGS, C sweep on validation, test top-1) against
 * LogisticRegression(solver='lbfgs', multinomial) on the same features. The issue requires the
 * test accuracies to agree within 0.5 points.
 *
 *   npx tsx tools/bench/src/linear-probe-sklearn.ts [--train 10000] [--max-iter 1000] [--tol 1e-4]
 *
 * Features: Fashion-MNIST images cut into 16 tokens of 7×7 pixels, each token embedded by a fixed
 * random per-position projection + tanh (a stand-in for one transformer layer), then mean-pooled
 * over tokens as REPA does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Rng } from '@difflab/core-tensor';
import { loadFashionMnist, type ImageSplit } from '@difflab/data';
import { linearProbe, meanPoolTokens, writeNpz, type ProbeSplit } from '@difflab/metrics';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '10000' },
    'max-iter': { type: 'string', default: '1000' },
    tol: { type: 'string', default: '1e-4' },
    width: { type: 'string', default: '64' },
  },
});
const nTrain = Number(values.train);
const maxIter = Number(values['max-iter']);
const tol = Number(values.tol);
const width = Number(values.width);
const C_GRID = [1e-3, 1e-2, 1e-1, 1, 10, 100];
const PATCH = 7;
const TOKENS = 16;

const rng = new Rng(2024);
const projection = rng.normalArray(TOKENS * PATCH * PATCH * width, 0, 1 / PATCH);

function tokenFeatures(split: ImageSplit, from: number, count: number): ProbeSplit {
  const tokens = new Float32Array(count * TOKENS * width);
  const labels = new Int32Array(count);
  for (let s = 0; s < count; s++) {
    const img = (from + s) * 28 * 28;
    labels[s] = split.labels[from + s]!;
    for (let t = 0; t < TOKENS; t++) {
      const [py, px] = [Math.floor(t / 4) * PATCH, (t % 4) * PATCH];
      const out = (s * TOKENS + t) * width;
      for (let k = 0; k < width; k++) {
        let acc = 0;
        for (let i = 0; i < PATCH * PATCH; i++) {
          const pixel = split.images[img + (py + Math.floor(i / PATCH)) * 28 + px + (i % PATCH)]! / 255;
          acc += pixel * projection[((t * PATCH * PATCH + i) * width) + k]!;
        }
        tokens[out + k] = Math.tanh(acc);
      }
    }
  }
  return { features: meanPoolTokens(tokens, count, TOKENS, width), labels };
}

const data = loadFashionMnist();
const train = tokenFeatures(data.train, 0, nTrain);
const val = tokenFeatures(data.train, 50_000, 5000);
const test = tokenFeatures(data.test, 0, 10_000);

const t0 = performance.now();
const ours = linearProbe(train, val, test, { numClasses: 10, cGrid: C_GRID, maxIter, tol });
const oursSeconds = (performance.now() - t0) / 1000;

const dir = mkdtempSync(join(tmpdir(), 'difflab-probe-'));
const file = join(dir, 'features.npz');
const f64 = (x: ArrayLike<number>) => Float64Array.from(x);
await writeNpz(file, {
  x_train: { shape: [train.features.rows, width], data: f64(train.features.data) },
  y_train: { shape: [train.features.rows], data: f64(train.labels) },
  x_val: { shape: [val.features.rows, width], data: f64(val.features.data) },
  y_val: { shape: [val.features.rows], data: f64(val.labels) },
  x_test: { shape: [test.features.rows, width], data: f64(test.features.data) },
  y_test: { shape: [test.features.rows], data: f64(test.labels) },
  c_grid: { shape: [C_GRID.length], data: Float64Array.from(C_GRID) },
});
const peer = join(dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'linear_probe_sklearn.py');
const sk = JSON.parse(execFileSync('/usr/bin/python3', [peer, file, String(maxIter), String(tol)], { encoding: 'utf8' })) as {
  best_c: number;
  val_accuracy: number;
  test_accuracy: number;
  sweep: { c: number; val_accuracy: number; iterations: number }[];
  seconds: number;
};

const pct = (a: number) => (100 * a).toFixed(2);
console.log(`features: ${width}-d mean-pooled tokens; train ${nTrain}, val 5000, test 10000; max_iter ${maxIter}, tol ${tol}`);
console.log('| C | val top-1 difflab | val top-1 sklearn | iterations difflab / sklearn |');
console.log('|---|---|---|---|');
ours.sweep.forEach((s, i) => console.log(`| ${s.c} | ${pct(s.valAccuracy)} | ${pct(sk.sweep[i]!.val_accuracy)} | ${s.iterations} / ${sk.sweep[i]!.iterations} |`));
const diff = 100 * Math.abs(ours.testAccuracy - sk.test_accuracy);
console.log(`\nbest C: difflab ${ours.bestC}, sklearn ${sk.best_c}`);
console.log(`test top-1: difflab ${pct(ours.testAccuracy)}, sklearn ${pct(sk.test_accuracy)}, |diff| ${diff.toFixed(2)} points (limit 0.5)`);
console.log(`time: difflab ${oursSeconds.toFixed(1)} s, sklearn ${sk.seconds.toFixed(1)} s`);
if (diff > 0.5) process.exitCode = 1;
