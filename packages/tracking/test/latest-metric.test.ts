import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { locationOfDir, SqliteStore, type Metric } from '../src/index.js';
import { tempDir } from './temp.js';

let store: SqliteStore;
beforeEach(() => {
  store = new SqliteStore(locationOfDir(tempDir('tracking-latest-')));
});
afterEach(async () => {
  await store.close();
});

/** A small seeded generator (LCG), so a failure replays. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** MLflow's rule, written independently: the largest (step, timestamp, value), NaN counting as 0, the first of equals kept. */
function reference(metrics: Metric[]): Metric {
  let best = metrics[0]!;
  const v = (m: Metric) => (Number.isNaN(m.value) ? 0 : m.value);
  for (const m of metrics.slice(1)) {
    const cmp = m.step - best.step || m.timestamp - best.timestamp || v(m) - v(best);
    if (cmp > 0) best = m;
  }
  return best;
}

describe('latest metric value', () => {
  it('is the same whether values come in one batch or one per call, and matches the rule', async () => {
    const rand = lcg(19);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    for (let trial = 0; trial < 40; trial++) {
      const metrics: Metric[] = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => ({
        key: 'm',
        value: pick([0, 1, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]),
        step: pick([0, 1, 2]),
        timestamp: pick([5, 6]),
      }));
      const batched = await store.createRun({ experimentId: '0', startTime: 1 });
      const single = await store.createRun({ experimentId: '0', startTime: 1 });
      await store.logBatch(batched.info.runId, { metrics });
      for (const m of metrics) await store.logBatch(single.info.runId, { metrics: [m] });
      const latestOf = async (id: string) => (await store.getRun(id)).data.metrics[0]!;
      const expected = reference(metrics);
      const [a, b] = [await latestOf(batched.info.runId), await latestOf(single.info.runId)];
      expect(a, JSON.stringify(metrics)).toEqual(b);
      expect([a.step, a.timestamp], JSON.stringify(metrics)).toEqual([expected.step, expected.timestamp]);
      // NaN and 0 tie on value (NaN is stored as 0 beside a flag), so only a tie may differ in the flag.
      if (!(Number.isNaN(a.value) && expected.value === 0) && !(a.value === 0 && Number.isNaN(expected.value))) {
        expect(a.value, JSON.stringify(metrics)).toEqual(expected.value);
      }
    }
  });
});
