import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend, Rng } from '@difflab/core-tensor';
import { SpokenDigitsNet, writeNpy, writeNpz, writeWav, type NumericArray } from '@difflab/metrics';
import { run as data } from '../src/commands/data.js';
import { run as fad } from '../src/commands/fad.js';
import { run as fid } from '../src/commands/fid.js';
import { run as metrics } from '../src/commands/metrics.js';
import { run as probe } from '../src/commands/probe.js';

// Every metric command checks its inputs by class — non-finite values, mismatched widths, a
// covariance that is not symmetric PSD, too few rows, zero iterations, labels out of range — and
// answers with a non-zero exit, a message naming the input (file, array or flag) and nothing on
// stdout, never a number. Commands run in this process through their run(args).

const dir = mkdtempSync(join(tmpdir(), 'cli-validation-'));
const file = (name: string) => join(dir, name);
const rng = new Rng(11);
const [N, D] = [40, 4];

/** N×D features whose first column carries the class (alternating 0, 1), so a probe has signal. */
function features(rows = N, dim = D, poison?: { at: number; value: number }): Float32Array {
  const x = rng.normalArray(rows * dim);
  for (let i = 0; i < rows; i++) x[i * dim] = x[i * dim]! + 3 * (i % 2);
  if (poison) x[poison.at] = poison.value;
  return x;
}
const alternating = (rows: number, offset = 0) => Int32Array.from({ length: rows }, (_, i) => (i % 2) + offset);

function matrix(d: number, entries: (i: number, j: number) => number): Float64Array {
  return Float64Array.from({ length: d * d }, (_, k) => entries(Math.floor(k / d), k % d));
}
const identity = (d: number, scale = 1) => matrix(d, (i, j) => (i === j ? scale : 0));

async function stats(name: string, mu: Float64Array, sigma: Float64Array): Promise<void> {
  await writeNpz(file(name), { mu: { shape: [mu.length], data: mu }, sigma: { shape: [mu.length, mu.length], data: sigma } });
}

/** A probe archive; `change` replaces arrays (x_* as [rows, dim] float32, y_* as int32). */
async function probeArchive(name: string, change: Record<string, NumericArray> = {}): Promise<void> {
  const splits: Record<string, NumericArray> = {};
  for (const [split, rows] of [['train', 30], ['val', 10], ['test', 10]] as const) {
    splits[`x_${split}`] = { shape: [rows, D], data: features(rows) };
    splits[`y_${split}`] = { shape: [rows], data: alternating(rows) };
  }
  await writeNpz(file(name), { ...splits, ...change });
}

beforeAll(async () => {
  await stats('good-stats.npz', new Float64Array(D), identity(D));
  await stats('nan-mu.npz', Float64Array.of(0, NaN, 0, 0), identity(D));
  await stats('inf-sigma.npz', new Float64Array(D), matrix(D, (i, j) => (i === 2 && j === 3 ? Infinity : i === j ? 1 : 0)));
  await stats('neg-sigma.npz', new Float64Array(D), identity(D, -1));
  await stats('asym-sigma.npz', new Float64Array(D), matrix(D, (i, j) => (i === j ? 1 : i === 0 && j === 1 ? 0.5 : 0)));
  await stats('wide-stats.npz', new Float64Array(D + 1), identity(D + 1));

  await writeNpy(file('good.npy'), { shape: [N, D], data: features() });
  await writeNpy(file('nan.npy'), { shape: [N, D], data: features(N, D, { at: 13, value: NaN }) });
  await writeNpy(file('inf.npy'), { shape: [N, D], data: features(N, D, { at: 6, value: -Infinity }) });
  await writeNpy(file('wide.npy'), { shape: [N, D + 1], data: features(N, D + 1) });
  await writeNpy(file('one.npy'), { shape: [1, D], data: features(1) });
  await writeNpy(file('three.npy'), { shape: [3, D], data: features(3) });
  await writeNpy(file('labels.npy'), { shape: [N], data: alternating(N) });
  await writeNpy(file('labels-1based.npy'), { shape: [N], data: alternating(N, 1) });
  await writeNpy(file('labels-negative.npy'), { shape: [N], data: Int32Array.from(alternating(N), (y, i) => (i === 7 ? -1 : y)) });
  // Class 2 once: in a's training rows it has one row.
  await writeNpy(file('labels-lonely.npy'), { shape: [N], data: Int32Array.from(alternating(N), (y, i) => (i === 0 ? 2 : y)) });

  await probeArchive('probe-good.npz');
  await probeArchive('probe-nan.npz', { x_train: { shape: [30, D], data: features(30, D, { at: 41, value: NaN }) } });
  await probeArchive('probe-inf.npz', { x_val: { shape: [10, D], data: features(10, D, { at: 2, value: Infinity }) } });
  await probeArchive('probe-wide.npz', { x_test: { shape: [10, D + 1], data: features(10, D + 1) } });
  await probeArchive('probe-one-row.npz', { x_train: { shape: [1, D], data: features(1) }, y_train: { shape: [1], data: Int32Array.of(0) } });
  await probeArchive('probe-negative-label.npz', { y_test: { shape: [10], data: Int32Array.from(alternating(10), (y, i) => (i === 4 ? -1 : y)) } });
  // A label of 1e9 used to size a 1e9-class model ("Invalid typed array length").
  await probeArchive('probe-huge-label.npz', { y_train: { shape: [30], data: Int32Array.from(alternating(30), (y, i) => (i < 2 ? 1e9 : y)) } });
  await probeArchive('probe-one-class.npz', { y_train: { shape: [30], data: new Int32Array(30) }, y_val: { shape: [10], data: new Int32Array(10) }, y_test: { shape: [10], data: new Int32Array(10) } });

  const images = (n: number, poison?: number) => Float32Array.from({ length: n * 64 * 64 }, (_, i) => (i === poison ? NaN : Math.sin(i)));
  await writeNpy(file('spectrograms-nan.npy'), { shape: [3, 64, 64, 1], data: images(3, 64 * 64 + 100) });
  await writeNpy(file('spectrograms-one.npy'), { shape: [1, 64, 64, 1], data: images(1) });

  // Audio: a set whose second clip holds a NaN sample, and the tiny embedder fad needs to get that far.
  const clip = (poison?: number) => ({ sampleRate: 16000, samples: Float32Array.from({ length: 16000 }, (_, i) => (i === poison ? NaN : 0.3 * Math.sin(i / 7))) });
  for (const set of ['audio-good', 'audio-nan']) mkdirSync(file(set));
  await writeWav(join(file('audio-good'), 'a.wav'), clip(), 'float32');
  await writeWav(join(file('audio-good'), 'b.wav'), clip(), 'float32');
  await writeWav(join(file('audio-nan'), 'a.wav'), clip(), 'float32');
  await writeWav(join(file('audio-nan'), 'b.wav'), clip(4000), 'float32');
  await initBackend();
  const net = SpokenDigitsNet.init(0);
  await net.save(file('embedder.safetensors'));
  net.dispose();
});

afterEach(() => vi.restoreAllMocks());

type Run = (args: string[]) => Promise<number>;

/** Runs a command in this process: exit code (1 for a thrown error, as bin/difflab does), stdout, and the error text. */
async function attempt(command: Run, args: string[]): Promise<{ code: number; stdout: string; error: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void stdout.push(parts.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void stderr.push(parts.join(' ')));
  let code: number;
  try {
    code = await command(args);
  } catch (err) {
    code = 1;
    stderr.push((err as Error).message);
  } finally {
    vi.restoreAllMocks();
  }
  return { code, stdout: stdout.join('\n'), error: stderr.join('\n') };
}

interface BadInput {
  what: string;
  command: Run;
  args: () => string[];
  /** What the message must name: the file, array or flag to fix. */
  names: (string | RegExp)[];
}

const labelled = (a: string, b: string, labelsA = 'labels.npy', labelsB = 'labels.npy') => ['--a', file(a), '--b', file(b), '--labels-a', file(labelsA), '--labels-b', file(labelsB)];

const BAD_INPUTS: BadInput[] = [
  // fid compare: statistics files
  { what: 'fid compare: NaN in mu', command: fid, args: () => ['compare', file('good-stats.npz'), file('nan-mu.npz')], names: [file('nan-mu.npz'), "'mu'", 'NaN'] },
  { what: 'fid compare: Inf in sigma', command: fid, args: () => ['compare', file('inf-sigma.npz'), file('good-stats.npz')], names: [file('inf-sigma.npz'), "'sigma'", 'row 2, column 3'] },
  { what: 'fid compare: sigma = −I (not PSD)', command: fid, args: () => ['compare', file('good-stats.npz'), file('neg-sigma.npz')], names: [file('neg-sigma.npz'), "'sigma'", 'not positive semi-definite'] },
  { what: 'fid compare: asymmetric sigma', command: fid, args: () => ['compare', file('asym-sigma.npz'), file('good-stats.npz')], names: [file('asym-sigma.npz'), "'sigma'", 'not symmetric'] },
  { what: 'fid compare: mismatched widths', command: fid, args: () => ['compare', file('good-stats.npz'), file('wide-stats.npz')], names: [file('good-stats.npz'), file('wide-stats.npz')] },
  { what: 'fid compare: negative --eps', command: fid, args: () => ['compare', file('good-stats.npz'), file('good-stats.npz'), '--eps', '-1'], names: ['--eps'] },
  // fid stats: a feature file
  { what: 'fid stats: NaN features', command: fid, args: () => ['stats', file('nan.npy'), '--out', file('never.npz')], names: [file('nan.npy'), 'row 3, column 1'] },
  { what: 'fid stats: Inf features', command: fid, args: () => ['stats', file('inf.npy'), '--out', file('never.npz')], names: [file('inf.npy'), '-Infinity'] },
  { what: 'fid stats: one row', command: fid, args: () => ['stats', file('one.npy'), '--out', file('never.npz')], names: [file('one.npy'), 'at least 2'] },
  // metrics fid
  { what: 'metrics fid: NaN features', command: metrics, args: () => ['fid', '--a', file('nan.npy'), '--b', file('good.npy')], names: ['--a', file('nan.npy')] },
  { what: 'metrics fid: Inf features', command: metrics, args: () => ['fid', '--a', file('good.npy'), '--b', file('inf.npy')], names: ['--b', file('inf.npy')] },
  { what: 'metrics fid: mismatched widths', command: metrics, args: () => ['fid', '--a', file('good.npy'), '--b', file('wide.npy')], names: ['--a', '--b'] },
  { what: 'metrics fid: one row', command: metrics, args: () => ['fid', '--a', file('good.npy'), '--b', file('one.npy')], names: ['--b', file('one.npy')] },
  // metrics cknna / cka / mutual-knn
  ...(['cknna', 'cka', 'mutual-knn'] as const).flatMap((m): BadInput[] => [
    { what: `metrics ${m}: NaN features`, command: metrics, args: () => [m, '--a', file('good.npy'), '--b', file('nan.npy')], names: ['--b', file('nan.npy')] },
    { what: `metrics ${m}: Inf features`, command: metrics, args: () => [m, '--a', file('inf.npy'), '--b', file('good.npy')], names: ['--a', file('inf.npy')] },
    { what: `metrics ${m}: mismatched rows`, command: metrics, args: () => [m, '--a', file('good.npy'), '--b', file('three.npy')], names: ['--a', '--b'] },
    { what: `metrics ${m}: one row`, command: metrics, args: () => [m, '--a', file('one.npy'), '--b', file('one.npy')], names: [file('one.npy'), 'at least'] },
  ]),
  { what: 'metrics cknna: three rows (unbiased HSIC needs 4)', command: metrics, args: () => ['cknna', '--a', file('three.npy'), '--b', file('three.npy'), '--k', '2'], names: [file('three.npy'), 'at least 4'] },
  { what: 'metrics cknna: k ≥ rows', command: metrics, args: () => ['cknna', '--a', file('good.npy'), '--b', file('good.npy'), '--k', '40'], names: ['--k', '[2, 39]'] },
  { what: 'metrics mutual-knn: k ≥ rows', command: metrics, args: () => ['mutual-knn', '--a', file('three.npy'), '--b', file('three.npy'), '--k', '3'], names: ['--k', '[1, 2]'] },
  // metrics linprobe
  { what: 'metrics linprobe: NaN features', command: metrics, args: () => ['linprobe', ...labelled('nan.npy', 'good.npy')], names: ['--a', file('nan.npy')] },
  { what: 'metrics linprobe: mismatched widths', command: metrics, args: () => ['linprobe', ...labelled('good.npy', 'wide.npy')], names: ['--a', '--b'] },
  { what: 'metrics linprobe: zero iterations', command: metrics, args: () => ['linprobe', ...labelled('good.npy', 'good.npy'), '--max-iter', '0'], names: ['--max-iter'] },
  { what: 'metrics linprobe: a negative label', command: metrics, args: () => ['linprobe', ...labelled('good.npy', 'good.npy', 'labels-negative.npy')], names: ['--labels-a', file('labels-negative.npy'), 'label 7 is -1'] },
  { what: 'metrics linprobe: 1-based labels', command: metrics, args: () => ['linprobe', ...labelled('good.npy', 'good.npy', 'labels-1based.npy', 'labels-1based.npy')], names: ['--labels-a', file('labels-1based.npy'), 'class 0'] },
  { what: 'metrics linprobe: a class with one training row', command: metrics, args: () => ['linprobe', ...labelled('good.npy', 'good.npy', 'labels-lonely.npy')], names: ['--labels-a', file('labels-lonely.npy'), 'class 2 has 1 training row'] },
  // probe <features.npz>
  { what: 'probe: NaN training features', command: probe, args: () => [file('probe-nan.npz')], names: [file('probe-nan.npz'), "'x_train'", 'row 10, column 1'] },
  { what: 'probe: Inf validation features', command: probe, args: () => [file('probe-inf.npz')], names: [file('probe-inf.npz'), "'x_val'"] },
  { what: 'probe: mismatched widths', command: probe, args: () => [file('probe-wide.npz')], names: ["'x_test'", "'x_train'"] },
  { what: 'probe: one training row', command: probe, args: () => [file('probe-one-row.npz')], names: [file('probe-one-row.npz'), "'x_train'"] },
  { what: 'probe: zero iterations', command: probe, args: () => [file('probe-good.npz'), '--max-iter', '0'], names: ['--max-iter'] },
  { what: 'probe: a negative label', command: probe, args: () => [file('probe-negative-label.npz')], names: [file('probe-negative-label.npz'), "'y_test'", 'label 4 is -1'] },
  { what: 'probe: a label of 1e9', command: probe, args: () => [file('probe-huge-label.npz')], names: [file('probe-huge-label.npz'), "'y_train'", 'class'] },
  { what: 'probe: one class', command: probe, args: () => [file('probe-one-class.npz')], names: ["'y_train'", 'at least 2 classes'] },
  // fad
  { what: 'fad spectrograms: NaN images', command: fad, args: () => ['spectrograms', file('spectrograms-nan.npy')], names: [file('spectrograms-nan.npy'), 'row 1, column 100'] },
  { what: 'fad spectrograms: one image', command: fad, args: () => ['spectrograms', file('spectrograms-one.npy')], names: [file('spectrograms-one.npy'), 'at least 2'] },
  {
    what: 'fad: a clip with a NaN sample',
    command: fad,
    args: () => [file('audio-good'), file('audio-nan'), '--embedder', 'spoken-digits', '--weights', file('embedder.safetensors')],
    names: [join(file('audio-nan'), 'b.wav'), 'sample 4000'],
  },
];

describe('every metric command refuses bad input: non-zero exit, the input named, no number printed', () => {
  it.each(BAD_INPUTS.map((c) => [c.what, c] as const))('%s', async (_, c) => {
    const r = await attempt(c.command, c.args());
    expect(r.code, `exit code; stdout: ${r.stdout}`).not.toBe(0);
    for (const name of c.names) expect(r.error).toContain(name);
    expect(r.stdout).toBe('');
  });

  it('the same commands accept the good inputs (so each case above fails for its own reason)', async () => {
    for (const [command, args] of [
      [fid, ['compare', file('good-stats.npz'), file('good-stats.npz')]],
      [metrics, ['fid', '--a', file('good.npy'), '--b', file('good.npy')]],
      [metrics, ['cknna', '--a', file('good.npy'), '--b', file('good.npy'), '--k', '5']],
      [metrics, ['linprobe', ...labelled('good.npy', 'good.npy'), '--c-grid', '1']],
      [probe, [file('probe-good.npz'), '--c-grid', '1']],
    ] as [Run, string[]][]) {
      const r = await attempt(command, args);
      expect(r.code, r.error).toBe(0);
      expect(r.stdout).toMatch(/\d/);
    }
    expect(existsSync(file('never.npz'))).toBe(false);
  });
});

describe('the defects of issue #19, one by one', () => {
  it('fid compare with NaN in mu errors instead of printing NaN', async () => {
    const r = await attempt(fid, ['compare', file('good-stats.npz'), file('nan-mu.npz')]);
    expect(r.code).toBe(1);
    expect(r.error).toContain(`${file('nan-mu.npz')}: 'mu': value at index 1 is NaN`);
    expect(r.stdout).not.toContain('NaN');
  });

  it('fid compare with sigma = −I errors instead of printing the value for +I', async () => {
    const r = await attempt(fid, ['compare', file('good-stats.npz'), file('neg-sigma.npz')]);
    expect(r.code).toBe(1);
    expect(r.error).toContain(`${file('neg-sigma.npz')}: 'sigma': not positive semi-definite — smallest eigenvalue -1.000`);
  });

  it('probe refuses one training row and --max-iter 0 instead of reporting accuracies', async () => {
    const one = await attempt(probe, [file('probe-one-row.npz')]);
    expect(one.code).toBe(1);
    expect(one.error).toContain(`${file('probe-one-row.npz')}: 'x_train': has 1 row; training a probe needs at least 2`);
    const zero = await attempt(probe, [file('probe-good.npz'), '--max-iter', '0']);
    expect(zero.code).toBe(1);
    expect(zero.error).toContain("--max-iter must be a positive integer (L-BFGS iterations per C), got '0'");
  });

  it('probe names NaN features and out-of-range labels instead of L-BFGS or a typed-array length', async () => {
    const nan = await attempt(probe, [file('probe-nan.npz')]);
    expect(nan.error).toContain(`${file('probe-nan.npz')}: 'x_train': value at row 10, column 1 is NaN`);
    expect(nan.error).not.toMatch(/L-BFGS/);
    const huge = await attempt(probe, [file('probe-huge-label.npz')]);
    expect(huge.error).toContain(`${file('probe-huge-label.npz')}: 'y_train': class 2 has 0 training rows (labels run 0..1000000000)`);
    expect(huge.error).not.toMatch(/typed array/i);
  });
});

describe('difflab data info', () => {
  it('exits non-zero when the data is missing, naming the files and the fix', async () => {
    const empty = join(dir, 'no-data');
    mkdirSync(empty);
    const r = await attempt(data, ['info', 'fashion-mnist', '--dir', empty]);
    expect(r.code).not.toBe(0);
    expect(r.error).toContain(join(empty, 'train-images-idx3-ubyte'));
    expect(r.error).toMatch(/missing/);
    expect(r.error).toMatch(/Fix: /);
  });

  it('exits non-zero when a file is corrupt, naming it and the fix', async () => {
    const corrupt = join(dir, 'corrupt-data');
    mkdirSync(corrupt);
    for (const name of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
      writeFileSync(join(corrupt, `${name}.gz`), Uint8Array.from([0x1f, 0x8b, 8, 0, 9]));
    }
    const r = await attempt(data, ['info', 'fashion-mnist', '--dir', corrupt, '--json']);
    expect(r.code).not.toBe(0);
    expect(r.error).toContain(join(corrupt, 'train-labels-idx1-ubyte.gz'));
    expect(r.error).toMatch(/corrupt/);
    expect(r.error).toMatch(/Fix: /);
  });

  it('data fetch with --dir checks what it points at instead of reporting success', async () => {
    const r = await attempt(data, ['fetch', 'fashion-mnist', '--dir', join(dir, 'no-data')]);
    expect(r.code).not.toBe(0);
    expect(r.error).toContain(join(dir, 'no-data', 't10k-labels-idx1-ubyte'));
    expect(r.error).toMatch(/Fix: /);
  });
});
