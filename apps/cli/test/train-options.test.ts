import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openTracker } from '@difflab/tracking';

const bin = fileURLToPath(new URL('../bin/difflab.js', import.meta.url));

/** The environment of a user with a fresh store and no MLflow server. */
function envWithStore(store: string): NodeJS.ProcessEnv {
  const { MLFLOW_TRACKING_URI: _u, ...env } = process.env;
  return { ...env, DIFFLAB_TRACKING_DIR: store };
}

function difflab(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: 120_000, env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A run small enough to train in seconds. */
function tinyConfig(dir: string): string {
  const path = join(dir, 'tiny.json');
  writeFileSync(
    path,
    JSON.stringify({
      name: 'tiny',
      model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
      diffusion: { timesteps: 100 },
      train: { steps: 2, batchSize: 8, lr: 1e-3 },
      log: { every: 1 },
      eval: { heldoutExamples: 10 },
      sample: { steps: 2, perClass: 1 },
    }),
  );
  return path;
}

describe('difflab train --set / --run-name / --experiment', () => {
  it('trains with overrides, names the run and experiment, and says where the run is logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
    const store = join(dir, 'store');
    const env = envWithStore(store);
    const cfg = tinyConfig(dir);
    const runDir = join(dir, 'run');
    const sets = ['--set', 'train.lr=0.002', '--set', 'sample.sampler=ddpm'];
    const r = await difflab(env, 'train', cfg, ...sets, '--out', runDir, '--run-name', 'lr-2e-3', '--experiment', 'lr-sweep');
    expect(r.code, r.stderr).toBe(0);

    // The overrides are in the run's config (so in its hash and params) and recorded as typed.
    const written = JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8'));
    expect(written.train.lr).toBe(0.002);
    expect(written.sample.sampler).toBe('ddpm');

    // The run id is printed at the start (stderr) and in the last lines with the store and how to open it.
    const runId = /tracking run (\w+) \(experiment 'lr-sweep', name 'lr-2e-3'\) in (.+)/.exec(r.stderr);
    expect(runId?.[2]).toBe(store);
    const lastLines = r.stdout.trim().split('\n').slice(-3).join('\n');
    expect(r.stdout).toMatch(/run finished: 2 steps, final train loss \d\.\d{3,4}, held-out loss \d\.\d{3,4}\n/);
    // The phases that print no steps say when they start and how long they took (quiet-but-logged off a TTY).
    expect(r.stderr).toMatch(/^loading fashion-mnist …\nloading fashion-mnist: 70000 images in \d+\.\d s/m);
    expect(r.stderr).toMatch(/^sampling the grid at step 2 \(10 images, ddpm 2 steps\): 10 images in /m);
    expect(r.stderr).toMatch(/^held-out loss on 10 test images: 10 examples in /m);
    expect(r.stderr).toMatch(/^step 2\/2 {2}loss \d\.\d{3,4} {2}lr 0\.002000 /m);
    expect(r.stdout).toContain(`run directory  ${runDir}`);
    expect(lastLines).toContain(`tracker store  ${store}`);
    expect(lastLines).toContain(`tracker run    ${runId![1]}`);
    expect(lastLines).toContain(`npx difflab tracker --store ${store}  then open http://127.0.0.1:5000/runs/${runId![1]}`);

    const tracker = openTracker({ env: { DIFFLAB_TRACKING_DIR: store } });
    try {
      const run = await tracker.getRun(runId![1]!);
      expect(run.info.runName).toBe('lr-2e-3');
      expect((await tracker.getExperimentByName('lr-sweep'))?.experimentId).toBe(run.info.experimentId);
      const { tags, params } = run.data;
      expect(JSON.parse(tags['difflab.overrides']!)).toEqual(['train.lr=0.002', 'sample.sampler=ddpm']);
      expect(params['train.lr']).toBe('0.002');
    } finally {
      await tracker.close();
    }

    // --resume with other overrides fails before training and names both fixes.
    const changed = await difflab(env, 'train', cfg, '--set', 'train.lr=0.003', '--out', runDir, '--resume');
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('train.lr: run has 0.002, now 0.003');
    expect(changed.stderr).toContain('sample.sampler: run has "ddpm", now (unset)');
    expect(changed.stderr).toContain('same --set overrides');
    expect(changed.stderr).toContain(`difflab train ${join(runDir, 'config.json')} --out ${runDir} --resume`);

    // The same overrides, or the run's own config.json, resume it.
    const same = await difflab(env, 'train', cfg, ...sets, '--out', runDir, '--resume', '--no-track');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout).toContain('run finished: 2 steps');
    const own = await difflab(env, 'train', join(runDir, 'config.json'), '--out', runDir, '--resume', '--no-track');
    expect(own.code, own.stderr).toBe(0);
  }, 180_000);

  it('defaults the experiment to the config name and the run name to the run directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
    const store = join(dir, 'store');
    const r = await difflab(envWithStore(store), 'train', tinyConfig(dir), '--out', join(dir, 'my-run'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/tracking run \w+ \(experiment 'tiny', name 'my-run'\)/);
  }, 120_000);

  it('rejects a bad --set naming the field, the --set and the file, before creating anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
    const cfg = tinyConfig(dir);
    const env = envWithStore(join(dir, 'store'));
    const bad = await difflab(env, 'train', cfg, '--set', 'train.lr=fast', '--out', join(dir, 'run'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(cfg);
    expect(bad.stderr).toMatch(/train\.lr: .*\(from --set train\.lr=fast\)/);
    const unknown = await difflab(env, 'train', cfg, '--set', 'train.learningRate=1e-3', '--out', join(dir, 'run'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('learningRate');
    const noValue = await difflab(env, 'train', cfg, '--set', 'train.lr', '--out', join(dir, 'run'));
    expect(noValue.code).toBe(1);
    expect(noValue.stderr).toContain('expected KEY=VALUE');
    const emptyName = await difflab(env, 'train', cfg, '--run-name', '', '--out', join(dir, 'run'));
    expect(emptyName.code).toBe(1);
    expect(emptyName.stderr).toContain('--run-name needs a non-empty name');
    expect(existsSync(join(dir, 'run'))).toBe(false);
    expect(existsSync(join(dir, 'store'))).toBe(false);
  });
});
