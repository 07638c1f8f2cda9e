import { parseArgs } from 'node:util';
import {
  cka,
  cknna,
  DEFAULT_C_GRID,
  frechetDistance,
  gaussianStats,
  inferredClassCount,
  l2NormalizeRows,
  linearProbe,
  mutualKnn,
  readFeatureFile,
  readLabelFile,
  requireNeighbours,
  requireProbeClasses,
  requireRows,
  requireSameWidth,
  sniffFeatureFile,
  type FeatureFile,
  type FeatureMatrix,
  type LabelFile,
} from '@difflab/metrics';
import { didYouMean } from '../did-you-mean.js';

export const summary = 'FID, CKNNA, CKA, mutual-kNN or a linear probe between two feature files (.npy, .npz, Parquet, Arrow)';

const METRICS = ['fid', 'cknna', 'cka', 'mutual-knn', 'linprobe'] as const;
type MetricName = (typeof METRICS)[number];

const usage = `usage: difflab metrics <fid|cknna|cka|mutual-knn|linprobe> --a FILE --b FILE [options] [--json]

Computes one metric between two feature sets made by any tool. FILE is one of
  .npy                 an N×D float32/float64 array (np.save)
  .npz                 the array --key (default: the first array of the archive)
  Parquet, Arrow IPC   a FixedSizeList or List column of floats (default: the only one, or
                       'embedding'), or --column NAME; or, without a list column, every float
                       column (one feature each), or --column c1,c2,…
The format is read from the file's first bytes. --key-a/--key-b and --column-a/--column-b
override --key/--column for one side.

metrics:
  fid          Fréchet distance between Gaussians fitted to a and b (pytorch-fid's formula).
               a and b may differ in N, not in D. FID is biased by N: compare values at equal N.
               --eps E        add E·I inside the square root (pytorch-fid's fallback; default 0)
  cknna        CKNNA (Huh et al. 2024) of two representations of the same N inputs (row i of
               a and of b describe the same input; D may differ).
               --k K          neighbours (default 10)
               --hsic H       unbiased (default) or biased
  cka          centred kernel alignment, same pairing as cknna.
               --kernel linear|rbf  (default linear)   --rbf-sigma S (default 1)
               --hsic H       biased (default) or unbiased
  mutual-knn   mutual k-nearest-neighbour alignment, same pairing as cknna.
               --k K          neighbours (default 10)
  linprobe     linear probe: multinomial logistic regression trained on a, top-1 accuracy on b.
               Labels: --label-column NAME (an array of the .npz or a column of the table, in
               both files), or --labels-a FILE --labels-b FILE (.npy, .npz: its first array
               or --label-column, Parquet/Arrow: its only integer column or --label-column).
               --val-fraction F   every (1/F)-th row of a picks C, the rest trains (default 0.2)
               --c-grid 0.001,0.01,0.1,1,10,100   --max-iter 1000   --tol 1e-4

cknna, cka, mutual-knn: --normalize l2 (default, as the Platonic-representation code does
before every alignment metric) or none (features as given).

Output: one line with the value, N and D of each side; --json prints
{ metric, value, n_a, n_b, dims: { a, b }, inputs: { a, b }, options } (linprobe adds labels,
best_c, val_accuracy, n_train, n_val, num_classes, sweep). See docs/metrics.md.`;

/** Options that only some metrics take: giving one to another metric is a mistake worth naming. */
const ONLY_FOR: Record<string, MetricName[]> = {
  eps: ['fid'],
  k: ['cknna', 'mutual-knn'],
  hsic: ['cknna', 'cka'],
  kernel: ['cka'],
  'rbf-sigma': ['cka'],
  normalize: ['cknna', 'cka', 'mutual-knn'],
  'label-column': ['linprobe'],
  'labels-a': ['linprobe'],
  'labels-b': ['linprobe'],
  'val-fraction': ['linprobe'],
  'c-grid': ['linprobe'],
  'max-iter': ['linprobe'],
  tol: ['linprobe'],
};

const LABELS: Record<MetricName, string> = { fid: 'FID', cknna: 'CKNNA', cka: 'CKA', 'mutual-knn': 'mutual-kNN', linprobe: 'linear probe' };

type Values = Record<string, string | boolean | undefined>;

function numberOption(values: Values, name: string, fallback: number, valid: (v: number) => boolean, what: string): number {
  const text = values[name] as string | undefined;
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !valid(v)) throw new Error(`--${name} must be ${what}, got '${text}'`);
  return v;
}

function choice<T extends string>(values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const v = (values[name] as string | undefined) ?? fallback;
  if (!allowed.includes(v as T)) throw new Error(`--${name} must be ${allowed.join(' or ')}, got '${v}'`);
  return v as T;
}

/** "a.npz [feats]": where a side's features came from, as the human line names it. */
function source(f: { path: string; field: string }): string {
  return f.field ? `${f.path} [${f.field}]` : f.path;
}

function describeInput(f: FeatureFile | LabelFile) {
  return { path: f.path, format: f.format, field: f.field };
}

/** The rows of `x` at `rows`, in that order. */
function pickRows(x: FeatureMatrix, rows: number[]): FeatureMatrix {
  const out = new Float64Array(rows.length * x.dim);
  rows.forEach((r, i) => {
    for (let j = 0; j < x.dim; j++) out[i * x.dim + j] = x.data[r * x.dim + j]!;
  });
  return { rows: rows.length, dim: x.dim, data: out };
}

/**
 * Validation rows of a probe: evenly spaced, row i when ⌊(i+1)·f⌋ > ⌊i·f⌋ (every 5th row for
 * f = 0.2), so a file sorted by class still validates on every class. The rest trains.
 */
export function probeValidationRows(n: number, fraction: number): { train: number[]; val: number[] } {
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < n; i++) (Math.floor((i + 1) * fraction + 1e-9) > Math.floor(i * fraction + 1e-9) ? val : train).push(i);
  return { train, val };
}

interface Result {
  value: number;
  human: string;
  options: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

function fid(a: FeatureFile, b: FeatureFile, values: Values): Result {
  requireSameWidth('--a', a, '--b', b, 'FID compares features of one extractor — check that both files (and --key/--column) hold the same layer');
  for (const [flag, f] of [['--a', a], ['--b', b]] as const) requireRows(`${flag} ${source(f)}`, f.rows, 2, 'FID (a covariance per side)');
  const eps = numberOption(values, 'eps', 0, (v) => v >= 0 && Number.isFinite(v), 'a finite number ≥ 0');
  const value = frechetDistance(gaussianStats(a.data, a.rows, a.dim), gaussianStats(b.data, b.rows, b.dim), { eps });
  return { value, human: `${value.toPrecision(6)}${eps > 0 ? ` (eps ${eps})` : ''}`, options: { eps } };
}

function alignment(metric: 'cknna' | 'cka' | 'mutual-knn', a: FeatureFile, b: FeatureFile, values: Values): Result {
  if (a.rows !== b.rows) {
    throw new Error(
      `--a has ${a.rows} rows and --b ${b.rows}; ${LABELS[metric]} compares two representations of the same inputs, so row i of both files must describe input i`,
    );
  }
  const normalize = choice(values, 'normalize', ['l2', 'none'] as const, 'l2');
  const unbiased = choice(values, 'hsic', ['biased', 'unbiased'] as const, metric === 'cknna' ? 'unbiased' : 'biased') === 'unbiased';
  // The fewest rows each estimate is defined for: unbiased HSIC divides by m(m−3); CKNNA needs 2 neighbours besides the sample.
  const minRows = metric === 'mutual-knn' ? 2 : unbiased ? 4 : metric === 'cknna' ? 3 : 2;
  requireRows(`--a ${source(a)} and --b ${source(b)}`, a.rows, minRows, `${LABELS[metric]}${metric !== 'mutual-knn' ? ` with ${unbiased ? 'unbiased' : 'biased'} HSIC` : ''}`);
  const k = numberOption(values, 'k', 10, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
  if (metric !== 'cka') requireNeighbours('--k', k, a.rows, metric === 'cknna' ? 2 : 1);
  const [x, y] = normalize === 'l2' ? [l2NormalizeRows(a), l2NormalizeRows(b)] : [a, b];
  const notes: string[] = [];
  let value: number;
  let options: Record<string, unknown>;
  if (metric === 'cka') {
    const kernel = choice(values, 'kernel', ['linear', 'rbf'] as const, 'linear');
    const rbfSigma = numberOption(values, 'rbf-sigma', 1, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
    if (values['rbf-sigma'] !== undefined && kernel !== 'rbf') throw new Error('--rbf-sigma applies to --kernel rbf');
    const hsic = choice(values, 'hsic', ['biased', 'unbiased'] as const, 'biased');
    value = cka(x, y, { kernel, rbfSigma, unbiased: hsic === 'unbiased' });
    options = { kernel, ...(kernel === 'rbf' ? { rbf_sigma: rbfSigma } : {}), hsic, normalize };
    notes.push(kernel === 'rbf' ? `rbf kernel σ ${rbfSigma}` : 'linear kernel', `${hsic} HSIC`);
  } else {
    if (metric === 'cknna') {
      const hsic = choice(values, 'hsic', ['biased', 'unbiased'] as const, 'unbiased');
      value = cknna(x, y, { topk: k, unbiased: hsic === 'unbiased' });
      options = { k, hsic, normalize };
      notes.push(`k ${k}`, `${hsic} HSIC`);
    } else {
      value = mutualKnn(x, y, { topk: k });
      options = { k, normalize };
      notes.push(`k ${k}`);
    }
  }
  notes.push(normalize === 'l2' ? 'rows L2-normalised' : 'features as given');
  return { value, human: `${value.toPrecision(6)} (${notes.join(', ')})`, options };
}

function labelsFor(flag: '--a' | '--b', features: FeatureFile, values: Values): LabelFile {
  const file = values[`labels-${flag.slice(2)}`] as string | undefined;
  const column = values['label-column'] as string | undefined;
  if (file === undefined && features.format === 'npy') {
    throw new Error(`${flag} ${features.path} is a .npy holding only features; give its labels with --labels-${flag.slice(2)} FILE`);
  }
  const side = flag.slice(2);
  const labels = read(file !== undefined ? `--labels-${side}` : `${flag} (labels)`, () => readLabelFile(file ?? features.path, { key: column, column }));
  if (labels.labels.length !== features.rows) {
    throw new Error(`${source(labels)} holds ${labels.labels.length} labels but ${flag} ${source(features)} has ${features.rows} rows; every row needs one label, in the same order`);
  }
  return labels;
}

function linprobe(a: FeatureFile, b: FeatureFile, values: Values, labelsA: LabelFile, labelsB: LabelFile): Result {
  requireSameWidth('--a', a, '--b', b, "the probe trained on a must read b's features of the same layer");
  const fraction = numberOption(values, 'val-fraction', 0.2, (v) => v > 0 && v < 1, 'a fraction in (0, 1)');
  const cText = values['c-grid'] as string | undefined;
  const cGrid = cText === undefined ? DEFAULT_C_GRID : cText.split(',').map(Number);
  if (cGrid.some((c) => !(c > 0) || !Number.isFinite(c))) throw new Error(`--c-grid must be positive numbers separated by commas, got '${cText}'`);
  const maxIter = numberOption(values, 'max-iter', 1000, (v) => Number.isInteger(v) && v > 0, 'a positive integer');
  const tol = numberOption(values, 'tol', 1e-4, (v) => v > 0 && Number.isFinite(v), 'a finite number > 0');
  const { train, val } = probeValidationRows(a.rows, fraction);
  if (train.length < 2 || val.length < 1) throw new Error(`--a has ${a.rows} rows: too few to train on ${train.length} and validate C on ${val.length}; give more rows or change --val-fraction`);
  const numClasses = inferredClassCount(labelsA.labels, labelsB.labels);
  const labelsFlag = (side: 'a' | 'b') => (values[`labels-${side}`] !== undefined ? `--labels-${side}` : `--label-column of --${side}`);
  // K is inferred from the labels, so every class 0..K−1 must be trainable (a gap means the labels are not 0..K−1).
  requireProbeClasses(
    { input: `${labelsFlag('a')} ${source(labelsA)} (the ${train.length} training rows)`, labels: train.map((i) => labelsA.labels[i]!) },
    [
      { input: `the validation rows of ${labelsFlag('a')}`, labels: val.map((i) => labelsA.labels[i]!) },
      { input: `${labelsFlag('b')} ${source(labelsB)}`, labels: labelsB.labels },
    ],
    numClasses,
    { everyClass: true },
  );
  const res = linearProbe(
    { features: pickRows(a, train), labels: train.map((i) => labelsA.labels[i]!) },
    { features: pickRows(a, val), labels: val.map((i) => labelsA.labels[i]!) },
    { features: b, labels: labelsB.labels },
    { numClasses, cGrid, maxIter, tol },
  );
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  return {
    value: res.testAccuracy,
    human: `test top-1 ${pct(res.testAccuracy)} on b (best C ${res.bestC}: val top-1 ${pct(res.valAccuracy)} on ${val.length} rows of a; ${numClasses} classes)`,
    options: { val_fraction: fraction, c_grid: cGrid, max_iter: maxIter, tol },
    extra: {
      labels: { a: describeInput(labelsA), b: describeInput(labelsB) },
      best_c: res.bestC,
      val_accuracy: res.valAccuracy,
      n_train: train.length,
      n_val: val.length,
      num_classes: numClasses,
      sweep: res.sweep.map((s) => ({ c: s.c, val_accuracy: s.valAccuracy, iterations: s.iterations, converged: s.converged })),
    },
  };
}

/** Prefixes a reader's error with the flag it came from, so the message says which input to fix. */
function read<T>(flag: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new Error(`${flag}: ${(err as Error).message}`);
  }
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      key: { type: 'string' },
      'key-a': { type: 'string' },
      'key-b': { type: 'string' },
      column: { type: 'string' },
      'column-a': { type: 'string' },
      'column-b': { type: 'string' },
      json: { type: 'boolean' },
      eps: { type: 'string' },
      k: { type: 'string' },
      hsic: { type: 'string' },
      kernel: { type: 'string' },
      'rbf-sigma': { type: 'string' },
      normalize: { type: 'string' },
      'label-column': { type: 'string' },
      'labels-a': { type: 'string' },
      'labels-b': { type: 'string' },
      'val-fraction': { type: 'string' },
      'c-grid': { type: 'string' },
      'max-iter': { type: 'string' },
      tol: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const metric = positionals[0];
  if (metric === undefined || positionals.length !== 1) {
    console.error(`difflab metrics: name one metric (${METRICS.join(', ')})\n\n${usage}`);
    return 2;
  }
  if (!(METRICS as readonly string[]).includes(metric)) {
    throw new Error(`unknown metric '${metric}'; ${didYouMean(metric, METRICS)}metrics: ${METRICS.join(', ')} (difflab metrics --help)`);
  }
  const name = metric as MetricName;
  for (const [option, metrics] of Object.entries(ONLY_FOR)) {
    if ((values as Values)[option] !== undefined && !metrics.includes(name)) throw new Error(`--${option} applies to ${metrics.join(', ')}, not ${name}`);
  }
  if (!values.a || !values.b) throw new Error(`metrics ${name} needs --a FILE and --b FILE (difflab metrics --help)`);
  const labelColumn = values['label-column'];
  if (name === 'linprobe' && labelColumn === undefined && (values['labels-a'] === undefined || values['labels-b'] === undefined)) {
    throw new Error('linprobe needs labels: --label-column NAME (an array or column of both feature files) or --labels-a FILE --labels-b FILE');
  }
  // A label array/column inside the feature files is never taken as a feature.
  const exclude = name === 'linprobe' && labelColumn !== undefined ? [labelColumn] : [];
  // --key and --column apply to whichever side is a .npz or a table; --key-a, --column-b, … name one side and must fit it.
  const features = (side: 'a' | 'b'): FeatureFile =>
    read(`--${side}`, () => {
      const path = values[side]!;
      const format = sniffFeatureFile(path);
      const key = values[`key-${side}`] ?? (format === 'npz' ? values.key : undefined);
      const column = values[`column-${side}`] ?? (format === 'parquet' || format === 'arrow' ? values.column : undefined);
      return readFeatureFile(path, { key, column, exclude });
    });
  const a = features('a');
  const b = features('b');

  let result: Result;
  if (name === 'fid') result = fid(a, b, values);
  else if (name === 'linprobe') result = linprobe(a, b, values, labelsFor('--a', a, values), labelsFor('--b', b, values));
  else result = alignment(name, a, b, values);

  if (values.json) {
    console.log(
      JSON.stringify({
        metric: name,
        value: result.value,
        n_a: a.rows,
        n_b: b.rows,
        dims: { a: a.dim, b: b.dim },
        inputs: { a: describeInput(a), b: describeInput(b) },
        options: result.options,
        ...result.extra,
      }),
    );
  } else {
    console.log(`${LABELS[name]} ${result.human} — a: ${a.rows} × ${a.dim} from ${source(a)}; b: ${b.rows} × ${b.dim} from ${source(b)}`);
  }
  return 0;
}
