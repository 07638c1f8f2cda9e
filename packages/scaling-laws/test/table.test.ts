import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { tableFromColumns, writeArrowIpc, writeParquet } from '@difflab/data';
import { FitInputError } from '../src/errors.js';
import { parseCsv, positiveColumn, readRunTable } from '../src/table.js';

const dir = mkdtempSync(join(tmpdir(), 'slf-table-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseCsv', () => {
  it('handles a BOM, quotes, doubled quotes, embedded commas and newlines, CRLF and blank lines', () => {
    const t = parseCsv('\uFEFFname,N,loss\r\n"a, ""big"" one",1e9,2.5\r\n\r\n"multi\nline",2e9,"2.25"\n', 'runs.csv');
    expect(t.columns).toEqual(['name', 'N', 'loss']);
    expect(t.rowCount).toBe(2);
    expect(t.cell('name', 0)).toBe('a, "big" one');
    expect(t.cell('name', 1)).toBe('multi\nline');
    expect(Array.from(positiveColumn(t, 'N', '--n-col'))).toEqual([1e9, 2e9]);
    expect(Array.from(positiveColumn(t, 'loss', '--y-col'))).toEqual([2.5, 2.25]);
  });

  it('names the line of a record with the wrong number of fields', () => {
    expect(() => parseCsv('N,loss\n1,2\n3\n', 'runs.csv')).toThrow(/runs\.csv: line 3: 1 fields but the header has 2/);
  });

  it('rejects an unterminated quote and an empty file', () => {
    expect(() => parseCsv('N,loss\n"1,2\n', 'r.csv')).toThrow(/line 2: unterminated quoted field/);
    expect(() => parseCsv('', 'r.csv')).toThrow(/empty file/);
  });
});

describe('positiveColumn errors name the column and row', () => {
  const t = parseCsv('N,loss,tag\n1e9,2.5,x\n2e9,,y\n3e9,-1,z\n4e9,abc,w\n', 'runs.csv');
  it('missing column lists the available ones', () => {
    expect(() => positiveColumn(t, 'D', '--d-col')).toThrow(/no column 'D' \(given by --d-col\); columns are: N, loss, tag/);
  });
  it('missing, non-positive and non-numeric values', () => {
    const t2 = parseCsv('loss\n2\n\n', 'a.csv');
    expect(positiveColumn(t2, 'loss', '--y-col')).toHaveLength(1);
    expect(() => positiveColumn(parseCsv('N,loss\n1,2\n2,\n', 'b.csv'), 'loss', '--y-col')).toThrow(/column 'loss', row 2: missing value/);
    expect(() => positiveColumn(parseCsv('N,loss\n1,2\n2,-1\n', 'b.csv'), 'loss', '--y-col')).toThrow(/column 'loss', row 2: -1 is not a positive/);
    expect(() => positiveColumn(parseCsv('N,loss\n1,abc\n', 'b.csv'), 'loss', '--y-col')).toThrow(/column 'loss', row 1: 'abc' is not a number/);
    expect(() => positiveColumn(t, 'tag', '--y-col')).toThrow(FitInputError);
  });
});

describe('readRunTable', () => {
  const table = tableFromColumns({ N: Float64Array.from([1e8, 2e8]), loss: Float64Array.from([3, 2.8]), steps: BigInt64Array.from([10n, 20n]) });

  it('reads Parquet and Arrow IPC files', async () => {
    await writeParquet(join(dir, 'runs.parquet'), table);
    await writeArrowIpc(join(dir, 'runs.arrow'), table);
    for (const f of ['runs.parquet', 'runs.arrow']) {
      const t = readRunTable(join(dir, f));
      expect(t.columns).toEqual(['N', 'loss', 'steps']);
      expect(Array.from(positiveColumn(t, 'loss', '--y-col'))).toEqual([3, 2.8]);
      expect(Array.from(positiveColumn(t, 'steps', '--c-col'))).toEqual([10, 20]);
    }
  });

  it('reads CSV and rejects unknown extensions and corrupt files', () => {
    writeFileSync(join(dir, 'runs.csv'), 'N,loss\n1,2\n');
    expect(readRunTable(join(dir, 'runs.csv')).rowCount).toBe(1);
    writeFileSync(join(dir, 'runs.xlsx'), 'x');
    expect(() => readRunTable(join(dir, 'runs.xlsx'))).toThrow(/unknown extension '\.xlsx'/);
    writeFileSync(join(dir, 'bad.parquet'), 'not parquet');
    expect(() => readRunTable(join(dir, 'bad.parquet'))).toThrow(FitInputError);
    expect(() => readRunTable(join(dir, 'missing.csv'))).toThrow(/cannot read run table/);
  });
});
