/** Tensors handed to a loss do not fit together; the message names the argument. */
export class LossInputError extends Error {
  override name = 'LossInputError';
}
