import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import * as arrow from 'apache-arrow';
import { parseNpy, parseNpz, tableFromParquet, type NpyArray } from '@difflab/data';
import { MetricFileError } from '../errors.js';
import type { FeatureMatrix } from '../features.js';
import { requireFinite } from '../validate.js';

/**
 * Feature and label files made by other tools: NumPy `.npy` / `.npz`, Parquet and Arrow IPC.
 * The format is recognised from the file's first bytes, not its name. Every error names the file,
 * the array or column, and what to do about it.
 */
export type FeatureFileFormat = 'npy' | 'npz' | 'parquet' | 'arrow';

export interface FeatureFileOptions {
  /** `.npz`: the array to read; default the first array of the archive (not an `exclude`d one). */
  key?: string;
  /**
   * Parquet/Arrow: a FixedSizeList or List column of floats, or float columns separated by commas.
   * Default: the one list-of-float column (`embedding` if there are several), else every float column.
   */
  column?: string;
  /** Arrays or columns never taken as features by default, e.g. the label column. */
  exclude?: string[];
}

/** N×D features read from a file, with where they came from. */
export interface FeatureFile extends FeatureMatrix {
  data: Float32Array | Float64Array;
  path: string;
  format: FeatureFileFormat;
  /** The `.npz` array or the column(s) read; '' for a `.npy`. */
  field: string;
}

export interface LabelFileOptions {
  /** `.npz`: the label array; default the first array. */
  key?: string;
  /** Parquet/Arrow: the label column; default the only integer column. */
  column?: string;
}

/** Class labels (integers ≥ 0), one per row, with where they came from. */
export interface LabelFile {
  labels: number[];
  path: string;
  format: FeatureFileFormat;
  field: string;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const PARQUET_MAGIC = [0x50, 0x41, 0x52, 0x31]; // PAR1
const ARROW_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // ARROW1
const STREAM_MAGIC = [0xff, 0xff, 0xff, 0xff];

const startsWith = (bytes: Uint8Array, magic: number[]) => bytes.length >= magic.length && magic.every((m, i) => bytes[i] === m);

/** The format of a feature file from its first bytes; null when it is none of the four. */
export function featureFileFormat(bytes: Uint8Array): FeatureFileFormat | null {
  if (startsWith(bytes, NPY_MAGIC)) return 'npy';
  if (startsWith(bytes, ZIP_MAGIC)) return 'npz';
  if (startsWith(bytes, PARQUET_MAGIC)) return 'parquet';
  if (startsWith(bytes, ARROW_MAGIC) || startsWith(bytes, STREAM_MAGIC)) return 'arrow';
  return null;
}

/** The whole file, or with `head` only its first bytes; missing files and directories are named as such. */
function readRaw(path: string, head?: number): Uint8Array {
  try {
    if (statSync(path).isDirectory()) throw new MetricFileError(`${path}: is a directory; give a .npy, .npz, .parquet or .arrow file`);
    if (head === undefined) return readFileSync(path);
    const fd = openSync(path, 'r');
    try {
      const buf = new Uint8Array(head);
      return buf.subarray(0, readSync(fd, buf, 0, head, 0));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof MetricFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MetricFileError(`${path}: no such file; check the path (relative paths start at the current directory)`);
    throw new MetricFileError(`${path}: cannot read (${(err as Error).message})`);
  }
}

function checkedFormat(path: string, bytes: Uint8Array): FeatureFileFormat {
  const format = featureFileFormat(bytes);
  if (!format) {
    throw new MetricFileError(
      `${path}: not a feature file this reader knows (no .npy, .npz/zip, Parquet or Arrow IPC magic bytes); save features with np.save / np.savez, or as Parquet or Arrow IPC (Feather v2)`,
    );
  }
  return format;
}

/** The format of the file at `path` from its first bytes (a clear error when missing or unknown). */
export function sniffFeatureFile(path: string): FeatureFileFormat {
  return checkedFormat(path, readRaw(path, 8));
}

function readBytes(path: string): { bytes: Uint8Array; format: FeatureFileFormat } {
  const bytes = readRaw(path);
  return { bytes, format: checkedFormat(path, bytes) };
}

function readTable(path: string, bytes: Uint8Array, format: 'parquet' | 'arrow'): arrow.Table {
  if (format === 'parquet') return tableFromParquet(bytes, path);
  try {
    return arrow.tableFromIPC(bytes);
  } catch (err) {
    throw new MetricFileError(`${path}: corrupt Arrow IPC data (${(err as Error).message})`);
  }
}

/** The array `key` of an `.npz` (default: the first one not excluded), with the choices named when it is missing. */
function npzMember(path: string, arrays: Map<string, NpyArray>, key: string | undefined, exclude: string[], flag: string): [string, NpyArray] {
  const names = [...arrays.keys()];
  if (key !== undefined) {
    const a = arrays.get(key);
    if (!a) throw new MetricFileError(`${path}: no array '${key}'; the archive holds ${names.map((n) => `'${n}'`).join(', ') || 'no arrays'} — pick one with ${flag}`);
    return [key, a];
  }
  const name = names.find((n) => !exclude.includes(n));
  if (name === undefined) throw new MetricFileError(`${path}: the archive holds no array${names.length ? ` besides ${names.join(', ')}` : ''}`);
  return [name, arrays.get(name)!];
}

function npyFeatures(path: string, where: string, a: NpyArray): { data: Float32Array | Float64Array; rows: number; dim: number } {
  if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) {
    throw new MetricFileError(`${where} has dtype ${a.dtype}; features must be float32 or float64 — convert with a.astype('float32')`);
  }
  if (a.shape.length !== 2) {
    const fix =
      a.shape.length === 1
        ? 'for one feature per sample save a[:, None]'
        : a.shape.length === 0
          ? 'save the N×D feature matrix, not a scalar'
          : `pool or flatten to N×D first, e.g. a.mean(axis=1) for token features or a.reshape(len(a), -1)`;
    throw new MetricFileError(`${where} has shape (${a.shape.join(', ')}); features must be 2-D, samples × features — ${fix}`);
  }
  const [rows, dim] = a.shape as [number, number];
  if (rows < 1 || dim < 1) throw new MetricFileError(`${where} has shape (${rows}, ${dim}); it holds no features`);
  return { data: a.data, rows, dim };
}

const describeColumns = (table: arrow.Table) => table.schema.fields.map((f) => `${f.name} (${f.type})`).join(', ') || 'none';

function listChild(type: arrow.DataType): arrow.DataType | undefined {
  return arrow.DataType.isFixedSizeList(type) || arrow.DataType.isList(type) ? type.children[0]!.type : undefined;
}

/** Float32 or Float64; half floats and integers are not features here. */
function isFeatureFloat(type: arrow.DataType | undefined): boolean {
  return type !== undefined && arrow.DataType.isFloat(type) && (type as arrow.Float).precision !== arrow.Precision.HALF;
}

const floatFix = "cast it to float32 (pyarrow: pc.cast(col, pa.list_(pa.float32())); pandas: df[col].astype('float32'))";

/** The rows of a FixedSizeList or List column of floats as one row-major matrix. */
function listMatrix(path: string, name: string, col: arrow.Vector): { data: Float32Array | Float64Array; rows: number; dim: number } {
  const child = listChild(col.type)!;
  if (!isFeatureFloat(child)) throw new MetricFileError(`${path}: column '${name}' is ${col.type}; feature lists must hold float32 or float64 — ${floatFix}`);
  if (col.nullCount > 0) throw new MetricFileError(`${path}: column '${name}' has ${col.nullCount} null rows; drop or fill them before computing metrics`);
  const rows = col.length;
  const double = (child as arrow.Float).precision === arrow.Precision.DOUBLE;
  const fast = contiguousListValues(col, double);
  if (fast) {
    if (rows < 1 || fast.dim < 1) throw new MetricFileError(`${path}: column '${name}' holds no features (${rows} rows of ${fast.dim} values)`);
    return { data: fast.data, rows, dim: fast.dim };
  }
  let dim = arrow.DataType.isFixedSizeList(col.type) ? (col.type as arrow.FixedSizeList).listSize : -1;
  const rowValues: ArrayLike<number>[] = [];
  for (let i = 0; i < rows; i++) {
    const v = (col.get(i) as arrow.Vector | null)!;
    if (v.nullCount > 0) throw new MetricFileError(`${path}: column '${name}' row ${i} holds ${v.nullCount} null values; features must be complete`);
    if (dim < 0) dim = v.length;
    if (v.length !== dim) throw new MetricFileError(`${path}: column '${name}' row ${i} has ${v.length} values but row 0 has ${dim}; every row needs the same number of features`);
    rowValues.push(v.toArray() as Float32Array | Float64Array);
  }
  if (rows < 1 || dim < 1) throw new MetricFileError(`${path}: column '${name}' holds no features (${rows} rows of ${Math.max(dim, 0)} values)`);
  const data = double ? new Float64Array(rows * dim) : new Float32Array(rows * dim);
  rowValues.forEach((v, i) => data.set(v, i * dim));
  return { data, rows, dim };
}

/**
 * The values of a list column straight from its chunks' child buffers when the layout is the plain
 * one a file reader produces (unsliced chunks, no nulls inside, every list the same length);
 * undefined otherwise, and the caller reads row by row (and names the offending row).
 */
function contiguousListValues(col: arrow.Vector, double: boolean): { data: Float32Array | Float64Array; dim: number } | undefined {
  const fixed = arrow.DataType.isFixedSizeList(col.type);
  let dim = fixed ? (col.type as arrow.FixedSizeList).listSize : -1;
  const parts: (Float32Array | Float64Array)[] = [];
  for (const d of col.data) {
    const child = d.children[0]!;
    if (d.offset !== 0 || child.offset !== 0 || child.nullCount > 0) return undefined;
    const values = child.values as Float32Array | Float64Array;
    if (fixed) {
      parts.push(values.subarray(0, d.length * dim));
      continue;
    }
    const offsets = d.valueOffsets as Int32Array;
    for (let i = 0; i < d.length; i++) {
      const len = offsets[i + 1]! - offsets[i]!;
      if (dim < 0) dim = len;
      if (len !== dim) return undefined;
    }
    parts.push(values.subarray(offsets[0]!, offsets[d.length]!));
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (dim < 0 || total !== col.length * dim) return undefined;
  const data = double ? new Float64Array(total) : new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, dim };
}

/** Scalar float columns side by side: column j of the table is feature j. */
function columnsMatrix(path: string, table: arrow.Table, names: string[]): { data: Float32Array | Float64Array; rows: number; dim: number } {
  const cols = names.map((n) => {
    const col = table.getChild(n)!;
    if (!isFeatureFloat(col.type)) {
      throw new MetricFileError(`${path}: column '${n}' is ${col.type}; feature columns must be float32 or float64 (or one list column of them) — ${floatFix}`);
    }
    if (col.nullCount > 0) throw new MetricFileError(`${path}: column '${n}' has ${col.nullCount} nulls; drop or fill them before computing metrics`);
    return col.toArray() as Float32Array | Float64Array;
  });
  const rows = table.numRows;
  const dim = cols.length;
  if (rows < 1) throw new MetricFileError(`${path}: the table has no rows`);
  const data = cols.every((c) => c instanceof Float32Array) ? new Float32Array(rows * dim) : new Float64Array(rows * dim);
  cols.forEach((c, j) => {
    for (let i = 0; i < rows; i++) data[i * dim + j] = c[i]!;
  });
  return { data, rows, dim };
}

/** A compact name for the columns read: all of them up to four, else first…last and the count. */
function columnsField(names: string[]): string {
  return names.length <= 4 ? names.join(',') : `${names[0]}…${names[names.length - 1]} (${names.length} columns)`;
}

function tableFeatures(path: string, table: arrow.Table, opts: FeatureFileOptions): { data: Float32Array | Float64Array; rows: number; dim: number; field: string } {
  const fields = table.schema.fields;
  const exclude = opts.exclude ?? [];
  if (opts.column !== undefined) {
    const names = opts.column.split(',').map((s) => s.trim()).filter(Boolean);
    if (names.length === 0) throw new MetricFileError(`${path}: --column is empty; name a column: ${describeColumns(table)}`);
    for (const n of names) {
      if (!fields.some((f) => f.name === n)) throw new MetricFileError(`${path}: no column '${n}'; columns: ${describeColumns(table)} — pick one with --column`);
    }
    const first = table.getChild(names[0]!)!;
    if (names.length === 1 && listChild(first.type)) return { ...listMatrix(path, names[0]!, first), field: names[0]! };
    const list = names.find((n) => listChild(table.getChild(n)!.type));
    if (list) throw new MetricFileError(`${path}: '${list}' is a list column; give it alone (--column ${list}) or give only scalar float columns`);
    return { ...columnsMatrix(path, table, names), field: columnsField(names) };
  }
  const candidates = fields.filter((f) => !exclude.includes(f.name));
  const lists = candidates.filter((f) => isFeatureFloat(listChild(f.type)));
  if (lists.length > 0) {
    const chosen = lists.length === 1 ? lists[0]! : lists.find((f) => f.name === 'embedding');
    if (!chosen) throw new MetricFileError(`${path}: several feature-list columns (${lists.map((f) => f.name).join(', ')}); choose one with --column`);
    return { ...listMatrix(path, chosen.name, table.getChild(chosen.name)!), field: chosen.name };
  }
  const floats = candidates.filter((f) => isFeatureFloat(f.type));
  if (floats.length === 0) {
    throw new MetricFileError(
      `${path}: no feature column; expected a FixedSizeList or List column of float32/float64, or float columns (columns: ${describeColumns(table)}) — ${floatFix}, or name the column with --column`,
    );
  }
  const names = floats.map((f) => f.name);
  return { ...columnsMatrix(path, table, names), field: columnsField(names) };
}

const NON_FINITE_FIX = 'features must be finite — drop those rows or replace the values (np.nan_to_num) before saving';

/**
 * Reads an N×D feature matrix from a `.npy`, `.npz`, Parquet or Arrow IPC file. NaN/Inf values
 * are refused here, naming the file, the array or column, and the first bad row and column.
 */
export function readFeatureFile(path: string, opts: FeatureFileOptions = {}): FeatureFile {
  const f = readUncheckedFeatureFile(path, opts);
  const where = f.format === 'npy' ? path : f.format === 'npz' ? `${path}: array '${f.field}'` : `${path}: column${f.field.includes(',') || f.field.includes('…') ? 's' : ''} '${f.field}'`;
  requireFinite(where, f.data, f.dim, NON_FINITE_FIX);
  return f;
}

function readUncheckedFeatureFile(path: string, opts: FeatureFileOptions): FeatureFile {
  const { bytes, format } = readBytes(path);
  if (format === 'npy' || format === 'npz') {
    if (opts.column !== undefined) throw new MetricFileError(`${path}: is a NumPy ${format === 'npy' ? '.npy' : '.npz'} file; --column applies to Parquet/Arrow tables${format === 'npz' ? ', use --key to pick an array' : ''}`);
    if (format === 'npy') {
      if (opts.key !== undefined) throw new MetricFileError(`${path}: is a .npy holding one array; --key applies to .npz archives`);
      return { ...npyFeatures(path, path, parseNpy(bytes, path)), path, format, field: '' };
    }
    const [key, a] = npzMember(path, parseNpz(bytes, path), opts.key, opts.exclude ?? [], '--key');
    return { ...npyFeatures(path, `${path}: array '${key}'`, a), path, format, field: key };
  }
  if (opts.key !== undefined) throw new MetricFileError(`${path}: is ${format === 'parquet' ? 'Parquet' : 'Arrow IPC'}; --key applies to .npz archives, use --column to pick a column`);
  return { ...tableFeatures(path, readTable(path, bytes, format), opts), path, format };
}

function integerLabels(where: string, values: ArrayLike<number | bigint>): number[] {
  const out = Array.from(values, (v) => Number(v));
  const bad = out.findIndex((v) => !Number.isSafeInteger(v) || v < 0);
  if (bad >= 0) throw new MetricFileError(`${where}: label ${bad} is ${out[bad]}; labels must be class indices 0, 1, 2, …`);
  return out;
}

const isIntegerDtype = (dtype: string) => /^[<|][iu][1248]$/.test(dtype);

/** Reads class labels: a 1-D integer array (`.npy`/`.npz`) or an integer column (Parquet/Arrow). */
export function readLabelFile(path: string, opts: LabelFileOptions = {}): LabelFile {
  const { bytes, format } = readBytes(path);
  if (format === 'npy' || format === 'npz') {
    let key = '';
    let a: NpyArray;
    if (format === 'npy') a = parseNpy(bytes, path);
    else [key, a] = npzMember(path, parseNpz(bytes, path), opts.key, [], '--label-column');
    const where = key ? `${path}: array '${key}'` : path;
    if (!isIntegerDtype(a.dtype)) throw new MetricFileError(`${where} has dtype ${a.dtype}; labels must be integers — convert with y.astype('int64')`);
    if (a.shape.length !== 1) throw new MetricFileError(`${where} has shape (${a.shape.join(', ')}); labels must be 1-D, one class index per sample`);
    return { labels: integerLabels(where, a.data as ArrayLike<number | bigint>), path, format, field: key };
  }
  const table = readTable(path, bytes, format);
  let name = opts.column;
  if (name === undefined) {
    const ints = table.schema.fields.filter((f) => arrow.DataType.isInt(f.type));
    if (ints.length !== 1) {
      throw new MetricFileError(`${path}: ${ints.length === 0 ? 'no integer column' : `several integer columns (${ints.map((f) => f.name).join(', ')})`} to take as labels; name the label column (columns: ${describeColumns(table)})`);
    }
    name = ints[0]!.name;
  }
  const col = table.getChild(name);
  if (!col) throw new MetricFileError(`${path}: no label column '${name}'; columns: ${describeColumns(table)}`);
  if (!arrow.DataType.isInt(col.type)) throw new MetricFileError(`${path}: label column '${name}' is ${col.type}; labels must be integers — cast it (pandas: df['${name}'].astype('int64'))`);
  if (col.nullCount > 0) throw new MetricFileError(`${path}: label column '${name}' has ${col.nullCount} nulls; every sample needs a label`);
  return { labels: integerLabels(`${path}: column '${name}'`, col.toArray() as ArrayLike<number | bigint>), path, format, field: name };
}
