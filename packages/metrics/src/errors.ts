/** Inputs a metric cannot use: mismatched sizes, too few samples, bad parameters. */
export class MetricInputError extends Error {
  override name = 'MetricInputError';
}

/** A statistics or feature file that is missing, truncated or in an unsupported layout. */
export class MetricFileError extends Error {
  override name = 'MetricFileError';
}
