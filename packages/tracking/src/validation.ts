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
  /**
   * Times (run start/end, metric timestamps) are integer milliseconds since the epoch up to
   * 8.64e15 (year 275760): the range of a JavaScript Date, so every accepted time can be shown.
   * MLflow's int64 allows more; difflab refuses what it could not display or store exactly.
   */
  maxTimeMs: 8.64e15,
  /** Steps are integers a JavaScript number holds exactly (±(2^53 − 1)), not all of MLflow's int64. */
  maxAbsStep: Number.MAX_SAFE_INTEGER,
} as const;

const KEY_CHARS = /^[/\w.\- :]*$/;
const RUN_ID = /^[0-9a-f]{32}$/;

/** A lone UTF-16 surrogate has no UTF-8 form: SQLite would store U+FFFD instead of what was sent. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * A string field (param/tag value, name): MLflow's type for it is string, so numbers, objects and
 * the like are refused rather than stored as their `String()` (`[object Object]`). `field` names it
 * in the error, e.g. `param 'lr' value`.
 */
export function validateText(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') {
    throw new InvalidParameterError(`${field} must be a string (MLflow's type for it), got ${describeValue(value)}; send it as a string, e.g. JSON-encode an object`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidParameterError(`${field} contains an unpaired UTF-16 surrogate, which cannot be stored as UTF-8; send well-formed Unicode text`);
  }
}

/** A run or metric time: integer milliseconds since the epoch within [0, LIMITS.maxTimeMs]. */
export function validateTime(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > LIMITS.maxTimeMs) {
    throw new InvalidParameterError(
      `${field} must be integer milliseconds since the epoch in [0, ${LIMITS.maxTimeMs}] (the dates the tracker can show, up to year 275760), got ${describeValue(value)}`,
    );
  }
}

/** A metric step: an integer within ±LIMITS.maxAbsStep. */
export function validateStep(field: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new InvalidParameterError(`${field} must be an integer in [-${LIMITS.maxAbsStep}, ${LIMITS.maxAbsStep}], got ${describeValue(value)}`);
  }
}

/** A short, safe rendering of a rejected value for an error message. */
function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return `${Array.isArray(value) ? 'a list' : typeof value} ${text.length > 60 ? `${text.slice(0, 60)}…` : text}`;
}

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
  validateText(`param '${key}' value`, value);
  if (value.length > LIMITS.paramValueLength) {
    throw new InvalidParameterError(
      `param '${key}' value is ${value.length} characters; the limit is ${LIMITS.paramValueLength}. Log long values (e.g. a whole config) as an artifact instead`,
    );
  }
}

export function validateTagValue(key: string, value: string): void {
  validateText(`tag '${key}' value`, value);
  if (value.length > LIMITS.tagValueLength) {
    throw new InvalidParameterError(`tag '${key}' value is ${value.length} characters; the limit is ${LIMITS.tagValueLength}`);
  }
}

export function validateMetric(m: Metric): void {
  validateKey('metric', m.key);
  // NaN and ±Infinity are metric values MLflow stores (and the UI shows); anything else must be a number.
  if (typeof m.value !== 'number') throw new InvalidParameterError(`metric '${m.key}' value must be a number, got ${describeValue(m.value)}`);
  validateStep(`metric '${m.key}' step`, m.step);
  validateTime(`metric '${m.key}' timestamp`, m.timestamp);
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
