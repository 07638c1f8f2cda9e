import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Rng } from '@difflab/core-tensor';
import { embeddingVector, tableFromColumns, writeArrowIpc, writeParquet } from '@difflab/data';
import {
  cka,
  cknna,
  frechetDistance,
  gaussianStats,
  l2NormalizeRows,
  linearProbe,
  mutualKnn,
  writeNpy,
  writeNpz,
  type FeatureMatrix,
} from '@difflab/metrics';
import { probeValidationRows, run } from '../src/commands/metrics.js';

const bin = fileURLToPath(new URL('../bin/difflab.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'cli-metrics-'));
const file = (name: string) => join(dir, name);

const rng = new Rng(7);
const N = 120;
/** a: N×8 features; b: the same inputs seen through another 6-d "network"; c: 90 other samples of a's kind. */
const a: FeatureMatrix & { data: Float32Array } = { rows: N, dim: 8, data: rng.normalArray(N * 8) };
const b: FeatureMatrix & { data: Float32Array } = { rows: N, dim: 6, data: new Float32Array(N * 6) };
for (let i = 0; i < N; i++) for (let j = 0; j < 6; j++) b.data[i * 6 + j] = a.data[i * 8 + j]! * (j + 1) + 0.3 * a.data[i * 8 + j + 2]! ** 2;
const c: FeatureMatrix & { data: Float32Array } = { rows: 90, dim: 8, data: rng.normalArray(90 * 8, 0.2, 1.3) };
/** Class of a sample: from its features, so a probe has something to find. */
const labelsOf = (x: FeatureMatrix) => Array.from({ length: x.rows }, (_, i) => (x.data[i * x.dim]! > 0 ? 1 : 0) + (x.data[i * x.dim + 1]! > 0.5 ? 2 : 0));

beforeAll(async () => {
  await writeNpy(file('a.npy'), { shape: [N, 8], data: a.data });
  await writeNpz(file('b.npz'), { meta: { shape: [N], data: new Float64Array(N) }, feats: { shape: [N, 6], data: b.data } });
  // b again as an Arrow IPC table of six float columns.
  const cols: Record<string, Float32Array> = {};
  for (let j = 0; j < 6; j++) cols[`b${j}`] = Float32Array.from({ length: N }, (_, i) => b.data[i * 6 + j]!);
  await writeArrowIpc(file('b.arrow'), tableFromColumns(cols));
  await writeParquet(file('c.parquet'), tableFromColumns({ embedding: embeddingVector(c.data, c.rows, c.dim), label: Int32Array.from(labelsOf(c)) }));
  await writeNpz(file('a-labelled.npz'), { x: { shape: [N, 8], data: a.data }, label: { shape: [N], data: Int32Array.from(labelsOf(a)) } });
  await writeNpy(file('a-labels.npy'), { shape: [N], data: Int32Array.from(labelsOf(a)) });
  await writeNpy(file('c-labels.npy'), { shape: [c.rows], data: BigInt64Array.from(labelsOf(c), BigInt) });
  await writeNpy(file('short-labels.npy'), { shape: [N - 1], data: new Int32Array(N - 1) });
  await writeNpy(file('ints.npy'), { shape: [N, 8], data: new Int32Array(N * 8) });
});

afterEach(() => vi.restoreAllMocks());

/** Runs `difflab metrics …` in this process; resolves to what it printed on stdout. */
async function metrics(...args: string[]): Promise<string> {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line));
  expect(await run(args)).toBe(0);
  return lines.join('\n');
}
const json = async (...args: string[]) => JSON.parse(await metrics(...args, '--json')) as Record<string, unknown>;

describe('difflab metrics: the value is the metric function’s on the file’s features', () => {
  it('fid between a .npy and a Parquet embedding column (different N)', async () => {
    const out = await json('fid', '--a', file('a.npy'), '--b', file('c.parquet'));
    expect(out.value).toBe(frechetDistance(gaussianStats(a.data, N, 8), gaussianStats(c.data, 90, 8)));
    expect(out).toMatchObject({
      metric: 'fid',
      n_a: N,
      n_b: 90,
      dims: { a: 8, b: 8 },
      inputs: { a: { path: file('a.npy'), format: 'npy', field: '' }, b: { path: file('c.parquet'), format: 'parquet', field: 'embedding' } },
    });
  });

  it('cknna, cka and mutual-knn between a .npy and an .npz array or an Arrow table of float columns', async () => {
    const [na, nb] = [l2NormalizeRows(a), l2NormalizeRows(b)];
    const k5 = await json('cknna', '--a', file('a.npy'), '--b', file('b.npz'), '--key', 'feats', '--k', '5');
    expect(k5.value).toBe(cknna(na, nb, { topk: 5 }));
    expect(k5).toMatchObject({ n_a: N, n_b: N, dims: { a: 8, b: 6 }, options: { k: 5, hsic: 'unbiased', normalize: 'l2' }, inputs: { b: { format: 'npz', field: 'feats' } } });
    expect((await json('cknna', '--a', file('a.npy'), '--b', file('b.arrow'))).value).toBe(cknna(na, nb, { topk: 10 }));
    const rbf = await json('cka', '--a', file('a.npy'), '--b', file('b.arrow'), '--kernel', 'rbf', '--rbf-sigma', '0.5', '--hsic', 'unbiased');
    expect(rbf.value).toBe(cka(na, nb, { kernel: 'rbf', rbfSigma: 0.5, unbiased: true }));
    expect(rbf).toMatchObject({ inputs: { b: { format: 'arrow', field: 'b0…b5 (6 columns)' } } });
    expect((await json('cka', '--a', file('a.npy'), '--b', file('b.arrow'))).value).toBe(cka(na, nb));
    expect((await json('mutual-knn', '--a', file('a.npy'), '--b', file('b.npz'), '--key-b', 'feats', '--normalize', 'none')).value).toBe(mutualKnn(a, b, { topk: 10 }));
  });

  it('linprobe: trained on a (every 5th row validates C), scored on b; labels from a column/array of each file or from label files', async () => {
    const split = probeValidationRows(N, 0.2);
    expect(split.val).toEqual(Array.from({ length: N / 5 }, (_, i) => 5 * i + 4));
    const ya = labelsOf(a);
    const rows = (idx: number[]): FeatureMatrix => ({ rows: idx.length, dim: 8, data: Float64Array.from(idx.flatMap((i) => Array.from(a.data.subarray(i * 8, i * 8 + 8)))) });
    const direct = linearProbe(
      { features: rows(split.train), labels: split.train.map((i) => ya[i]!) },
      { features: rows(split.val), labels: split.val.map((i) => ya[i]!) },
      { features: c, labels: labelsOf(c) },
      { numClasses: 4, cGrid: [0.01, 1] },
    );
    const sameFile = await json('linprobe', '--a', file('a-labelled.npz'), '--b', file('c.parquet'), '--label-column', 'label', '--c-grid', '0.01,1');
    expect(sameFile.value).toBe(direct.testAccuracy);
    expect(sameFile).toMatchObject({ best_c: direct.bestC, val_accuracy: direct.valAccuracy, n_train: 96, n_val: 24, num_classes: 4, inputs: { a: { field: 'x' }, b: { field: 'embedding' } } });
    expect(sameFile.labels).toMatchObject({ a: { field: 'label' }, b: { field: 'label' } });
    const labelFiles = await json('linprobe', '--a', file('a.npy'), '--b', file('c.parquet'), '--labels-a', file('a-labels.npy'), '--labels-b', file('c-labels.npy'), '--c-grid', '0.01,1');
    expect(labelFiles.value).toBe(direct.testAccuracy);
    expect(direct.testAccuracy).toBeGreaterThan(0.6);
  });

  it('prints one line with the value, N × D of each side and where they came from', async () => {
    const line = await metrics('cknna', '--a', file('a.npy'), '--b', file('b.npz'), '--key', 'feats');
    const value = cknna(l2NormalizeRows(a), l2NormalizeRows(b), { topk: 10 });
    expect(line).toBe(`CKNNA ${value.toPrecision(6)} (k 10, unbiased HSIC, rows L2-normalised) — a: ${N} × 8 from ${file('a.npy')}; b: ${N} × 6 from ${file('b.npz')} [feats]`);
    expect(await metrics('linprobe', '--a', file('a-labelled.npz'), '--b', file('c.parquet'), '--label-column', 'label', '--c-grid', '1')).toMatch(/^linear probe test top-1 \d+\.\d\d% on b \(best C 1: val top-1 \d+\.\d\d% on 24 rows of a; 4 classes\) — a: 120 × 8 .*; b: 90 × 8 /);
  });
});

describe('difflab metrics: bad input says which input and how to fix it', () => {
  const fails = (args: string[], ...parts: (string | RegExp)[]) =>
    Promise.all(parts.map((p) => expect(run(args)).rejects.toThrow(p)));

  it('a missing file, the wrong dtype, a wrong key or column', async () => {
    await fails(['fid', '--a', file('nope.npy'), '--b', file('a.npy')], `--a: ${file('nope.npy')}: no such file`);
    await fails(['fid', '--a', file('a.npy'), '--b', file('ints.npy')], `--b: ${file('ints.npy')} has dtype <i4; features must be float32 or float64 — convert with a.astype('float32')`);
    await fails(['cka', '--a', file('a.npy'), '--b', file('b.npz'), '--key', 'zz'], `--b: ${file('b.npz')}: no array 'zz'; the archive holds 'meta', 'feats' — pick one with --key`);
    // Without --key the first array, 'meta', is 1-D: the error says so.
    await fails(['cka', '--a', file('a.npy'), '--b', file('b.npz')], "array 'meta' has shape (120)");
    await fails(['fid', '--a', file('a.npy'), '--b', file('c.parquet'), '--column', 'emb'], `--b: ${file('c.parquet')}: no column 'emb'; columns: embedding (FixedSizeList[8]<Float32>), label (Int32)`);
    await fails(['fid', '--a', file('a.npy'), '--b', file('c.parquet'), '--column-b', 'label'], "column 'label' is Int32; feature columns must be float32 or float64");
  });

  it('mismatched dimensions or row counts', async () => {
    await fails(['fid', '--a', file('a.npy'), '--b', file('b.arrow')], '--a has 8 features per row and --b 6; FID compares features of one extractor');
    await fails(['cknna', '--a', file('a.npy'), '--b', file('c.parquet')], '--a has 120 rows and --b 90; CKNNA compares two representations of the same inputs, so row i of both files must describe input i');
    await fails(['linprobe', '--a', file('a.npy'), '--b', file('b.arrow'), '--labels-a', file('a-labels.npy'), '--labels-b', file('a-labels.npy')], '--a has 8 features per row and --b 6');
    await fails(['linprobe', '--a', file('a.npy'), '--b', file('c.parquet'), '--labels-a', file('short-labels.npy'), '--labels-b', file('c-labels.npy')], `holds 119 labels but --a ${file('a.npy')} has 120 rows`);
  });

  it('labels missing or of the wrong kind, options of another metric, an unknown metric', async () => {
    await fails(['linprobe', '--a', file('a.npy'), '--b', file('c.parquet')], 'linprobe needs labels: --label-column NAME');
    await fails(['linprobe', '--a', file('a.npy'), '--b', file('c.parquet'), '--label-column', 'label'], `--a ${file('a.npy')} is a .npy holding only features; give its labels with --labels-a FILE`);
    await fails(['linprobe', '--a', file('a-labelled.npz'), '--b', file('c.parquet'), '--label-column', 'klass'], `--a (labels): ${file('a-labelled.npz')}: no array 'klass'`);
    await fails(['linprobe', '--a', file('a.npy'), '--b', file('c.parquet'), '--labels-a', file('a.npy'), '--labels-b', file('c-labels.npy')], `--labels-a: ${file('a.npy')} has dtype <f4; labels must be integers`);
    await fails(['fid', '--a', file('a.npy'), '--b', file('a.npy'), '--k', '5'], '--k applies to cknna, mutual-knn, not fid');
    await fails(['cknna', '--a', file('a.npy'), '--b', file('a.npy'), '--normalize', 'unit'], "--normalize must be l2 or none, got 'unit'");
    await fails(['cknna', '--a', file('a.npy'), '--b', file('a.npy'), '--k', '200'], '--k must be an integer in [2, 119] for 120 samples, got 200');
    await fails(['cknn', '--a', file('a.npy'), '--b', file('a.npy')], "unknown metric 'cknn'; did you mean 'cknna'? metrics: fid, cknna, cka, mutual-knn, linprobe");
  });
});

describe('difflab metrics (the installed command)', () => {
  const difflab = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, 'metrics', ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    });

  it('prints JSON on stdout, and a one-line error with exit code 1 for bad input', async () => {
    const [ok, bad, help] = await Promise.all([
      difflab('mutual-knn', '--a', file('a.npy'), '--b', file('b.arrow'), '--k', '3', '--json'),
      difflab('fid', '--a', file('a.npy'), '--b', file('missing.parquet')),
      difflab('--help'),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).value).toBe(mutualKnn(l2NormalizeRows(a), l2NormalizeRows(b), { topk: 3 }));
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(`difflab: --b: ${file('missing.parquet')}: no such file; check the path (relative paths start at the current directory)`);
    expect(help.stdout).toContain('usage: difflab metrics <fid|cknna|cka|mutual-knn|linprobe> --a FILE --b FILE');
  });
});
