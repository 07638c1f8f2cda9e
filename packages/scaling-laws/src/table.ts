import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { readArrowIpc, readParquet } from '@difflab/data';
import type * as arrow from 'apache-arrow';
import { FitInputError } from './errors.js';

/** A table of runs; cells are read as numbers on demand so unused text columns do no harm. */
export interface RunTable {
  source: string;
  columns: string[];
  rowCount: number;
  /** Raw cell (row 0-based): a number, a string to parse, or null when missing. */
  cell(column: string, row: number): number | string | null;
}

/** Reads .csv, .parquet, or Arrow IPC (.arrow, .feather, .ipc). */
export function readRunTable(path: string): RunTable {
  const ext = extname(path).toLowerCase();
  try {
    if (ext === '.csv') return parseCsv(readFileSync(path, 'utf8'), path);
    if (ext === '.parquet') return fromArrow(readParquet(path), path);
    if (ext === '.arrow' || ext === '.feather' || ext === '.ipc') return fromArrow(readArrowIpc(path), path);
  } catch (err) {
    if (err instanceof FitInputError) throw err;
    throw new FitInputError(`cannot read run table ${path}: ${(err as Error).message}`);
  }
  throw new FitInputError(`run table ${path}: unknown extension '${ext}'; use .csv, .parquet or .arrow`);
}

function fromArrow(table: arrow.Table, source: string): RunTable {
  const columns = table.schema.fields.map((f) => f.name);
  return {
    source,
    columns,
    rowCount: table.numRows,
    cell(column, row) {
      const v: unknown = table.getChild(column)?.get(row);
      if (v === null || v === undefined) return null;
      if (typeof v === 'number' || typeof v === 'string') return v;
      if (typeof v === 'bigint') return Number(v);
      return String(v);
    },
  };
}

/** RFC 4180 CSV: a header row, comma-separated fields, "…" quoting with "" for a quote, LF or CRLF. */
export function parseCsv(text: string, source = 'CSV'): RunTable {
  const records: string[][] = [];
  const lines: number[] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRecord = () => {
    record.push(field);
    field = '';
    // A blank line (one empty field) separates nothing; skip it.
    if (!(record.length === 1 && record[0] === '')) {
      records.push(record);
      lines.push(recordLine);
    }
    record = [];
  };
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"') {
      if (field !== '') throw new FitInputError(`${source}: line ${line}: a quote inside an unquoted field; quote the whole field and double inner quotes`);
      quoted = true;
    } else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else field += ch;
  }
  if (quoted) throw new FitInputError(`${source}: line ${recordLine}: unterminated quoted field`);
  if (field !== '' || record.length > 0) endRecord();
  const header = records.shift();
  lines.shift();
  if (!header) throw new FitInputError(`${source}: empty file; expected a header row of column names`);
  const columns = header.map((h) => h.trim());
  records.forEach((r, k) => {
    if (r.length !== columns.length) {
      throw new FitInputError(`${source}: line ${lines[k]}: ${r.length} fields but the header has ${columns.length}`);
    }
  });
  return {
    source,
    columns,
    rowCount: records.length,
    cell(column, row) {
      const j = columns.indexOf(column);
      const v = j < 0 ? undefined : records[row]?.[j]?.trim();
      return v === undefined || v === '' ? null : v;
    },
  };
}

/** Values of `column` as numbers; every one must be finite and > 0 (the fits take logarithms). */
export function positiveColumn(table: RunTable, column: string, flag: string): Float64Array {
  if (!table.columns.includes(column)) {
    throw new FitInputError(`${table.source}: no column '${column}' (given by ${flag}); columns are: ${table.columns.join(', ')}`);
  }
  const out = new Float64Array(table.rowCount);
  for (let r = 0; r < table.rowCount; r++) {
    const raw = table.cell(column, r);
    const where = `${table.source}: column '${column}', row ${r + 1}`;
    if (raw === null) throw new FitInputError(`${where}: missing value; fill it in or drop the run`);
    const v = typeof raw === 'number' ? raw : Number(raw);
    if (typeof raw === 'string' && (raw.trim() === '' || !Number.isFinite(v))) {
      throw new FitInputError(`${where}: '${raw}' is not a number`);
    }
    if (!Number.isFinite(v) || v <= 0) throw new FitInputError(`${where}: ${v} is not a positive finite number; every value must be > 0`);
    out[r] = v;
  }
  if (table.rowCount === 0) throw new FitInputError(`${table.source}: the table has no rows`);
  return out;
}
