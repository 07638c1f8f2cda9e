import { posix } from 'node:path';
import { InvalidParameterError } from './errors.js';
import type { LogBatch, Metric } from './entities.js';

/** MLflow 2.x limits, enforced here so a run that logs to difflab also logs to an MLflow server. */
export const LIMITS = {
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
  metricsPerBatch: 1000,
  paramsOrTagsPerBatch: 100,
  entitiesPerBatch: 1000,
} as const;

const KEY_CHARS = /^[/\w.\- :]*$/;
const RUN_ID = /^[0-9a-f]{32}$/;

/** `kind` names the field in the error, e.g. 'param', 'metric', 'tag'. */
export function validateKey(kind: string, key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidParameterError(`${kind} key must be a non-empty string, got ${JSON.stringify(key)}`);
  }
  if (key.length > LIMITS.keyLength) {
    throw new InvalidParameterError(`${kind} key '${key.slice(0, 40)}…' is ${key.length} characters; the limit is ${LIMITS.keyLength}`);
  }
  if (!KEY_CHARS.test(key)) {
    throw new InvalidParameterError(
      `invalid ${kind} key '${key}': keys may only contain alphanumerics, underscores, dashes, periods, spaces, colons and slashes`,
    );
  }
  // Keys become file names in MLflow's file store, so they must not normalise to another name.
  const norm = posix.normalize(key);
  if (norm !== key || norm === '.' || norm.startsWith('..') || norm.startsWith('/') || key.endsWith('/')) {
    throw new InvalidParameterError(`invalid ${kind} key '${key}': it would resolve to the path '${norm}'; remove leading/trailing/double slashes and '.'/'..' segments`);
  }
}

export function validateParamValue(key: string, value: string): void {
  if (value.length > LIMITS.paramValueLength) {
    throw new InvalidParameterError(
      `param '${key}' value is ${value.length} characters; the limit is ${LIMITS.paramValueLength}. Log long values (e.g. a whole config) as an artifact instead`,
    );
  }
}

export function validateTagValue(key: string, value: string): void {
  if (value.length > LIMITS.tagValueLength) {
    throw new InvalidParameterError(`tag '${key}' value is ${value.length} characters; the limit is ${LIMITS.tagValueLength}`);
  }
}

export function validateMetric(m: Metric): void {
  validateKey('metric', m.key);
  if (typeof m.value !== 'number') throw new InvalidParameterError(`metric '${m.key}' value must be a number, got ${typeof m.value}`);
  if (!Number.isSafeInteger(m.step)) throw new InvalidParameterError(`metric '${m.key}' step must be an integer, got ${m.step}`);
  if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0) {
    throw new InvalidParameterError(`metric '${m.key}' timestamp must be integer milliseconds since the epoch, got ${m.timestamp}`);
  }
}

export function validateRunId(runId: string): void {
  if (typeof runId !== 'string' || !RUN_ID.test(runId)) {
    throw new InvalidParameterError(`invalid run_id ${JSON.stringify(runId)}: expected 32 lowercase hex characters`);
  }
}

/** Validates one log-batch request against MLflow's per-request limits. */
export function validateBatch(batch: LogBatch): void {
  const metrics = batch.metrics ?? [];
  const params = Object.entries(batch.params ?? {});
  const tags = Object.entries(batch.tags ?? {});
  if (metrics.length > LIMITS.metricsPerBatch) {
    throw new InvalidParameterError(`a batch may hold at most ${LIMITS.metricsPerBatch} metrics, got ${metrics.length}`);
  }
  if (params.length > LIMITS.paramsOrTagsPerBatch || tags.length > LIMITS.paramsOrTagsPerBatch) {
    throw new InvalidParameterError(`a batch may hold at most ${LIMITS.paramsOrTagsPerBatch} params and ${LIMITS.paramsOrTagsPerBatch} tags, got ${params.length} and ${tags.length}`);
  }
  if (metrics.length + params.length + tags.length > LIMITS.entitiesPerBatch) {
    throw new InvalidParameterError(`a batch may hold at most ${LIMITS.entitiesPerBatch} metrics+params+tags in total`);
  }
  for (const m of metrics) validateMetric(m);
  for (const [k, v] of params) {
    validateKey('param', k);
    validateParamValue(k, v);
  }
  for (const [k, v] of tags) {
    validateKey('tag', k);
    validateTagValue(k, v);
  }
}

/** Splits metrics/params/tags into requests that each respect the batch limits. */
export function splitBatch(batch: LogBatch): LogBatch[] {
  const out: LogBatch[] = [];
  const params = Object.entries(batch.params ?? {});
  const tags = Object.entries(batch.tags ?? {});
  const metrics = batch.metrics ?? [];
  for (let i = 0; i < Math.max(params.length, tags.length); i += LIMITS.paramsOrTagsPerBatch) {
    out.push({
      params: Object.fromEntries(params.slice(i, i + LIMITS.paramsOrTagsPerBatch)),
      tags: Object.fromEntries(tags.slice(i, i + LIMITS.paramsOrTagsPerBatch)),
    });
  }
  for (let i = 0; i < metrics.length; i += LIMITS.metricsPerBatch) {
    out.push({ metrics: metrics.slice(i, i + LIMITS.metricsPerBatch) });
  }
  return out;
}
