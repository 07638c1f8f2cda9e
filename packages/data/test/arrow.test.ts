import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as arrow from 'apache-arrow';
import { parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import {
  DataError,
  EMBEDDING_COLUMN,
  FileFormatError,
  embeddingMatrix,
  embeddingVector,
  readArrowIpc,
  readParquet,
  tableFromColumns,
  tableFromRows,
  tableToRows,
  writeArrowIpc,
  writeParquet,
} from '../src/index.js';
import { tempDir } from './idx-fixtures.js';

const big = 2n ** 62n + 5n; // beyond 2^53: must survive as bigint

function sampleTable(): arrow.Table {
  return tableFromRows([
    { run: 'a', step: 1n, loss: 0.5, ok: true },
    { run: null, step: big, loss: null, ok: false },
    { run: 'ü→c', step: -3n, loss: 1e-30, ok: null },
  ]);
}

const expectedRows = [
  { run: 'a', step: 1n, loss: 0.5, ok: true },
  { run: null, step: big, loss: null, ok: false },
  { run: 'ü→c', step: -3n, loss: 1e-30, ok: null },
];

describe('table helpers', () => {
  it('infer Utf8 / Int64 / Float64 / Bool and keep nulls', () => {
    const t = sampleTable();
    expect(t.schema.fields.map((f) => String(f.type))).toEqual(['Utf8', 'Int64', 'Float64', 'Bool']);
    expect(tableToRows(t)).toEqual(expectedRows);
  });

  it('take typed arrays without copying and check lengths', () => {
    const f = new Float32Array([1, 2, 3]);
    const t = tableFromColumns({ f, i: new Int32Array([4, 5, 6]) });
    expect(String(t.schema.fields[0]!.type)).toBe('Float32');
    expect((t.getChild('f')!.data[0]!.values as Float32Array).buffer).toBe(f.buffer);
    expect(() => tableFromColumns({ a: [1, 2], b: [1] })).toThrow(/column 'b' has 1 rows but earlier columns have 2/);
    expect(() => tableFromColumns({ a: [null, null] })).toThrow(/only nulls; give its type/);
    expect(String(tableFromColumns({ a: [null, null] }, { a: new arrow.Int32() }).schema.fields[0]!.type)).toBe('Int32');
  });
});

describe('Parquet and Arrow IPC files', () => {
  it('round-trip strings, bigint, nulls and booleans through Parquet and IPC', async () => {
    const dir = tempDir();
    await writeParquet(join(dir, 't.parquet'), sampleTable());
    await writeArrowIpc(join(dir, 't.arrow'), sampleTable());
    for (const t of [readParquet(join(dir, 't.parquet')), readArrowIpc(join(dir, 't.arrow'))]) {
      expect(t.schema.fields.map((f) => String(f.type))).toEqual(['Utf8', 'Int64', 'Float64', 'Bool']);
      expect(tableToRows(t)).toEqual(expectedRows);
    }
    // Atomic writes leave no temp files behind.
    expect(readdirSync(dir).sort()).toEqual(['t.arrow', 't.parquet']);
  });

  it('writes Parquet that an independent reader (hyparquet) reads back', async () => {
    const dir = tempDir();
    await writeParquet(join(dir, 't.parquet'), sampleTable(), { compression: 'snappy' });
    const bytes = readFileSync(join(dir, 't.parquet'));
    const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) });
    expect(rows).toEqual(expectedRows);
  });

  it('reads Parquet written by an independent writer (hyparquet-writer)', () => {
    const dir = tempDir();
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'name', data: ['x', null, 'z'], type: 'STRING' },
        { name: 'n', data: [1n, big, null], type: 'INT64' },
        { name: 'v', data: [0.25, -1.5, 3], type: 'DOUBLE' },
      ],
    });
    writeFileSync(join(dir, 'ext.parquet'), new Uint8Array(buf));
    expect(tableToRows(readParquet(join(dir, 'ext.parquet')))).toEqual([
      { name: 'x', n: 1n, v: 0.25 },
      { name: null, n: big, v: -1.5 },
      { name: 'z', n: null, v: 3 },
    ]);
  });

  it('report unreadable files as FileFormatError with the path', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'junk.parquet'), 'PAR1 not really');
    writeFileSync(join(dir, 'junk.arrow'), 'nope');
    expect(() => readParquet(join(dir, 'junk.parquet'))).toThrow(FileFormatError);
    expect(() => readParquet(join(dir, 'junk.parquet'))).toThrow(/junk\.parquet: not a readable Parquet file/);
    expect(() => readArrowIpc(join(dir, 'junk.arrow'))).toThrow(/junk\.arrow/);
  });
});

describe('embedding columns', () => {
  const rows = 3;
  const dim = 4;
  const data = Float32Array.from({ length: rows * dim }, (_, i) => i / 8 - 0.5);

  it('wrap a Float32Array as FixedSizeList<Float32>[d] and unwrap it without copying', () => {
    const v = embeddingVector(data, rows, dim);
    expect(String(v.type)).toBe('FixedSizeList[4]<Float32>');
    expect(Array.from(v.get(1)!.toArray() as Float32Array)).toEqual(Array.from(data.subarray(4, 8)));
    const m = embeddingMatrix(v);
    expect([m.rows, m.dim]).toEqual([rows, dim]);
    expect(m.data.buffer).toBe(data.buffer);
    expect(Array.from(m.data)).toEqual(Array.from(data));
  });

  it('unwrap slices and multi-chunk columns correctly', () => {
    const sliced = embeddingMatrix(embeddingVector(data, rows, dim).slice(1, 3));
    expect(Array.from(sliced.data)).toEqual(Array.from(data.subarray(4, 12)));
    const two = embeddingVector(data, rows, dim).concat(embeddingVector(data.subarray(0, 4), 1, dim));
    expect(Array.from(embeddingMatrix(two).data)).toEqual([...data, ...data.subarray(0, 4)]);
  });

  it('round-trip through Parquet next to an id column', async () => {
    const dir = tempDir();
    const t = tableFromColumns({ id: new Int32Array([10, 11, 12]), [EMBEDDING_COLUMN]: embeddingVector(data, rows, dim) });
    await writeParquet(join(dir, 'e.parquet'), t);
    const back = readParquet(join(dir, 'e.parquet'));
    expect(String(back.getChild(EMBEDDING_COLUMN)!.type)).toMatch(/^FixedSizeList\[4\]<Float32>$/);
    expect(Array.from(embeddingMatrix(back.getChild(EMBEDDING_COLUMN)).data)).toEqual(Array.from(data));
    expect(Array.from(back.getChild('id')!.toArray() as Int32Array)).toEqual([10, 11, 12]);
  });

  it('reject wrong shapes and column types', () => {
    expect(() => embeddingVector(data, 2, 4)).toThrow(/12 values, which is not rows × dim = 2 × 4/);
    expect(() => embeddingMatrix(tableFromColumns({ a: [1, 2] }).getChild('a'))).toThrow(DataError);
    expect(() => embeddingMatrix(null)).toThrow(/FixedSizeList<Float32>, got no column/);
  });
});

describe('Arrow IPC validation', () => {
  it('rejects a truncated IPC file', async () => {
    const dir = tempDir();
    await writeArrowIpc(join(dir, 't.arrow'), sampleTable());
    const bytes = readFileSync(join(dir, 't.arrow'));
    writeFileSync(join(dir, 'cut.arrow'), bytes.subarray(0, bytes.length - 20));
    expect(() => readArrowIpc(join(dir, 'cut.arrow'))).toThrow(/cut\.arrow: not an Arrow IPC file or stream/);
  });
});
