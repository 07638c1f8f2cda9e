import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readParquet, tableToRows } from '@difflab/data';
import { median } from '../src/pruning/latency.js';
import { retrainStage } from '../src/pruning/stages.js';
import { StudyError, loadVariantSettings, studyLayout } from '../src/pruning/study.js';
import { assembleTable, paretoFront, readPruningRows, tableStage, type PruningRow } from '../src/pruning/table.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-pruning-'));

function row(order: number, variant: string, method: PruningRow['method'], macs: number, ms1: number, fidPruned: number | null, fidRetrained: number | null): PruningRow {
  return {
    order,
    variant,
    method,
    init: method === 'baseline' ? 'trained' : variant.endsWith('scratch') ? 'scratch' : 'preserved',
    retrain: method === 'baseline' ? 'none' : method === 'bk-sdm' ? 'distill' : 'finetune',
    spec: method === 'baseline' ? '' : '{"removeMid":true,"remove":[]}',
    zeroed: 0,
    k: method === 'ld-pruner' ? 4 : null,
    params: macs * 10,
    macs,
    thop_macs: macs,
    latency_ms: { '1': ms1, '64': ms1 * 10 },
    load_avg: 1.5,
    fid_pruned: fidPruned,
    fid_retrained: fidRetrained,
    heldout_loss: 0.1,
    fid_samples: 30,
    backend: 'native',
  };
}

// Final FID = retrained, else pruned. Worked by hand: vs MACs the baseline (100, 20), bk-mid (80, 22) and
// bk-tiny (50, 40) are undominated; ld-k4 (90, 25) is beaten by bk-mid. Vs latency at batch 1: baseline (10, 20),
// bk-mid (8, 22), ld-k4 (7, 25) are undominated; bk-tiny (9, 40) loses to bk-mid, the scratch run (7, 35) to ld-k4.
const rows = [
  row(0, 'baseline', 'baseline', 100, 10, 20, null),
  row(1, 'bk-mid', 'bk-sdm', 80, 8, 50, 22),
  row(2, 'bk-tiny', 'bk-sdm', 50, 9, 90, 40),
  row(3, 'ld-k4', 'ld-pruner', 90, 7, 30, 25),
  row(4, 'ld-k4-scratch', 'ld-pruner', 90, 7, null, 35),
];

function layoutIn(dir: string) {
  mkdirSync(join(dir, 'presets', 'p'), { recursive: true });
  return studyLayout(dir, 'p');
}

describe('pruning table', () => {
  it('marks the Pareto fronts of final FID vs MACs and vs latency', () => {
    const t = assembleTable(rows);
    expect([...t.paretoMacs].sort()).toEqual([0, 1, 2]);
    expect([...t.paretoLatency].sort()).toEqual([0, 1, 3]);
    expect(paretoFront([{ cost: 1, fid: 5 }, { cost: 1, fid: 5 }, { cost: 2, fid: null }])).toEqual(new Set([0, 1]));
    expect(t.batches).toEqual(['1', '64']);
    expect(t.markdown).toContain('| bk-mid | bk-sdm | preserved → distill | 800 (80%) | 80 (80%) | 8.0 | 80.0 | 50.00 | 22.00 | 0.1000 | ★ / ★ |');
    expect(t.markdown).toContain('| ld-k4-scratch | ld-pruner | scratch → finetune |');
    expect(t.markdown).toContain('| SD-v1.4 | 859,520,964 | 338,749,194,240 | 859,520,964 | 338,749,194,240 |');
  });

  it('is assembled from the eval artifacts into Markdown, Parquet and plots', async () => {
    const l = layoutIn(tmp());
    mkdirSync(l.evalDir, { recursive: true });
    for (const r of [...rows].reverse()) writeFileSync(join(l.evalDir, `${r.variant}.json`), JSON.stringify(r));
    writeFileSync(join(l.evalDir, 'machine.json'), JSON.stringify({ date: '2026-11-22', cores: 2 }));
    const t = await tableStage(l);
    expect(t.rows.map((r) => r.variant)).toEqual(rows.map((r) => r.variant));
    const parquet = tableToRows(readParquet(join(l.resultsDir, 'table.parquet')));
    expect(parquet.map((r) => r.variant)).toEqual(rows.map((r) => r.variant));
    expect(parquet.map((r) => r.fid_final)).toEqual([20, 22, 40, 25, 35]);
    expect(parquet.map((r) => r.latency_b64_ms)).toEqual([100, 80, 90, 70, 70]);
    expect(parquet.map((r) => r.pareto_macs)).toEqual([true, true, true, false, false]);
    for (const f of ['table.md', 'fid-vs-macs.svg', 'fid-vs-macs.png', 'fid-vs-latency.svg', 'fid-vs-latency.png']) expect(existsSync(join(l.resultsDir, f)), f).toBe(true);
  }, 30_000);

  it('names the file and the field of a bad eval row', () => {
    const l = layoutIn(tmp());
    mkdirSync(l.evalDir, { recursive: true });
    const { macs: _m, ...broken } = rows[1]!;
    writeFileSync(join(l.evalDir, 'baseline.json'), JSON.stringify(rows[0]));
    writeFileSync(join(l.evalDir, 'bk-mid.json'), JSON.stringify(broken));
    expect(() => readPruningRows(l.evalDir)).toThrow(/bk-mid\.json: missing field\(s\) macs/);
    expect(() => readPruningRows(join(l.evalDir, 'none'))).toThrow(/not found; run the eval stage first/);
  });
});

describe('pruning study input', () => {
  it('rejects an unknown preset, method, duplicate id and unknown variant, naming the field', async () => {
    const dir = tmp();
    expect(() => studyLayout(dir, 'nope')).toThrow(StudyError);
    expect(() => studyLayout(dir, 'nope')).toThrow(/preset 'nope': .*presets.nope not found/);
    const l = layoutIn(dir);
    const write = (v: unknown) => writeFileSync(join(l.presetDir, 'variants.json'), JSON.stringify(v));
    const retrain = { steps: 1, batchSize: 2, lr: 1e-3 };
    write({ retrain, variants: [{ id: 'a', method: 'magnitude' }] });
    expect(() => loadVariantSettings(l)).toThrow(/variants\.json:\n {2}variants\.0\.method: /);
    write({ retrain, variants: [{ id: 'a', method: 'ld-pruner', k: 2 }, { id: 'a', method: 'ld-pruner', k: 3 }] });
    expect(() => loadVariantSettings(l)).toThrow(/variants\.1\.id: duplicate variant id 'a'/);
    write({ retrain, variants: [{ id: 'x', method: 'bk-sdm', spec: { remove: [{ stage: 'side', level: 0, index: 0, parts: ['resnet'] }] } }] });
    expect(() => loadVariantSettings(l)).toThrow(/variants\.0\.spec\.remove\.0\.stage/);
    mkdirSync(l.configsDir, { recursive: true });
    writeFileSync(join(l.configsDir, 'order.json'), JSON.stringify(['bk-mid', 'ld-k4']));
    await expect(retrainStage(l, { only: 'bk-small' })).rejects.toThrow(/--variant: unknown variant 'bk-small'; valid: bk-mid, ld-k4/);
  });

  it('takes the median of the timed repeats', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});
