/** Base class of every error the fitter throws. */
export class FitError extends Error {
  override name = 'FitError';
}

/** The run table is unreadable, lacks a column, or holds a value the fit cannot use. */
export class FitInputError extends FitError {
  override name = 'FitInputError';
}

/** isoFLOP: fewer than 2 compute budgets with a fittable profile; the command adds which columns would work. */
export class TooFewBudgetsError extends FitError {
  override name = 'TooFewBudgetsError';
}
