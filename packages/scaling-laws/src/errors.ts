/** Base class of every error the fitter throws. */
export class FitError extends Error {
  override name = 'FitError';
}

/** The run table is unreadable, lacks a column, or holds a value the fit cannot use. */
export class FitInputError extends FitError {
  override name = 'FitInputError';
}
