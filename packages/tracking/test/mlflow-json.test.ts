import { describe, expect, it } from 'vitest';
import { parseMlflowJson, stringifyMlflowJson } from '../src/index.js';

describe("MLflow's JSON dialect", () => {
  it('reads the bare NaN/Infinity tokens Python writes, but not inside strings', () => {
    const text = '{"a": NaN, "b": [Infinity, -Infinity, 1.5], "s": "NaN and Infinity \\" NaN"}';
    const v = parseMlflowJson(text) as { a: number; b: number[]; s: string };
    expect(v.a).toBeNaN();
    expect(v.b).toEqual([Infinity, -Infinity, 1.5]);
    expect(v.s).toBe('NaN and Infinity " NaN');
  });

  it('writes non-finite numbers as the same tokens, and round-trips', () => {
    const value = { metrics: [{ value: Number.NaN }, { value: -Infinity }], name: 'NaN' };
    const text = stringifyMlflowJson(value);
    expect(text).toBe('{"metrics":[{"value":NaN},{"value":-Infinity}],"name":"NaN"}');
    expect(parseMlflowJson(text)).toEqual(value);
  });
});
