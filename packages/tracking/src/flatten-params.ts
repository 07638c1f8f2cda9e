import { InvalidParameterError } from './errors.js';
import type { ParamValue } from './tracker.js';

/**
 * Flattens a nested config into MLflow params with dotted keys:
 * `{ model: { depth: 6 }, lrs: [1, 2] }` → `{ 'model.depth': 6, lrs: '[1,2]' }`.
 * Arrays stay one param (JSON) so a list is compared as a whole; null becomes 'null'.
 */
export function flattenParams(config: Record<string, unknown>, prefix = ''): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [key, value] of Object.entries(config)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value === null) {
      out[path] = 'null';
    } else if (Array.isArray(value)) {
      out[path] = JSON.stringify(value);
    } else if (typeof value === 'object') {
      Object.assign(out, flattenParams(value as Record<string, unknown>, path));
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      out[path] = value;
    } else if (value !== undefined) {
      throw new InvalidParameterError(`config value at '${path}' is a ${typeof value}; params hold strings, numbers, booleans, arrays and objects`);
    }
  }
  return out;
}
