import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTrainConfig } from '@difflab/runs';
import { LadderDefinitionError, loadLadderDefinition } from '../src/definition.js';
import { planUnits, rowConfig } from '../src/plan.js';
import { ladderMarkdown, type UnitResult } from '../src/stages.js';
import study from '../study.js';

const tmp = mkdtempSync(join(tmpdir(), 'ladder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const LADDER = join(import.meta.dirname, '..', 'ladder.json');
const def = loadLadderDefinition(LADDER);

/** Leaf paths where two JSON objects differ. */
function diffPaths(a: unknown, b: unknown, at = ''): string[] {
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

describe('recipe ladder definition', () => {
  it('gives every row of every preset a valid trainer config that differs from the row above by exactly its change', () => {
    for (const preset of Object.keys(def.presets)) {
      def.rows.forEach((row, rank) => {
        const cfg = rowConfig(def, preset, rank, 0);
        expect(() => parseTrainConfig(cfg, `${preset}/${row.id}`)).not.toThrow();
        if (rank === 0) return;
        const changed = diffPaths(rowConfig(def, preset, rank - 1, 0), cfg).sort();
        expect(changed).toEqual([...Object.keys(row.set), ...Object.keys(row.scale)].sort());
      });
    }
  });

  it('scales from the row on and keeps integer fields integral', () => {
    const rank = def.rows.findIndex((r) => r.id === 'batch4-lr2');
    const before = rowConfig(def, 'full', rank - 1, 0) as { train: { batchSize: number; lr: number } };
    const after = rowConfig(def, 'full', rank, 0) as { train: { batchSize: number; lr: number } };
    expect(after.train.batchSize).toBe(4 * before.train.batchSize);
    expect(after.train.lr).toBeCloseTo(2 * before.train.lr, 12);
    // Later rows keep the scaled values.
    expect((rowConfig(def, 'full', def.rows.length - 1, 0) as typeof after).train.batchSize).toBe(after.train.batchSize);
  });

  it('plans rows × seeds × columns with ids that name them', () => {
    const full = planUnits(def, 'full');
    expect(full).toHaveLength(def.rows.length * def.presets.full!.seeds.length * 2);
    expect(new Set(full.map((u) => u.id)).size).toBe(full.length);
    expect(full.filter((u) => u.column === 'time').every((u) => u.id.endsWith('-time'))).toBe(true);
    const smoke = planUnits(def, 'smoke');
    expect([...new Set(smoke.map((u) => u.row))]).toEqual(def.presets.smoke!.rows);
    // A smoke row still carries every change above it (rope implies flow and logit-normal).
    const rope = smoke.find((u) => u.row === 'rope')!.config as { diffusion: { process: string }; train: { timeSampling: string }; model: { rope: boolean } };
    expect([rope.diffusion.process, rope.train.timeSampling, rope.model.rope]).toEqual(['flow', 'logit-normal', true]);
  });

  it('is what the study fans out over', () => {
    const units = study.fanOut!.units(join(import.meta.dirname, '..'), 'smoke');
    expect(units.map((u) => u.id)).toEqual(planUnits(def, 'smoke').map((u) => u.id));
    expect(units.every((u) => u.fingerprints?.train && u.fingerprints.evaluate)).toBe(true);
  });

  it('names the field and the fix for a bad definition', () => {
    const write = (mutate: (d: Record<string, unknown>) => void) => {
      const raw = JSON.parse(JSON.stringify(def)) as Record<string, unknown>;
      mutate(raw);
      const path = join(tmp, `bad-${Math.random()}.json`);
      writeFileSync(path, JSON.stringify(raw));
      return path;
    };
    const dup = write((d) => ((d.rows as { id: string }[])[1]!.id = 'baseline'));
    expect(() => loadLadderDefinition(dup)).toThrow(/rows\.1\.id: row id 'baseline' appears twice/);
    const unknown = write((d) => ((d.presets as Record<string, { rows: string[] }>).smoke!.rows = ['nope']));
    expect(() => loadLadderDefinition(unknown)).toThrow(/presets\.smoke\.rows\.0: unknown row 'nope'; rows: baseline, flow/);
    const notNumber = write((d) => ((d.rows as { scale: Record<string, number> }[])[2]!.scale = { 'train.lrSchedule': 2 }));
    expect(() => rowConfig(loadLadderDefinition(notNumber), 'full', 2, 0)).toThrow(LadderDefinitionError);
    expect(() => planUnits(def, 'nope')).toThrow(/unknown preset 'nope'; presets: smoke, full/);
    writeFileSync(join(tmp, 'broken.json'), '{');
    expect(() => loadLadderDefinition(join(tmp, 'broken.json'))).toThrow(/broken\.json/);
  });
});

describe('ladder table', () => {
  const result = (row: string, rank: number, seed: number, column: string, fid: number, probe = Number.NaN): UnitResult => ({
    unit: `${row}-s${seed}`, row, rank, seed, column, steps: 100, batch_size: 8, wall_seconds: 50, steps_per_second: 2, probe_steps_per_second: probe,
    params: 1_234_000, gflops_per_example: 0.1, n_samples: 1000, fid, fid_floor: 2, class_accuracy: 0.5, precision: 0.6, recall: 0.4,
  });

  it("takes a row's speed from the rate probed before its equal-wall-clock runs, not from the runs' own wall time", () => {
    const md = ladderMarkdown(def, 'full', [result('baseline', 0, 0, 'steps', 10), result('baseline', 0, 0, 'time', 9, 4), result('baseline', 0, 1, 'time', 9, 6)], 'test machine');
    // Probes 4 and 6 steps/s → 5 steps/s for both columns; 100 steps ÷ 5 = 20 s (the runs' own 2 steps/s and 50 s are not shown).
    expect(md.match(/\| 5\.00 \| 20 \|/g)).toHaveLength(2);
    expect(md).not.toContain('| 2.00 | 50 |');
    expect(ladderMarkdown(def, 'full', [result('baseline', 0, 0, 'steps', 10)], 'm')).toContain('| — | — |');
  });

  it('reports mean ± sample standard deviation over seeds and the ratio to the floor', () => {
    const md = ladderMarkdown(def, 'full', [result('baseline', 0, 0, 'steps', 10), result('baseline', 0, 1, 'steps', 12), result('baseline', 0, 2, 'steps', 14), result('flow', 1, 0, 'time', 8)], 'test machine');
    // FIDs 10, 12, 14: mean 12, sample sd 2; floor 2 → 6×.
    expect(md).toContain('| baseline | ');
    expect(md).toContain('| 12.00 ± 2.00 | 6.00× |');
    expect(md).toContain(`## Equal wall-clock (${def.presets.full!.wallClockSeconds} s of training per run)`);
    expect(md).toMatch(/floor at the same N is 2\.00/);
    expect(md).toContain('N = 1000');
  });
});
