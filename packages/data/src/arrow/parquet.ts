import { readFileSync } from 'node:fs';
import * as arrow from 'apache-arrow';
import * as parquet from 'parquet-wasm';
import { writeFileAtomic } from '@difflab/core-tensor';
import { FileFormatError } from '../errors.js';

export type ParquetCompression = 'zstd' | 'snappy' | 'uncompressed';

export interface ParquetWriteOptions {
  /** Default zstd: smallest files, and every mainstream reader (pyarrow, DuckDB, Spark, polars) has it. */
  compression?: ParquetCompression;
}

const codecs: Record<ParquetCompression, parquet.Compression> = {
  zstd: parquet.Compression.ZSTD,
  snappy: parquet.Compression.SNAPPY,
  uncompressed: parquet.Compression.UNCOMPRESSED,
};

/** Parquet bytes of an Arrow table (the Arrow IPC stream is the hand-over format into the wasm side). */
export function tableToParquet(table: arrow.Table, opts: ParquetWriteOptions = {}): Uint8Array {
  const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const props = new parquet.WriterPropertiesBuilder().setCompression(codecs[opts.compression ?? 'zstd']).build();
  return parquet.writeParquet(wasmTable, props);
}

export function tableFromParquet(bytes: Uint8Array, name = 'parquet data'): arrow.Table {
  let ipc: Uint8Array;
  try {
    ipc = parquet.readParquet(bytes).intoIPCStream();
  } catch (err) {
    throw new FileFormatError(`${name}: not a readable Parquet file (${String((err as Error).message ?? err)})`);
  }
  return arrow.tableFromIPC(ipc);
}

/** Atomic (temp file + rename), hence async. */
export async function writeParquet(path: string, table: arrow.Table, opts: ParquetWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, tableToParquet(table, opts));
}

export function readParquet(path: string): arrow.Table {
  return tableFromParquet(readFileSync(path), path);
}
