import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openTracker } from '@difflab/tracking';

const bin = fileURLToPath(new URL('../bin/difflab.js', import.meta.url));
const repo = fileURLToPath(new URL('../../..', import.meta.url));

function difflab(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.MLFLOW_TRACKING_URI;
  delete env.DIFFLAB_TRACKING_DIR;
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const size = (hiddenSize: number, depth: number, numHeads: number) => ({ hiddenSize, depth, numHeads });

describe('difflab train --tag', () => {
  it('tags the tracker run with each KEY=VALUE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-tag-'));
    writeFileSync(
      join(dir, 'tiny.json'),
      JSON.stringify({
        name: 'tagged',
        model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 1, numHeads: 2 },
        diffusion: { timesteps: 100 },
        train: { steps: 2, batchSize: 4, lr: 1e-3 },
        eval: { heldoutExamples: 4 },
        sample: { steps: 2, perClass: 1 },
      }),
    );
    const r = await difflab(dir, 'train', 'tiny.json', '--out', 'run', '--tag', 'sweep=dit-scaling', '--tag', 'budget=1e13');
    expect(r.code, r.stderr).toBe(0);
    const tracker = openTracker({ uri: join(dir, '.difflab/tracking') });
    const exp = await tracker.getExperimentByName('tagged');
    const [run] = (await tracker.searchRuns({ experimentIds: [exp!.experimentId] })).items;
    expect(run!.data.tags).toMatchObject({ sweep: 'dit-scaling', budget: '1e13', 'difflab.run_dir': join(dir, 'run') });
    await tracker.close();
  });

  it('rejects a tag without "="', async () => {
    const r = await difflab(tmpdir(), 'train', 'whatever.json', '--tag', 'budget');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--tag budget: expected KEY=VALUE');
  });
});

/**
 * A scratch workspace holding only the sweep study (its study.ts, src/ and package.json) with `sweep`
 * as its sweep.json, and this workspace's node_modules: the CLI finds studies in its working directory.
 */
function sweepWorkspace(sweep: object): string {
  const root = mkdtempSync(join(tmpdir(), 'cli-sweep-'));
  const study = join(root, 'experiments/dit-scaling');
  mkdirSync(study, { recursive: true });
  for (const f of ['study.ts', 'package.json', 'src']) cpSync(join(repo, 'experiments/dit-scaling', f), join(study, f), { recursive: true });
  writeFileSync(join(study, 'sweep.json'), JSON.stringify(sweep));
  symlinkSync(join(repo, 'node_modules'), join(root, 'node_modules'));
  return root;
}

describe('difflab sweep', () => {
  const sweep = {
    name: 'dit-scaling',
    base: { model: { preset: 'DiT-FMNIST-S/4' }, train: { batchSize: 8 } },
    lr: { value: 0.001, referenceWidth: 32 },
    presets: {
      smoke: { budgets: { min: 1e10, max: 4e10, count: 3 }, sizes: [size(32, 1, 2), size(48, 1, 2), size(64, 1, 2)] },
    },
  };

  it('generate is gone and says why: the Nx plugin infers the run projects from sweep.json', async () => {
    const g = await difflab(sweepWorkspace(sweep), 'sweep', 'generate', 'experiments/dit-scaling/sweep.json');
    expect(g.code).toBe(1);
    expect(g.stderr).toMatch(/sweep generate is gone: the Nx plugin tools\/nx-studies infers/);
  });

  it('plan prints the steps of each run and rejects a base the trainer would refuse, naming file, preset, run and field', async () => {
    const root = sweepWorkspace(sweep);
    const p = await difflab(root, 'sweep', 'plan', '--preset', 'smoke');
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout.trim().split('\n')).toHaveLength(1 + 9);
    writeFileSync(join(root, 'experiments/dit-scaling/sweep.json'), JSON.stringify({ ...sweep, base: { ...sweep.base, sample: { sampler: 'euler' } } }));
    const bad = await difflab(root, 'sweep', 'plan', '--preset', 'smoke');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/experiments\/dit-scaling\/sweep\.json \(preset smoke, run c1e10-w32-d1\)[\s\S]*sample\.sampler/);
  });

  it('submit --slurm --dry-run writes the array and table scripts; submit without an engine is refused', async () => {
    const root = sweepWorkspace(sweep);
    const r = await difflab(root, 'sweep', 'submit', '--preset', 'smoke', '--slurm', '--dry-run', '--time', '20');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('9 array tasks');
    const array = readFileSync(join(root, 'experiments/dit-scaling/runs/slurm/smoke/train-array.sh'), 'utf8');
    expect(array).toContain('#SBATCH --array=0-8');
    expect(array).toContain(`#SBATCH --chdir=${root}`);
    expect(array).toContain('dit-scaling-smoke-c1e10-w32-d1');
    expect(readFileSync(join(root, 'experiments/dit-scaling/runs/slurm/smoke/table.sh'), 'utf8')).toContain('npx nx run dit-scaling-smoke:table');
    const none = await difflab(root, 'sweep', 'submit', '--preset', 'smoke');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('--slurm');
  });
});
