import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openTracker } from '@difflab/tracking';

const bin = fileURLToPath(new URL('../bin/difflab.js', import.meta.url));
const repo = fileURLToPath(new URL('../../..', import.meta.url));

function difflab(cwd: string, env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete e.MLFLOW_TRACKING_URI;
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: e, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('difflab study', () => {
  it('--help lists every study of experiments/*/study.ts with its stages and presets', async () => {
    const r = await difflab(repo, {}, 'study', '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/unet-pruning {2}\(experiments\/unet-pruning\/study\.ts\)/);
    expect(r.stdout).toMatch(/ {4}retrain {4}distil/);
    expect(r.stdout).toMatch(/presets: audio, audio-smoke, full, smoke/);
    expect(r.stdout).toMatch(/dit-scaling {2}\(experiments\/dit-scaling\/study\.ts\)[\s\S]* {4}train {6}\[per run\][\s\S]*presets: full, smoke/);
    expect(r.stdout).toMatch(/example {2}\(experiments\/example-study\/study\.ts\)/);
  });

  it('names the unknown study, stage or preset and lists the valid ones', async () => {
    expect((await difflab(repo, {}, 'study', 'nope', 'all', '--preset', 'smoke')).stderr).toMatch(/unknown study 'nope'; known: .*unet-pruning/);
    expect((await difflab(repo, {}, 'study', 'example', 'fit', '--preset', 'smoke', '--no-track')).stderr).toMatch(/no stage 'fit'; stages: snr, table, all/);
    expect((await difflab(repo, {}, 'study', 'example', 'snr', '--preset', 'huge', '--no-track')).stderr).toMatch(/no preset 'huge'; presets: smoke/);
  });

  it('suggests the study, stage or preset a typo probably meant', async () => {
    const [studyTypo, stageTypo, presetTypo, pruneTypo] = await Promise.all([
      difflab(repo, {}, 'study', 'unet-prunnig', 'all', '--preset', 'smoke'),
      difflab(repo, {}, 'study', 'example', 'snrr', '--preset', 'smoke', '--no-track'),
      difflab(repo, {}, 'study', 'example', 'snr', '--preset', 'smok', '--no-track'),
      difflab(repo, {}, 'prune', 'baselin', '--preset', 'smoke', '--no-track'),
    ]);
    expect(studyTypo.code).toBe(2);
    expect(studyTypo.stderr).toMatch(/unknown study 'unet-prunnig'; did you mean 'unet-pruning'\? known: .*dit-scaling.*unet-pruning/);
    expect(stageTypo.stderr).toContain("study 'example' has no stage 'snrr'; did you mean 'snr'? stages: snr, table, all");
    expect(presetTypo.stderr).toContain("study 'example' has no preset 'smok'; did you mean 'smoke'? presets: smoke");
    expect(pruneTypo.stderr).toContain("has no stage 'baselin'; did you mean 'baseline'?");
    for (const r of [stageTypo, presetTypo, pruneTypo]) expect(r.code).toBe(1);
  });

  it('prune is an alias of `study unet-pruning`', async () => {
    const r = await difflab(repo, {}, 'prune', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/unet-pruning [\s\S]*baseline[\s\S]*--variant VALUE/);
  });

  it("runs the docs' example study end to end, its tracker run tagged with study, preset and stage", async () => {
    const root = mkdtempSync(join(tmpdir(), 'cli-study-'));
    mkdirSync(join(root, 'experiments'));
    cpSync(join(repo, 'experiments/example-study'), join(root, 'experiments/example-study'), { recursive: true, filter: (src) => !src.includes('/runs') });
    symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
    const tracking = join(root, '.difflab');
    const r = await difflab(root, { DIFFLAB_TRACKING_DIR: tracking }, 'study', 'example', 'all', '--preset', 'smoke');
    expect(r.code, r.stderr).toBe(0);
    const table = readFileSync(join(root, 'experiments/example-study/runs/smoke/table.md'), 'utf8').trim().split('\n');
    expect(table).toHaveLength(2 + 5);
    // t = 0 of the linear schedule: ᾱ = 1 − β₀ = 1 − 1e-4, so log-SNR = log(9999).
    expect(table[2]).toBe(`| 0 | ${Math.log(9999).toFixed(3)} | ${table[2]!.split('|')[3]!.trim()} |`);
    const tracker = openTracker({ env: { DIFFLAB_TRACKING_DIR: tracking } });
    try {
      const exp = await tracker.getExperimentByName('example-study');
      const runs = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
      expect(runs.items.map((x) => x.data.tags)).toEqual([expect.objectContaining({ study: 'example', preset: 'smoke', stage: 'snr' })]);
    } finally {
      await tracker.close();
    }
  });
});
