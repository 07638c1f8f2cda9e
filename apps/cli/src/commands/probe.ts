import { parseArgs } from 'node:util';
import { readNpz, type NpyArray } from '@difflab/data';
import { formatProbeTable, parseTimestepSpec, probeRun } from '@difflab/evaluator';
import { type WeightsKind } from '@difflab/runs';
import { DEFAULT_C_GRID, linearProbe, meanPoolTokens, type FeatureMatrix, type ProbeSplit } from '@difflab/metrics';

export const summary = 'Linear probe (REPA): of features in a .npz, or of every DiT block of a run vs depth';

const usage = `usage: difflab probe <features.npz> [--c-grid 0.001,0.01,0.1,1,10,100] [--max-iter 1000] [--tol 1e-4] [--json]
       difflab probe <runDir> --t 0.25 [--layers all|0,2,5] [--train-examples 2000] [--test-examples 1000]
                     [--weights ema|raw] [--seed 0] [--cknna-topk 10] [--feature-net PATH] [--batch-size 100]
                     [--c-grid ...] [--max-iter 1000] [--tol 1e-4] [--json]

<features.npz> holds x_train, y_train, x_val, y_val, x_test, y_test. Features are N×D, or N×T×D
token features that are mean-pooled over T; labels are integers 0..K−1. Features are standardised
with training statistics; multinomial logistic regression (scikit-learn's C) is fitted per C, the
best validation top-1 picks C, and its test top-1 is reported.

<runDir> (a difflab train run of a DiT): noises Fashion-MNIST images to timestep t, runs the latest
checkpoint with the null class as label, mean-pools each block's tokens, and reports per block the
linear-probe test top-1 and CKNNA to the Fashion-MNIST feature net on the clean images (REPA's
Figure 2). --t with a decimal point is a fraction of T (0.25 → round(0.25·(T−1)); 1.0 = noisiest),
without one an integer timestep in [0, T). The last fifth of --train-examples validates C. Writes
<runDir>/probe/probe-t<t>.parquet and .md. See docs/metrics.md.`;

function features(path: string, key: string, a: NpyArray | undefined): FeatureMatrix {
  if (!a) throw new Error(`${path}: array '${key}' is missing`);
  if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) throw new Error(`${path}: '${key}' must be float32/float64, got ${a.dtype}`);
  if (a.shape.length === 3) return meanPoolTokens(a.data, a.shape[0]!, a.shape[1]!, a.shape[2]!);
  if (a.shape.length !== 2) throw new Error(`${path}: '${key}' must be N×D or N×T×D, got shape (${a.shape})`);
  return { rows: a.shape[0]!, dim: a.shape[1]!, data: a.data };
}

function labels(path: string, key: string, a: NpyArray | undefined): number[] {
  if (!a || a.shape.length !== 1) throw new Error(`${path}: '${key}' must be a 1-D label array`);
  return Array.from(a.data as ArrayLike<number | bigint>, (v) => Number(v));
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
  if (cGrid.some((c) => !(c > 0))) throw new Error(`--c-grid must be positive numbers separated by commas, got ${values['c-grid']}`);
  const fit = { cGrid, maxIter: Number(values['max-iter']), tol: Number(values.tol) };
  if (!path.endsWith('.npz')) return probeRunDir(path, values, fit);

  const arrays = readNpz(path);
  const split = (name: string): ProbeSplit => ({ features: features(path, `x_${name}`, arrays.get(`x_${name}`)), labels: labels(path, `y_${name}`, arrays.get(`y_${name}`)) });
  const [train, val, test] = [split('train'), split('val'), split('test')];
  const numClasses = Math.max(...train.labels as number[], ...val.labels as number[], ...test.labels as number[]) + 1;
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
