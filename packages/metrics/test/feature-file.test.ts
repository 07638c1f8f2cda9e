import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as arrow from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { embeddingVector, writeArrowIpc, writeParquet } from '@difflab/data';
import { MetricFileError, readFeatureFile, readLabelFile, sniffFeatureFile, writeNpy, writeNpz } from '../src/index.js';

const FIXTURES = fileURLToPath(new URL('./feature-fixtures/', import.meta.url));
const fixture = (name: string) => join(FIXTURES, name);
const dir = mkdtempSync(join(tmpdir(), 'feature-file-'));
const tmp = (name: string) => join(dir, name);

/** The fixtures' values (make_feature_fixtures.py): exact in binary, so equal in float32 and float64. */
const ROWS = 12;
const DIM = 5;
const value = (i: number, j: number) => ((7 * i + 13 * j) % 17) / 8 - 1;
const expected = Float64Array.from({ length: ROWS * DIM }, (_, k) => value(Math.floor(k / DIM), k % DIM));
const labels = Array.from({ length: ROWS }, (_, i) => i % 3);

const f32 = Float32Array.from(expected);

// Tables several tests read: an embedding table (FixedSizeList<Float32> + an integer label column)
// as Parquet, Arrow IPC file and Arrow IPC stream; a List<Float64> table in two record batches.
beforeAll(async () => {
  const table = new arrow.Table({ id: arrow.vectorFromArray(labels.map(String)), embedding: embeddingVector(f32, ROWS, DIM), label: arrow.vectorFromArray(Int32Array.from(labels)) });
  await writeParquet(tmp('emb.parquet'), table);
  await writeArrowIpc(tmp('emb.arrow'), table);
  writeFileSync(tmp('emb.arrows'), arrow.tableToIPC(table, 'stream'));
  const rows = Array.from({ length: ROWS }, (_, i) => Array.from(expected.subarray(i * DIM, (i + 1) * DIM)));
  const type = new arrow.List(new arrow.Field('item', new arrow.Float64(), true));
  const batch = (from: number, to: number) => new arrow.Table({ feats: arrow.vectorFromArray(rows.slice(from, to), type) }).batches[0]!;
  const lists = new arrow.Table([batch(0, 5), batch(5, ROWS)]);
  expect(lists.getChild('feats')!.data).toHaveLength(2);
  await writeArrowIpc(tmp('list.arrow'), lists);
  await writeParquet(tmp('list.parquet'), lists);
});

/** Expects `f` to throw a MetricFileError (or the data package's FileFormatError) whose message contains every part. */
function throwsWith(f: () => unknown, ...parts: string[]): void {
  let err: Error | undefined;
  try {
    f();
  } catch (e) {
    err = e as Error;
  }
  expect(err, `expected an error containing ${parts.join(' … ')}`).toBeDefined();
  for (const p of parts) expect(err!.message).toContain(p);
}

describe('readFeatureFile: files NumPy wrote (committed fixtures)', () => {
  it('reads a float32 .npy', () => {
    const f = readFeatureFile(fixture('feats_f4.npy'));
    expect([f.rows, f.dim, f.format, f.field]).toEqual([ROWS, DIM, 'npy', '']);
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f.data)).toEqual(Array.from(expected));
  });

  it('reads the first array of a compressed .npz (savez_compressed, ZIP64 members), or the one named by key', () => {
    const first = readFeatureFile(fixture('feats.npz'));
    expect([first.rows, first.dim, first.format, first.field]).toEqual([ROWS, DIM, 'npz', 'feats']);
    expect(first.data).toEqual(expected);
    const labelFile = readLabelFile(fixture('feats.npz'), { key: 'labels' });
    expect(labelFile.labels).toEqual(labels);
    expect(labelFile.field).toBe('labels');
  });

  it('names the dtype and the fix for integer features, and the shape for token features', () => {
    throwsWith(() => readFeatureFile(fixture('ints.npy')), 'ints.npy has dtype <i4', "a.astype('float32')");
    throwsWith(() => readFeatureFile(fixture('feats.npz'), { key: 'tokens' }), "array 'tokens' has shape (12, 2, 5)", 'a.mean(axis=1)');
    throwsWith(() => readFeatureFile(fixture('feats.npz'), { key: 'labels' }), "array 'labels' has dtype <i8");
    throwsWith(() => readLabelFile(fixture('feats.npz'), { key: 'feats' }), "array 'feats' has dtype <f8", 'labels must be integers');
  });
});

describe('readFeatureFile: round trips through the writers', () => {
  it('.npy float32 and float64 come back bit-exact with their dtype', async () => {
    await writeNpy(tmp('a32.npy'), { shape: [ROWS, DIM], data: f32 });
    await writeNpy(tmp('a64.npy'), { shape: [ROWS, DIM], data: expected });
    const a32 = readFeatureFile(tmp('a32.npy'));
    const a64 = readFeatureFile(tmp('a64.npy'));
    expect(a32.data).toEqual(f32);
    expect(a64.data).toEqual(expected);
    expect(sniffFeatureFile(tmp('a64.npy'))).toBe('npy');
  });

  it('.npz (stored): the first array not excluded, or the named one', async () => {
    await writeNpz(tmp('labelled.npz'), { y: { shape: [ROWS], data: Int32Array.from(labels) }, x: { shape: [ROWS, DIM], data: expected }, z: { shape: [ROWS, 1], data: new Float32Array(ROWS) } });
    expect(readFeatureFile(tmp('labelled.npz'), { exclude: ['y'] }).field).toBe('x');
    expect(readFeatureFile(tmp('labelled.npz'), { key: 'z' }).dim).toBe(1);
    expect(readLabelFile(tmp('labelled.npz')).labels).toEqual(labels);
    throwsWith(() => readFeatureFile(tmp('labelled.npz'), { key: 'feats' }), "labelled.npz: no array 'feats'", "'y', 'x', 'z'", '--key');
  });

  it('Parquet and Arrow IPC: a FixedSizeList<Float32> column, and labels from an integer column', () => {
    for (const [name, format] of [['emb.parquet', 'parquet'], ['emb.arrow', 'arrow'], ['emb.arrows', 'arrow']] as const) {
      const f = readFeatureFile(tmp(name));
      expect([f.rows, f.dim, f.format, f.field], name).toEqual([ROWS, DIM, format, 'embedding']);
      expect(f.data, name).toEqual(f32);
      expect(readLabelFile(tmp(name)).labels, name).toEqual(labels);
      expect(readLabelFile(tmp(name), { column: 'label' }).field).toBe('label');
    }
  });

  it('a List<Float64> column, across several record batches', () => {
    for (const name of ['list.arrow', 'list.parquet']) {
      const f = readFeatureFile(tmp(name));
      expect([f.rows, f.dim, f.field]).toEqual([ROWS, DIM, 'feats']);
      expect(f.data).toBeInstanceOf(Float64Array);
      expect(f.data).toEqual(expected);
    }
  });

  it('without a list column, every float column is one feature (the label column left out); --column picks some', async () => {
    const cols: Record<string, arrow.Vector> = {};
    for (let j = 0; j < DIM; j++) cols[`f${j}`] = arrow.vectorFromArray(Float64Array.from({ length: ROWS }, (_, i) => value(i, j)));
    cols.label = arrow.vectorFromArray(Float64Array.from(labels));
    await writeParquet(tmp('wide.parquet'), new arrow.Table(cols));
    const all = readFeatureFile(tmp('wide.parquet'), { exclude: ['label'] });
    expect([all.rows, all.dim, all.field]).toEqual([ROWS, DIM, 'f0…f4 (5 columns)']);
    expect(all.data).toEqual(expected);
    const two = readFeatureFile(tmp('wide.parquet'), { column: 'f1, f3' });
    expect([two.dim, two.field]).toEqual([2, 'f1,f3']);
    expect(Array.from(two.data.subarray(0, 2))).toEqual([value(0, 1), value(0, 3)]);
    // A float label column is no label column.
    throwsWith(() => readLabelFile(tmp('wide.parquet'), { column: 'label' }), "label column 'label' is Float64", 'labels must be integers');
  });
});

describe('readFeatureFile: bad input names the file, the field and the fix', () => {
  it('a missing file, a directory, a file of another kind', () => {
    throwsWith(() => readFeatureFile(tmp('nope.npy')), 'nope.npy: no such file');
    throwsWith(() => readFeatureFile(dir), 'is a directory');
    writeFileSync(tmp('features.csv'), 'a,b\n1,2\n');
    throwsWith(() => readFeatureFile(tmp('features.csv')), 'features.csv: not a feature file', 'np.save');
    expect(() => readFeatureFile(tmp('nope.npy'))).toThrow(MetricFileError);
  });

  it('shapes that are not N×D', async () => {
    await writeNpy(tmp('vec.npy'), { shape: [ROWS], data: new Float32Array(ROWS) });
    throwsWith(() => readFeatureFile(tmp('vec.npy')), 'vec.npy has shape (12)', 'a[:, None]');
  });

  it('options that do not fit the format', async () => {
    throwsWith(() => readFeatureFile(fixture('feats_f4.npy'), { key: 'x' }), '--key applies to .npz');
    throwsWith(() => readFeatureFile(fixture('feats.npz'), { column: 'x' }), '--column applies to Parquet/Arrow', '--key');
    throwsWith(() => readFeatureFile(tmp('emb.parquet'), { key: 'x' }), 'is Parquet', '--column');
  });

  it('a missing, non-float, ragged, null or ambiguous column', async () => {
    throwsWith(() => readFeatureFile(tmp('emb.parquet'), { column: 'emb' }), "emb.parquet: no column 'emb'", 'embedding (FixedSizeList[5]<Float32>), label (Int32)');
    throwsWith(() => readFeatureFile(tmp('emb.parquet'), { column: 'id' }), "column 'id' is Dictionary<Int32, Utf8>", 'float32');
    const intList = new arrow.List(new arrow.Field('item', new arrow.Int32(), true));
    const floatList = new arrow.List(new arrow.Field('item', new arrow.Float32(), true));
    await writeArrowIpc(tmp('odd.arrow'), new arrow.Table({ ints: arrow.vectorFromArray([[1, 2], [3, 4]], intList), ragged: arrow.vectorFromArray([[1, 2], [3]], floatList), holes: arrow.vectorFromArray([[1, 2], null], floatList) }));
    throwsWith(() => readFeatureFile(tmp('odd.arrow'), { column: 'ints' }), "column 'ints' is List<Int32>", 'float32');
    throwsWith(() => readFeatureFile(tmp('odd.arrow'), { column: 'ragged' }), "column 'ragged' row 1 has 1 values but row 0 has 2");
    throwsWith(() => readFeatureFile(tmp('odd.arrow'), { column: 'holes' }), "column 'holes' has 1 null rows");
    throwsWith(() => readFeatureFile(tmp('odd.arrow')), 'several feature-list columns (ragged, holes)', '--column');
    throwsWith(() => readFeatureFile(tmp('odd.arrow'), { column: 'ragged,holes' }), "'ragged' is a list column; give it alone");
    await writeParquet(tmp('names.parquet'), new arrow.Table({ name: arrow.vectorFromArray(['a', 'b']) }));
    throwsWith(() => readFeatureFile(tmp('names.parquet')), 'names.parquet: no feature column', 'columns: name (Dictionary<Int32, Utf8>)');
  });

  it('labels that are not class indices', async () => {
    await writeNpy(tmp('neg.npy'), { shape: [3], data: Int32Array.of(0, -1, 2) });
    throwsWith(() => readLabelFile(tmp('neg.npy')), 'label 1 is -1', 'class indices');
    await writeNpy(tmp('grid.npy'), { shape: [2, 2], data: Int32Array.of(0, 1, 1, 0) });
    throwsWith(() => readLabelFile(tmp('grid.npy')), 'grid.npy has shape (2, 2)', 'labels must be 1-D');
    throwsWith(() => readLabelFile(tmp('list.arrow')), 'no integer column to take as labels');
    throwsWith(() => readLabelFile(tmp('emb.parquet'), { column: 'klass' }), "no label column 'klass'");
  });
});
