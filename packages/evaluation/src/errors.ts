/** A run directory, checkpoint, feature network or option the evaluator cannot use; the message names the fix. */
export class EvalError extends Error {
  override name = 'EvalError';
}
