// data.classes / data.perClass: which training rows a run sees (checked against a plain scan of the real
// Fashion-MNIST labels), that batches report those rows, the held-out split's classes, and the refusals.
import { describe, expect, it } from 'vitest';
import { loadFashionMnist } from '@difflab/data';
import { FloatBatchIterator, datasetFor, selectTrainRows, sequentialFloatBatches } from '../src/dataset.js';
import { ConfigError, parseTrainConfig, type TrainConfigInput } from '../src/config.js';

const data = (d: TrainConfigInput['data']) => parseTrainConfig({ model: { preset: 'DiT-FMNIST-S/4' }, train: { steps: 1, batchSize: 1, lr: 1e-3 }, data: d }).data;

/** The reference: a scan in split order, rows kept while their class still wants images. */
function scan(labels: ArrayLike<number>, limit: number, classes: number[] | null, perClass: number | null): number[] {
  const taken = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < limit; i++) {
    const c = labels[i]!;
    if (classes && !classes.includes(c)) continue;
    if (perClass !== null && (taken.get(c) ?? 0) >= perClass) continue;
    taken.set(c, (taken.get(c) ?? 0) + 1);
    out.push(i);
  }
  return out;
}

describe('data selection', () => {
  const fm = loadFashionMnist();
  const labels = fm.train.labels;

  it('selects exactly the first perClass images of each listed class, in split order, within data.trainExamples', () => {
    const cases: [TrainConfigInput['data'], number[]][] = [
      [{ classes: [9], perClass: 5 }, scan(labels, 60000, [9], 5)],
      [{ classes: [2, 7, 0], perClass: 3 }, scan(labels, 60000, [0, 2, 7], 3)],
      [{ perClass: 2 }, scan(labels, 60000, null, 2)],
      [{ classes: [0, 1, 2, 3, 4, 5, 6, 7, 8] }, scan(labels, 60000, [0, 1, 2, 3, 4, 5, 6, 7, 8], null)],
      [{ trainExamples: 200, classes: [4], perClass: 6 }, scan(labels, 200, [4], 6)],
    ];
    for (const [d, expected] of cases) {
      const rows = Array.from(selectTrainRows(labels, data(d)));
      expect(rows, JSON.stringify(d)).toEqual(expected);
      expect(rows.length).toBeGreaterThan(0);
    }
    // Fashion-MNIST's first five ankle boots (class 9), by hand from the label file.
    expect(Array.from(selectTrainRows(labels, data({ classes: [9], perClass: 5 })))).toEqual([0, 11, 15, 42, 44]);
  });

  it('datasetFor trains on the selected rows, batches report their split rows, and the test split keeps the listed classes', async () => {
    const d = await datasetFor(data({ classes: [9, 3], perClass: 4 }));
    const rows = scan(labels, 60000, [3, 9], 4);
    expect(d.train.n).toBe(8);
    expect(Array.from(d.train.rows!)).toEqual(rows);
    expect(Array.from(d.train.labels)).toEqual(rows.map((r) => labels[r]));
    // Pixels of the selected rows, padded and scaled: row r's top-left inner pixel.
    const size = 32 * 32;
    rows.forEach((r, i) => expect(d.train.images[i * size + 2 * 32 + 2]).toBeCloseTo(fm.train.images[r * 784]! / 127.5 - 1, 6));
    const seen = new Set<number>();
    const it = new FloatBatchIterator(d.train, 4, { seed: 1 });
    for (let k = 0; k < 4; k++) for (const i of it.next().indices!) seen.add(i);
    expect([...seen].sort((a, b) => a - b)).toEqual(rows);
    const testRows = scan(fm.test.labels, 10000, [3, 9], null);
    expect(d.test.n).toBe(testRows.length);
    expect(new Set(d.test.labels)).toEqual(new Set([3, 9]));
    expect(Array.from([...sequentialFloatBatches(d.test, 500)][0]!.indices!.slice(0, 5))).toEqual(testRows.slice(0, 5));
    expect(d.source).toMatch(/classes 9,3, first 4 per class: 8 training, 2000 test images/);
  });

  it('refuses classes out of range or repeated, perClass 0, and a class with too few images, naming the field', () => {
    const bad: [TrainConfigInput['data'], RegExp][] = [
      [{ classes: [3, 10] }, /data\.classes: 10 is not a label of fashion-mnist, whose labels are 0\.\.9/],
      [{ classes: [-1] }, /data\.classes\.0: /],
      [{ classes: [2, 5, 2] }, /data\.classes: lists 2 more than once; list each class once/],
      [{ classes: [] }, /data\.classes: /],
      [{ perClass: 0 }, /data\.perClass: /],
      [{ classes: [1], perClass: 1.5 }, /data\.perClass: /],
    ];
    for (const [d, message] of bad) {
      expect(() => data(d), JSON.stringify(d)).toThrow(ConfigError);
      expect(() => data(d)).toThrow(message);
    }
    expect(() => selectTrainRows(labels, data({ trainExamples: 30, classes: [9], perClass: 6 }))).toThrow(
      /data\.perClass: 6 images per class, but class 9 has 3 among the first 30 training images \(data\.trainExamples\); lower data\.perClass or raise data\.trainExamples/,
    );
    expect(() => selectTrainRows(labels, data({ trainExamples: 10, classes: [6] }))).toThrow(/data\.classes: class 6 has no image among the first 10 training images/);
  });
});
