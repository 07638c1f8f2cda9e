import { parseArgs } from 'node:util';
import { readNpz, type NpyArray } from '@difflab/data';
import { formatProbeTable, parseTimestepSpec, probeRun } from '@difflab/evaluator';
import { type WeightsKind } from '@difflab/runs';
import {
  DEFAULT_C_GRID,
  inferredClassCount,
  linearProbe,
  meanPoolTokens,
  requireFinite,
  requireLabels,
  requireProbeClasses,
  requireRows,
  requireSameWidth,
  type FeatureMatrix,
  type ProbeSplit,
} from '@difflab/metrics';

export const summary = 'Linear probe (REPA): of features in a .npz, or of every DiT block of a run vs depth';

const usage = `usage: difflab probe <features.npz> [--c-grid 0.001,0.01,0.1,1,10,100] [--max-iter 1000] [--tol 1e-4] [--json]
       difflab probe <runDir> --t 0.25 [--layers all|0,2,5] [--train-examples 2000] [--test-examples 1000]
                     [--weights ema|raw] [--seed 0] [--cknna-topk 10] [--feature-net PATH] [--batch-size 100]
                     [--c-grid ...] [--max-iter 1000] [--tol 1e-4] [--json]

<features.npz> holds x_train, y_train, x_val, y_val, x_test, y_test. Features are N×D, or N×T×D
token features that are mean-pooled over T, all finite; labels are integers 0..K−1 (K = largest
label + 1) and every class needs at least 2 rows in y_train. Features are standardised
with training statistics; multinomial logistic regression (scikit-learn's C) is fitted per C, the
best validation top-1 picks C, and its test top-1 is reported.

<runDir> (a difflab train run of a DiT): noises Fashion-MNIST images to timestep t, runs the latest
checkpoint with the null class as label, mean-pools each block's tokens, and reports per block the
linear-probe test top-1 and CKNNA to the Fashion-MNIST feature net on the clean images (REPA's
Figure 2). --t with a decimal point is a fraction of T (0.25 → round(0.25·(T−1)); 1.0 = noisiest),
without one an integer timestep in [0, T). The last fifth of --train-examples validates C. Writes
<runDir>/probe/probe-t<t>.parquet and .md. See docs/metrics.md.`;

function features(path: string, key: string, a: NpyArray | undefined): FeatureMatrix {
  const where = `${path}: '${key}'`;
  if (!a) throw new Error(`${path}: array '${key}' is missing; the archive needs x_train, y_train, x_val, y_val, x_test, y_test`);
  if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) throw new Error(`${where} must be float32/float64, got ${a.dtype}; convert with x.astype('float32')`);
  if (a.shape.length !== 2 && a.shape.length !== 3) throw new Error(`${where} must be N×D or N×T×D, got shape (${a.shape})`);
  const rows = a.shape[0]!;
  // Checked before pooling, so the row named is the sample's and the column its flat index within it.
  requireFinite(where, a.data, rows > 0 ? a.data.length / rows : undefined, 'features must be finite — drop those rows or replace the values before saving');
  requireRows(where, rows, key === 'x_train' ? 2 : 1, key === 'x_train' ? 'training a probe' : 'scoring a probe');
  if (a.shape.length === 3) return meanPoolTokens(a.data, rows, a.shape[1]!, a.shape[2]!);
  return { rows, dim: a.shape[1]!, data: a.data };
}

/** Class indices: integers ≥ 0 (the number of classes is the largest + 1, checked later). */
function labels(path: string, key: string, a: NpyArray | undefined, rows: number): number[] {
  const where = `${path}: '${key}'`;
  if (!a) throw new Error(`${path}: array '${key}' is missing; the archive needs x_train, y_train, x_val, y_val, x_test, y_test`);
  if (a.shape.length !== 1) throw new Error(`${where} must be a 1-D label array, got shape (${a.shape})`);
  const y = Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
  requireLabels(where, y, rows);
  return y;
}

/** A number option that must pass `valid`; `what` says the rule in the error ("a positive integer"). */
function numeric(name: string, text: string, valid: (v: number) => boolean, what: string): number {
  const v = Number(text);
  if (text.trim() === '' || !valid(v)) throw new Error(`--${name} must be ${what}, got '${text}'`);
  return v;
}

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isInteger(v)) throw new Error(`--${name} must be an integer, got '${text}'`);
  return v;
}

function parseLayers(text: string): 'all' | number[] {
  if (text === 'all') return 'all';
  const parts = text.split(',');
  const layers = parts.map(Number);
  if (parts.some((p) => p.trim() === '') || layers.some((l) => !Number.isInteger(l) || l < 0)) throw new Error(`--layers must be 'all' or block indices like 0,2,5, got '${text}'`);
  return layers;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'c-grid': { type: 'string' },
      'max-iter': { type: 'string', default: '1000' },
      tol: { type: 'string', default: '1e-4' },
      json: { type: 'boolean' },
      t: { type: 'string' },
      layers: { type: 'string', default: 'all' },
      'train-examples': { type: 'string' },
      'test-examples': { type: 'string' },
      weights: { type: 'string', default: 'ema' },
      seed: { type: 'string' },
      'cknna-topk': { type: 'string' },
      'feature-net': { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('probe takes one features .npz or one run directory (difflab probe --help)');
  const path = positionals[0]!;
  const cGrid = values['c-grid'] ? values['c-grid'].split(',').map(Number) : DEFAULT_C_GRID;
  if (cGrid.some((c) => !(c > 0) || !Number.isFinite(c))) throw new Error(`--c-grid must be positive numbers separated by commas, got ${values['c-grid']}`);
  const fit = {
    cGrid,
    maxIter: numeric('max-iter', values['max-iter']!, (v) => Number.isInteger(v) && v >= 1, 'a positive integer (L-BFGS iterations per C)'),
    tol: numeric('tol', values.tol!, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0'),
  };
  if (!path.endsWith('.npz')) return probeRunDir(path, values, fit);

  const arrays = readNpz(path);
  const split = (name: string): ProbeSplit & { x: string; y: string } => {
    const [x, y] = [`x_${name}`, `y_${name}`];
    const f = features(path, x, arrays.get(x));
    return { features: f, labels: labels(path, y, arrays.get(y), f.rows), x: `${path}: '${x}'`, y: `${path}: '${y}'` };
  };
  const [train, val, test] = [split('train'), split('val'), split('test')];
  for (const s of [val, test]) requireSameWidth(s.x, s.features, train.x, train.features, 'every split must hold features of the same layer');
  const numClasses = inferredClassCount(train.labels, val.labels, test.labels);
  // K is inferred from the labels, so every class 0..K−1 must be trainable (a gap means the labels are not 0..K−1).
  requireProbeClasses({ input: train.y, labels: train.labels }, [val, test].map((s) => ({ input: s.y, labels: s.labels })), numClasses, { everyClass: true });
  const res = linearProbe(train, val, test, { numClasses, ...fit });
  if (values.json) {
    console.log(JSON.stringify({ bestC: res.bestC, valAccuracy: res.valAccuracy, testAccuracy: res.testAccuracy, sweep: res.sweep }));
    return 0;
  }
  for (const s of res.sweep) console.log(`C ${String(s.c).padEnd(8)} val top-1 ${(100 * s.valAccuracy).toFixed(2)}%  (${s.iterations} iterations${s.converged ? '' : ', not converged'})`);
  console.log(`best C ${res.bestC}: test top-1 ${(100 * res.testAccuracy).toFixed(2)}%`);
  return 0;
}

async function probeRunDir(runDir: string, values: Record<string, string | boolean | undefined>, fit: { cGrid: number[]; maxIter: number; tol: number }): Promise<number> {
  const str = (k: string) => values[k] as string | undefined;
  if (str('t') === undefined) throw new Error('probing a run directory needs --t (a fraction of T like 0.25, or an integer timestep)');
  if (str('weights') !== 'ema' && str('weights') !== 'raw') throw new Error(`--weights must be ema or raw, got '${str('weights')}'`);
  const res = await probeRun(runDir, {
    t: parseTimestepSpec(str('t')!),
    layers: parseLayers(str('layers')!),
    trainExamples: integer('train-examples', str('train-examples')),
    testExamples: integer('test-examples', str('test-examples')),
    weights: str('weights') as WeightsKind,
    seed: integer('seed', str('seed')),
    cknnaTopk: integer('cknna-topk', str('cknna-topk')),
    featureNet: str('feature-net'),
    batchSize: integer('batch-size', str('batch-size')),
    ...fit,
    log: values.json ? undefined : (line) => console.error(line),
  });
  if (values.json) {
    console.log(JSON.stringify({ step: res.step, weights: res.weights, timestep: res.timestep, numTimesteps: res.numTimesteps, rows: res.rows, tablePath: res.tablePath }));
    return 0;
  }
  process.stdout.write(formatProbeTable(res.rows));
  console.log(`wrote ${res.tablePath} and ${res.markdownPath}`);
  return 0;
}
