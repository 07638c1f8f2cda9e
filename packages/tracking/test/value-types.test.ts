import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { int64, InvalidParameterError, LIMITS, locationOfDir, parseMlflowJson, SqliteStore, stringifyMlflowJson } from '../src/index.js';
import { tempDir } from './temp.js';

let store: SqliteStore;
beforeEach(() => {
  store = new SqliteStore(locationOfDir(tempDir('tracking-values-')));
});
afterEach(async () => {
  await store.close();
});

describe("MLflow's types: times and steps are integers the store keeps exactly and the UI can show", () => {
  it('accepts run times up to the last millisecond a Date holds, and refuses the rest naming the field', async () => {
    // 8.64e15 ms is ECMAScript's largest time value (year 275760); one more is not a date.
    expect(Number.isNaN(new Date(LIMITS.maxTimeMs).getTime())).toBe(false);
    expect(Number.isNaN(new Date(LIMITS.maxTimeMs + 1).getTime())).toBe(true);
    const edge = await store.createRun({ experimentId: '0', startTime: LIMITS.maxTimeMs });
    expect(edge.info.startTime).toBe(LIMITS.maxTimeMs);
    for (const bad of [LIMITS.maxTimeMs + 1, 1e300, -1, 1.5, Number.NaN]) {
      await expect(store.createRun({ experimentId: '0', startTime: bad })).rejects.toThrow(/start_time must be integer milliseconds since the epoch in \[0, 8640000000000000\]/);
    }
    await expect(store.updateRun(edge.info.runId, { endTime: 2 ** 60 })).rejects.toThrow(/end_time must be integer milliseconds/);
  });

  it('refuses metric timestamps and steps outside the exact range', async () => {
    const { info } = await store.createRun({ experimentId: '0', startTime: 1 });
    const log = (m: { timestamp: number; step: number }) => store.logBatch(info.runId, { metrics: [{ key: 'loss', value: 1, ...m }] });
    await expect(log({ timestamp: LIMITS.maxTimeMs + 1, step: 0 })).rejects.toThrow(/metric 'loss' timestamp must be integer milliseconds/);
    await expect(log({ timestamp: 1, step: 2 ** 53 })).rejects.toThrow(/metric 'loss' step must be an integer in \[-9007199254740991, 9007199254740991\]/);
    await log({ timestamp: LIMITS.maxTimeMs, step: -(2 ** 53 - 1) });
    expect(await store.getMetricHistory(info.runId, 'loss')).toEqual([{ key: 'loss', value: 1, timestamp: LIMITS.maxTimeMs, step: -(2 ** 53 - 1) }]);
  });

  it('reads int64 wire fields only when they are exact integers', () => {
    expect(int64('17')).toBe(17);
    expect(int64(-3)).toBe(-3);
    for (const bad of ['1e3', ' 17', '0x10', '1.5', 1.5, 2 ** 53, '9007199254740993', {}, null, Number.POSITIVE_INFINITY]) expect(int64(bad)).toBeUndefined();
  });
});

describe("MLflow's types: params and tags are strings", () => {
  it('refuses a non-string param or tag value instead of storing its String()', async () => {
    const { info } = await store.createRun({ experimentId: '0', startTime: 1 });
    const object = { lr: 0.1 } as unknown as string;
    await expect(store.logBatch(info.runId, { params: { cfg: object } })).rejects.toThrow(InvalidParameterError);
    await expect(store.logBatch(info.runId, { params: { cfg: object } })).rejects.toThrow(/param 'cfg' value must be a string .*got object \{"lr":0.1\}/);
    await expect(store.logBatch(info.runId, { tags: { t: 5 as unknown as string } })).rejects.toThrow(/tag 't' value must be a string/);
    await expect(store.createRun({ experimentId: '0', tags: { t: [] as unknown as string } })).rejects.toThrow(/tag 't' value must be a string/);
    expect((await store.getRun(info.runId)).data.params).toEqual({});
  });

  it('refuses text SQLite cannot store faithfully (an unpaired surrogate)', async () => {
    const { info } = await store.createRun({ experimentId: '0', startTime: 1 });
    await expect(store.logBatch(info.runId, { params: { p: 'a\ud800b' } })).rejects.toThrow(/unpaired UTF-16 surrogate/);
    await store.logBatch(info.runId, { params: { p: 'emoji 🎲 and NUL \u0000 kept' } });
    expect((await store.getRun(info.runId)).data.params.p).toBe('emoji 🎲 and NUL \u0000 kept');
  });

  it("keeps keys named after Object's members as plain keys", async () => {
    const { info } = await store.createRun({ experimentId: '0', startTime: 1 });
    // fromEntries makes '__proto__' an own key (an object literal would set the prototype instead).
    await store.logBatch(info.runId, { params: Object.fromEntries([['constructor', 'c'], ['__proto__', 'p']]) });
    const { params, tags } = (await store.getRun(info.runId)).data;
    expect(Object.keys(params).sort()).toEqual(['__proto__', 'constructor']);
    expect(params['__proto__']).toBe('p');
    expect(tags['toString']).toBeUndefined();
  });
});

describe('MLflow JSON dialect', () => {
  it('takes only bare NaN/Infinity tokens for numbers, never a string a client sent', () => {
    const parsed = parseMlflowJson('{"s":"\\u0000difflab-nonfinite:NaN","n":NaN,"i":-Infinity}') as Record<string, unknown>;
    expect(parsed.s).toBe('\u0000difflab-nonfinite:NaN');
    expect(parsed.n).toBeNaN();
    expect(parsed.i).toBe(Number.NEGATIVE_INFINITY);
    expect(stringifyMlflowJson({ s: '\u0000difflab-nonfinite:NaN', n: Number.NaN })).toBe('{"s":"\\u0000difflab-nonfinite:NaN","n":NaN}');
  });
});
