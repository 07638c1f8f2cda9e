/** A DiT or diffusion configuration that cannot describe a valid model; the message names the field. */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

/** A tensor passed to a model, schedule or sampler has the wrong shape, dtype or range. */
export class ModelInputError extends Error {
  override name = 'ModelInputError';
}
