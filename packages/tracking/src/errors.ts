/**
 * MLflow's error codes, so one error travels unchanged from the store through the REST server
 * to an MLflow client, and from an MLflow server back into a difflab error.
 */
export type MlflowErrorCode =
  | 'INVALID_PARAMETER_VALUE'
  | 'RESOURCE_DOES_NOT_EXIST'
  | 'RESOURCE_ALREADY_EXISTS'
  | 'ENDPOINT_NOT_FOUND'
  | 'BAD_REQUEST'
  | 'INTERNAL_ERROR';

export class TrackingError extends Error {
  constructor(
    message: string,
    readonly errorCode: MlflowErrorCode = 'INTERNAL_ERROR',
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad key, value, filter, status or request field: the caller must change the input. */
export class InvalidParameterError extends TrackingError {
  constructor(message: string) {
    super(message, 'INVALID_PARAMETER_VALUE');
  }
}

export class NotFoundError extends TrackingError {
  constructor(message: string) {
    super(message, 'RESOURCE_DOES_NOT_EXIST');
  }
}

export class AlreadyExistsError extends TrackingError {
  constructor(message: string) {
    super(message, 'RESOURCE_ALREADY_EXISTS');
  }
}

/** The remote tracker could not be reached (network error, timeout, 429 or 5xx) after all retries. */
export class TrackerUnavailableError extends TrackingError {
  constructor(message: string) {
    super(message, 'INTERNAL_ERROR');
  }
}

/** HTTP status an MLflow server answers with for each error code. */
export function httpStatusOf(code: MlflowErrorCode): number {
  switch (code) {
    case 'RESOURCE_DOES_NOT_EXIST':
    case 'ENDPOINT_NOT_FOUND':
      return 404;
    case 'INTERNAL_ERROR':
      return 500;
    default:
      return 400;
  }
}

/** Rebuilds the typed error an MLflow server described in its `{error_code, message}` body. */
export function errorFromMlflow(code: string, message: string): TrackingError {
  switch (code) {
    case 'INVALID_PARAMETER_VALUE':
      return new InvalidParameterError(message);
    case 'RESOURCE_DOES_NOT_EXIST':
      return new NotFoundError(message);
    case 'RESOURCE_ALREADY_EXISTS':
      return new AlreadyExistsError(message);
    case 'ENDPOINT_NOT_FOUND':
    case 'BAD_REQUEST':
      return new TrackingError(message, code);
    default:
      return new TrackingError(message, 'INTERNAL_ERROR');
  }
}
