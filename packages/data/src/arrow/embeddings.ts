import * as arrow from 'apache-arrow';
import { DataError } from '../errors.js';

/** Column name convention for embedding matrices in difflab artifacts. */
export const EMBEDDING_COLUMN = 'embedding';

export type EmbeddingType = arrow.FixedSizeList<arrow.Float32>;

/** A matrix of n rows, d columns, row-major. */
export interface EmbeddingMatrix {
  data: Float32Array;
  rows: number;
  dim: number;
}

/** FixedSizeList<Float32>[dim] vector over `data` without copying it. */
export function embeddingVector(data: Float32Array, rows: number, dim: number): arrow.Vector<EmbeddingType> {
  if (!Number.isInteger(dim) || dim <= 0 || !Number.isInteger(rows) || rows < 0 || data.length !== rows * dim) {
    throw new DataError(`embedding data has ${data.length} values, which is not rows × dim = ${rows} × ${dim}`);
  }
  const type = new arrow.FixedSizeList(dim, new arrow.Field('item', new arrow.Float32(), false));
  const child = arrow.makeData({ type: new arrow.Float32(), length: rows * dim, data });
  return arrow.makeVector(arrow.makeData({ type, length: rows, nullCount: 0, child }));
}

/** The matrix behind a FixedSizeList<Float32> column; zero-copy when it is one contiguous chunk. */
export function embeddingMatrix(column: arrow.Vector | null): EmbeddingMatrix {
  if (!column || !arrow.DataType.isFixedSizeList(column.type) || !arrow.DataType.isFloat(column.type.children[0]!.type) ||
      (column.type.children[0]!.type as arrow.Float).precision !== arrow.Precision.SINGLE) {
    throw new DataError(`expected an embedding column of type FixedSizeList<Float32>, got ${column?.type ?? 'no column'}`);
  }
  if (column.nullCount > 0) throw new DataError(`embedding column has ${column.nullCount} null rows; embeddings must be complete`);
  const dim = (column.type as EmbeddingType).listSize;
  const rows = column.length;
  // Slicing in apache-arrow narrows the child's value buffer too, so each chunk's values start at its first row.
  const chunks = column.data.map((d) => (d.children[0]!.values as Float32Array).subarray(0, d.length * dim));
  if (chunks.length === 1) return { data: chunks[0]!, rows, dim };
  const data = new Float32Array(rows * dim);
  let at = 0;
  for (const c of chunks) {
    data.set(c, at);
    at += c.length;
  }
  return { data, rows, dim };
}
