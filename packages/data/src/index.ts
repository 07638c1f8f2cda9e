export { DataError, DatasetNotFoundError, ChecksumMismatchError, FileFormatError } from './errors.js';
export { parseIdx, readIdxFile, type IdxArray } from './idx.js';
export { fashionMnistManifest, type FashionMnistManifest, type ManifestFile } from './fashion-mnist/manifest.js';
export {
  resolveFashionMnist,
  acquireFromDebian,
  defaultCacheDir,
  type FashionMnistSource,
  type ResolveOptions,
  type SourceKind,
} from './fashion-mnist/sources.js';
export {
  loadFashionMnist,
  fashionMnistInfo,
  fashionMnistClassNames,
  type FashionMnist,
  type FashionMnistInfo,
  type FileStatus,
  type FileStatusKind,
  type ImageSplit,
  type LoadOptions,
} from './fashion-mnist/load.js';
export {
  BatchIterator,
  ShuffledOrder,
  makeBatch,
  sequentialBatches,
  batchToTensors,
  type Batch,
  type BatchOptions,
  type BatchIteratorOptions,
  type BatchIteratorState,
} from './batches.js';
export { tableFromColumns, tableFromRows, tableToRows, type ColumnInput, type ColumnTypes } from './arrow/tables.js';
export {
  embeddingVector,
  embeddingMatrix,
  EMBEDDING_COLUMN,
  type EmbeddingMatrix,
  type EmbeddingType,
} from './arrow/embeddings.js';
export {
  writeParquet,
  readParquet,
  tableToParquet,
  tableFromParquet,
  type ParquetCompression,
  type ParquetWriteOptions,
} from './arrow/parquet.js';
export { writeArrowIpc, readArrowIpc } from './arrow/ipc.js';
export { parseNpy, readNpy, parseNpz, readNpz, type NpyArray, type NpyData } from './npy.js';
