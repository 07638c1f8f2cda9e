import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readParquet, tableToRows } from '@difflab/data';
import { median } from '../src/latency.js';
import { evalStage, retrainStage } from '../src/stages.js';
import { StudyError, loadBaselineConfig, loadEvalSettings, loadVariantSettings, studyLayout } from '../src/study.js';
import { assembleTable, paretoFront, pruningRowRecord, readPruningRows, tableStage, type PruningRow } from '../src/table.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'difflab-pruning-'));

function row(order: number, variant: string, method: PruningRow['method'], macs: number, ms1: number, pruned: number | null, retrained: number | null, metric: PruningRow['metric'] = 'fid'): PruningRow {
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
    metric,
    quality_pruned: pruned,
    quality_retrained: retrained,
    heldout_loss: 0.1,
    quality_samples: 30,
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
    expect(paretoFront([{ cost: 1, quality: 5 }, { cost: 1, quality: 5 }, { cost: 2, quality: null }])).toEqual(new Set([0, 1]));
    expect(t.markdown).toContain('# U-Net pruning on Fashion-MNIST');
    expect(t.markdown).toContain('| FID-FMNIST pruned | FID-FMNIST retrained |');
    expect(t.batches).toEqual(['1', '64']);
    expect(t.markdown).toContain('| bk-mid | bk-sdm | preserved → distill | 800 (80%) | 80 (80%) | 8.0 | 80.0 | 50.00 | 22.00 | 0.1000 | ★ / ★ |');
    expect(t.markdown).toContain('| ld-k4-scratch | ld-pruner | scratch → finetune |');
    expect(t.markdown).toContain('| SD-v1.4 | 859,520,964 | 338,749,194,240 | 859,520,964 | 338,749,194,240 |');
  });

  it('is assembled from the eval artifacts into Markdown, Parquet and plots', async () => {
    const l = layoutIn(tmp());
    mkdirSync(l.evalDir, { recursive: true });
    for (const r of [...rows].reverse()) writeFileSync(join(l.evalDir, `${r.variant}.json`), JSON.stringify(pruningRowRecord(r)));
    writeFileSync(join(l.evalDir, 'machine.json'), JSON.stringify({ date: '2026-11-22', cores: 2 }));
    const t = await tableStage(l);
    expect(t.rows.map((r) => r.variant)).toEqual(rows.map((r) => r.variant));
    const parquet = tableToRows(readParquet(join(l.resultsDir, 'table.parquet')));
    expect(parquet.map((r) => r.variant)).toEqual(rows.map((r) => r.variant));
    expect(parquet.map((r) => r.fid_final)).toEqual([20, 22, 40, 25, 35]);
    expect(parquet.map((r) => r.latency_b64_ms)).toEqual([100, 80, 90, 70, 70]);
    expect(parquet.map((r) => r.pareto_macs)).toEqual([true, true, true, false, false]);
    for (const f of ['table.md', 'fid-vs-macs.svg', 'fid-vs-macs.png', 'fid-vs-latency.svg', 'fid-vs-latency.png']) expect(existsSync(join(l.resultsDir, f)), f).toBe(true);
  });

  it('names the file and the field of a bad eval row', () => {
    const l = layoutIn(tmp());
    mkdirSync(l.evalDir, { recursive: true });
    const { macs: _m, fid_retrained: _f, ...broken } = pruningRowRecord(rows[1]!);
    writeFileSync(join(l.evalDir, 'baseline.json'), JSON.stringify(pruningRowRecord(rows[0]!)));
    writeFileSync(join(l.evalDir, 'bk-mid.json'), JSON.stringify(broken));
    expect(() => readPruningRows(l.evalDir)).toThrow(/bk-mid\.json: missing field\(s\) macs, fid_retrained/);
    writeFileSync(join(l.evalDir, 'bk-mid.json'), JSON.stringify(pruningRowRecord({ ...rows[1]!, metric: 'fad' })));
    expect(() => readPruningRows(l.evalDir)).toThrow(/rows mix the metrics fid and fad/);
    expect(() => readPruningRows(join(l.evalDir, 'none'))).toThrow(/not found; run the eval stage first/);
  });
});

describe('pruning table of an audio study', () => {
  const audio = rows.map((r) => ({ ...r, metric: 'fad' as const }));

  it('has FAD columns, notes and plot axes, and fad_* fields in eval rows and Parquet', async () => {
    const l = layoutIn(tmp());
    mkdirSync(l.evalDir, { recursive: true });
    for (const r of audio) writeFileSync(join(l.evalDir, `${r.variant}.json`), JSON.stringify(pruningRowRecord(r)));
    expect(pruningRowRecord(audio[1]!)).toMatchObject({ metric: 'fad', fad_pruned: 50, fad_retrained: 22, fad_samples: 30 });
    const t = await tableStage(l);
    expect(t.markdown).toContain('# U-Net pruning on spoken-digits log-mel spectrograms');
    expect(t.markdown).toContain('| FAD pruned | FAD retrained | held-out ε-MSE |');
    expect(t.markdown).toContain('| bk-mid | bk-sdm | preserved → distill | 800 (80%) | 80 (80%) | 8.0 | 80.0 | 50.00 | 22.00 | 0.1000 | ★ / ★ |');
    expect(t.markdown).toContain('FAD with 30 samples per model against the test voices');
    expect(t.markdown).not.toContain('FID');
    expect([...t.paretoMacs].sort()).toEqual([0, 1, 2]);
    const parquet = tableToRows(readParquet(join(l.resultsDir, 'table.parquet')));
    expect(parquet.map((r) => r.fad_final)).toEqual([20, 22, 40, 25, 35]);
    expect(parquet.map((r) => r.metric)).toEqual(audio.map(() => 'fad'));
    expect(parquet.every((r) => !('fid_pruned' in r) && 'fad_pruned' in r)).toBe(true);
    for (const f of ['fad-vs-macs', 'fad-vs-latency']) {
      expect(existsSync(join(l.resultsDir, `${f}.png`)), f).toBe(true);
      const svg = readFileSync(join(l.resultsDir, `${f}.svg`), 'utf8');
      expect(svg).toContain('FAD vs');
      expect(svg).not.toContain('FID');
    }
  });
});

/** A preset directory of the audio study: the baseline trains on spoken-digits-mel, eval.json as given. */
function audioPreset(evalJson: unknown = { samplesPerClass: 1, batchSize: 10, latency: { batches: [1] } }) {
  const l = layoutIn(tmp());
  writeFileSync(
    join(l.presetDir, 'baseline.json'),
    JSON.stringify({ data: { dataset: 'spoken-digits-mel' }, model: { preset: 'UNet-SpokenDigits-S' }, train: { steps: 1, batchSize: 2, lr: 1e-3 }, sample: { useEma: false } }),
  );
  writeFileSync(join(l.presetDir, 'eval.json'), JSON.stringify(evalJson));
  return l;
}

describe('audio study input', () => {
  it('scores with FAD and names the target that makes a missing embedder', async () => {
    const l = audioPreset();
    await expect(evalStage(l, { embedder: '/nonexistent/spoken-digits-embedder.safetensors' })).rejects.toThrow(/embedder not found; train it with 'npx nx run spoken-digits:train-embedder'/);
    await expect(evalStage(l, { featureNet: '/some/fmnist-featurenet.safetensors' })).rejects.toThrow(/--feature-net does not apply: this audio study is scored by FAD; use --embedder/);
  });

  it('names the bad field of an audio preset', () => {
    const l = audioPreset({ samplesPerClass: 0, latency: {} });
    expect(() => loadEvalSettings(l)).toThrow(/eval\.json:\n {2}samplesPerClass: /);
    writeFileSync(join(l.presetDir, 'baseline.json'), JSON.stringify({ data: { dataset: 'spoken-digits' }, model: { preset: 'UNet-SpokenDigits-S' }, train: { steps: 1, batchSize: 2, lr: 1e-3 } }));
    expect(() => loadBaselineConfig(l)).toThrow(/baseline\.json:\n {2}data\.dataset: /);
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
