/** Base class of every error this package throws, so callers can catch data problems as one kind. */
export class DataError extends Error {
  override name = 'DataError';
}

/** A dataset could not be found in any source (or not where the user said it is). */
export class DatasetNotFoundError extends DataError {
  override name = 'DatasetNotFoundError';
}

/** A file's content does not match the checksum in its manifest. */
export class ChecksumMismatchError extends DataError {
  override name = 'ChecksumMismatchError';
}

/** A file is not a valid IDX / gzip / NPY / NPZ file, or is truncated. */
export class FileFormatError extends DataError {
  override name = 'FileFormatError';
}
