/** Bad input to a float64 linear-algebra routine (wrong size, non-finite or non-symmetric entries). */
export class LinalgError extends Error {
  override name = 'LinalgError';
}
