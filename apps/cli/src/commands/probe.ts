import { parseArgs } from 'node:util';
import { readNpz, type NpyArray } from '@difflab/data';
import { DEFAULT_C_GRID, linearProbe, meanPoolTokens, type FeatureMatrix, type ProbeSplit } from '@difflab/metrics';

export const summary = 'Linear probe (REPA): logistic regression with an L2 sweep on features from a .npz';

const usage = `usage: difflab probe <features.npz> [--c-grid 0.001,0.01,0.1,1,10,100] [--max-iter 1000] [--tol 1e-4] [--json]

<features.npz> holds x_train, y_train, x_val, y_val, x_test, y_test. Features are N×D, or N×T×D
token features that are mean-pooled over T; labels are integers 0..K−1. Features are standardised
with training statistics; multinomial logistic regression (scikit-learn's C) is fitted per C, the
best validation top-1 picks C, and its test top-1 is reported. See docs/metrics.md.`;

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

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'c-grid': { type: 'string' },
      'max-iter': { type: 'string', default: '1000' },
      tol: { type: 'string', default: '1e-4' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('probe takes one features .npz (difflab probe --help)');
  const path = positionals[0]!;
  const arrays = readNpz(path);
  const split = (name: string): ProbeSplit => ({ features: features(path, `x_${name}`, arrays.get(`x_${name}`)), labels: labels(path, `y_${name}`, arrays.get(`y_${name}`)) });
  const [train, val, test] = [split('train'), split('val'), split('test')];
  const numClasses = Math.max(...train.labels as number[], ...val.labels as number[], ...test.labels as number[]) + 1;
  const cGrid = values['c-grid'] ? values['c-grid'].split(',').map(Number) : DEFAULT_C_GRID;
  if (cGrid.some((c) => !(c > 0))) throw new Error(`--c-grid must be positive numbers separated by commas, got ${values['c-grid']}`);
  const res = linearProbe(train, val, test, { numClasses, cGrid, maxIter: Number(values['max-iter']), tol: Number(values.tol) });
  if (values.json) {
    console.log(JSON.stringify({ bestC: res.bestC, valAccuracy: res.valAccuracy, testAccuracy: res.testAccuracy, sweep: res.sweep }));
    return 0;
  }
  for (const s of res.sweep) console.log(`C ${String(s.c).padEnd(8)} val top-1 ${(100 * s.valAccuracy).toFixed(2)}%  (${s.iterations} iterations${s.converged ? '' : ', not converged'})`);
  console.log(`best C ${res.bestC}: test top-1 ${(100 * res.testAccuracy).toFixed(2)}%`);
  return 0;
}
