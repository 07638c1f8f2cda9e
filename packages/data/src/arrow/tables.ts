import * as arrow from 'apache-arrow';
import { DataError } from '../errors.js';

/** Values of one column: a typed array (no nulls, zero-copy), a JS array (nulls allowed), or a ready Arrow vector. */
export type ColumnInput =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | ReadonlyArray<number | null>
  | ReadonlyArray<bigint | null>
  | ReadonlyArray<string | null>
  | ReadonlyArray<boolean | null>
  | arrow.Vector;

/** Column types for JS arrays, when inference from the first non-null value is not what you want. */
export type ColumnTypes = Record<string, arrow.DataType>;

function inferType(name: string, values: ReadonlyArray<unknown>): arrow.DataType {
  const first = values.find((v) => v !== null && v !== undefined);
  switch (typeof first) {
    case 'number':
      return new arrow.Float64();
    case 'bigint':
      return new arrow.Int64();
    // Plain Utf8, not the dictionary encoding apache-arrow picks by default: tables stay readable by any tool.
    case 'string':
      return new arrow.Utf8();
    case 'boolean':
      return new arrow.Bool();
    case 'undefined':
      throw new DataError(`column '${name}' has only nulls; give its type in the types argument`);
    default:
      throw new DataError(`column '${name}' holds ${typeof first} values; use numbers, bigints, strings or booleans`);
  }
}

function toVector(name: string, values: ColumnInput | ReadonlyArray<unknown>, type: arrow.DataType | undefined): arrow.Vector {
  if (values instanceof arrow.Vector) return values;
  if (ArrayBuffer.isView(values) && !type) return arrow.makeVector(values as Float32Array);
  const list = Array.from(values as ArrayLike<unknown>, (v) => (v === undefined ? null : v));
  return arrow.vectorFromArray(list, type ?? inferType(name, list));
}

/** A table from named columns of equal length. */
export function tableFromColumns(columns: Record<string, ColumnInput>, types: ColumnTypes = {}): arrow.Table {
  return buildTable(Object.entries(columns), types);
}

function buildTable(columns: Array<[string, ColumnInput | ReadonlyArray<unknown>]>, types: ColumnTypes): arrow.Table {
  const vectors: Record<string, arrow.Vector> = {};
  let length: number | null = null;
  for (const [name, values] of columns) {
    const v = toVector(name, values, types[name]);
    if (length !== null && v.length !== length) {
      throw new DataError(`column '${name}' has ${v.length} rows but earlier columns have ${length}`);
    }
    length = v.length;
    vectors[name] = v;
  }
  return new arrow.Table(vectors);
}

/** A table from row objects; column order follows the first row, missing keys become nulls. */
export function tableFromRows(rows: ReadonlyArray<Record<string, unknown>>, types: ColumnTypes = {}): arrow.Table {
  if (rows.length === 0) throw new DataError('tableFromRows needs at least one row (or use tableFromColumns with types)');
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return buildTable(names.map((name) => [name, rows.map((r) => r[name] ?? null)]), types);
}

/** Rows as plain objects (Int64 as bigint, embeddings as Float32Array), for small tables and tests. */
export function tableToRows(table: arrow.Table): Record<string, unknown>[] {
  const names = table.schema.fields.map((f) => f.name);
  const cols = names.map((n) => table.getChild(n)!);
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    names.forEach((n, j) => {
      const v: unknown = cols[j]!.get(i);
      row[n] = v instanceof arrow.Vector ? v.toArray() : v;
    });
    rows.push(row);
  }
  return rows;
}
