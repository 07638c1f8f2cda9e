import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MetricsTable } from '@difflab/runs';
import { openTracker } from '@difflab/tracking';

// Fault injection against real `difflab train` processes: kill -9 and SIGTERM at seeded random steps,
// then --resume; two writers on one --out. Each run is a tiny DiT of 16 steps.

const runner = fileURLToPath(new URL('./fixtures/difflab-train.mjs', import.meta.url));
const STEPS = 16;
const CHECKPOINT_EVERY = 3;
const METRIC_KEYS = ['loss', 'lr', 'grad_norm', 'examples_per_sec', 'wall_time'];
/** Five `difflab train` processes each start tsx, the backend and the dataset: beside Nx's parallel tasks on 2 cores that passed 120 s. */
const PROCESS_TEST_TIMEOUT = 360_000;

/** A user's environment with a fresh local tracker store and no MLflow server. */
function envWithStore(store: string): NodeJS.ProcessEnv {
  const { MLFLOW_TRACKING_URI: _u, ...env } = process.env;
  return { ...env, DIFFLAB_TRACKING_DIR: store };
}

function tinyConfig(dir: string, steps = STEPS): string {
  const path = join(dir, 'tiny.json');
  writeFileSync(
    path,
    JSON.stringify({
      name: 'tiny',
      seed: 5,
      model: { preset: 'DiT-FMNIST-S/4', patchSize: 8, hiddenSize: 32, depth: 2, numHeads: 2 },
      diffusion: { timesteps: 100 },
      train: { steps, batchSize: 8, lr: 2e-3, warmupSteps: 2, emaDecay: 0.9 },
      checkpoint: { every: CHECKPOINT_EVERY },
      log: { every: 1 },
      eval: { heldoutExamples: 10 },
      sample: { steps: 2, perClass: 1 },
    }),
  );
  return path;
}

interface Trainer {
  pid: number;
  /** Resolves with the exit code, or the signal that ended the process. */
  exited: Promise<number | NodeJS.Signals>;
  stderr(): string;
}

/** Starts `difflab train …`; with `stopAt`, sends `signal` as soon as it reports step `stopAt.step` or later. */
function startTraining(env: NodeJS.ProcessEnv, args: string[], stopAt?: { step: number; signal: NodeJS.Signals }): Trainer {
  const child = spawn(process.execPath, [runner, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let sent = false;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (!stopAt || sent) return;
    const reached = [...stderr.matchAll(/^step (\d+)\//gm)].some((m) => Number(m[1]) >= stopAt.step);
    if (reached) {
      sent = true;
      child.kill(stopAt.signal);
    }
  });
  // Never leave a training process behind when an assertion fails.
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const exited = new Promise<number | NodeJS.Signals>((done) =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      done(code ?? signal!);
    }),
  );
  return { pid: child.pid!, exited, stderr: () => stderr };
}

/** mulberry32: the test's own seeded generator, so the kill points are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct steps in (CHECKPOINT_EVERY, STEPS), ascending: each interruption happens after a checkpoint exists. */
function killSteps(seed: number, count: number): number[] {
  const rand = seeded(seed);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(CHECKPOINT_EVERY + 1 + Math.floor(rand() * (STEPS - CHECKPOINT_EVERY - 1)));
  return [...picked].sort((a, b) => a - b);
}

/** The rows of metrics.parquet without the timing columns (wall_time, examples_per_sec differ between any two runs). */
async function metricRows(runDir: string) {
  const table = new MetricsTable(join(runDir, 'metrics.parquet'));
  await table.loadUpTo(Infinity);
  return table.recorded.map(({ step, loss, lr, grad_norm }) => ({ step, loss, lr, grad_norm }));
}

const bytes = (path: string) => readFileSync(path);

describe('fault injection: interrupted training', () => {
  it('kill -9 / SIGTERM at seeded random steps, then --resume: the run directory equals an uninterrupted run bit for bit, and the tracker holds one run with every step once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fault-'));
    const cfg = tinyConfig(dir);
    const store = join(dir, 'store');
    const env = envWithStore(store);
    const reference = join(dir, 'straight');
    const interrupted = join(dir, 'interrupted');

    const straight = startTraining(env, [cfg, '--out', reference, '--no-track']);
    const kills = killSteps(19, 3);
    const signals: NodeJS.Signals[] = ['SIGKILL', 'SIGTERM', 'SIGKILL'];
    const logs: string[] = [];
    for (const [i, step] of kills.entries()) {
      const args = [cfg, '--out', interrupted, ...(i > 0 ? ['--resume'] : [])];
      const t = startTraining(env, args, { step, signal: signals[i]! });
      const ended = await t.exited;
      logs.push(t.stderr());
      expect(ended, `interruption ${i} at step ${step}:\n${t.stderr()}`).toBe(signals[i] === 'SIGKILL' ? 'SIGKILL' : 130);
    }
    const last = startTraining(env, [cfg, '--out', interrupted, '--resume']);
    expect(await last.exited, last.stderr()).toBe(0);
    expect(await straight.exited, straight.stderr()).toBe(0);

    // The run directory: final checkpoint (weights, EMA, optimizer, state, digests), metrics, samples, evaluation.
    const final = (root: string) => join(root, 'checkpoints', `step-${String(STEPS).padStart(7, '0')}`);
    for (const file of ['model.safetensors', 'ema.safetensors', 'optimizer.safetensors', 'state.json', 'SHA256SUMS']) {
      expect(bytes(join(final(interrupted), file)).equals(bytes(join(final(reference), file))), `${file} (kills at ${kills})`).toBe(true);
    }
    const rows = await metricRows(reference);
    expect(await metricRows(interrupted)).toEqual(rows);
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    const sample = `samples/step-${String(STEPS).padStart(7, '0')}.png`;
    expect(bytes(join(interrupted, sample)).equals(bytes(join(reference, sample)))).toBe(true);
    const heldout = (root: string) => JSON.parse(readFileSync(join(root, 'eval.json'), 'utf8')).heldout_loss;
    expect(heldout(interrupted)).toBe(heldout(reference));
    expect(existsSync(join(interrupted, 'run.lock'))).toBe(false);

    // The tracker: one run, FINISHED, each step of each metric exactly once, the values of metrics.parquet.
    const runId = JSON.parse(readFileSync(join(interrupted, 'tracker-run.json'), 'utf8')).runId as string;
    for (const log of [...logs.slice(1), last.stderr()]) expect(log).toContain(`continuing tracker run ${runId}`);
    const tracker = openTracker({ env: { DIFFLAB_TRACKING_DIR: store } });
    try {
      const exp = await tracker.getExperimentByName('tiny');
      const { items } = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
      expect(items.map((r) => [r.info.runId, r.info.status])).toEqual([[runId, 'FINISHED']]);
      for (const key of METRIC_KEYS) {
        const steps = (await tracker.getMetricHistory(runId, key)).map((m) => m.step).sort((a, b) => a - b);
        expect(steps, key).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
      }
      const loss = (await tracker.getMetricHistory(runId, 'loss')).sort((a, b) => a.step - b.step).map((m) => m.value);
      expect(loss).toEqual(rows.map((r) => r.loss));
      expect(await tracker.getMetricHistory(runId, 'heldout_loss')).toHaveLength(1);
    } finally {
      await tracker.close();
    }
  }, PROCESS_TEST_TIMEOUT);

  it('refuses a second writer on one --out while the first trains, naming it; the first goes on unaffected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fault-'));
    // Far more steps than the test waits for: the first writer is certainly still at work when the second starts.
    const cfg = tinyConfig(dir, 100_000);
    const store = join(dir, 'store');
    const env = envWithStore(store);
    const runDir = join(dir, 'run');

    const first = startTraining(env, [cfg, '--out', runDir]);
    await new Promise<void>((ready, fail) => {
      const poll = setInterval(() => {
        if (/^step 1\//m.test(first.stderr())) {
          clearInterval(poll);
          ready();
        }
      }, 20);
      first.exited.then(() => {
        clearInterval(poll);
        fail(new Error(`first run ended early:\n${first.stderr()}`));
      });
    });
    const second = startTraining(env, [cfg, '--set', 'train.lr=0.003', '--out', runDir]);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(new RegExp(`difflab: ${runDir} is in use by pid ${first.pid} on host \\S+, since \\S+ \\(lock ${runDir}/run\\.lock\\)`));

    // The first is still training, with its own config; stopped, it checkpoints as usual.
    const stepsBefore = [...first.stderr().matchAll(/^step (\d+)\//gm)].length;
    await new Promise((later) => setTimeout(later, 1000));
    expect([...first.stderr().matchAll(/^step (\d+)\//gm)].length).toBeGreaterThan(stepsBefore);
    process.kill(first.pid, 'SIGTERM');
    expect(await first.exited, first.stderr()).toBe(130);
    const stoppedAt = Number(/stopped at step (\d+)/.exec(first.stderr())?.[1]);
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).train.lr).toBe(2e-3);
    expect((await metricRows(runDir)).map((r) => r.step)).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1));
    expect(existsSync(join(runDir, 'run.lock'))).toBe(false);
    const tracker = openTracker({ env: { DIFFLAB_TRACKING_DIR: store } });
    try {
      const exp = await tracker.getExperimentByName('tiny');
      const { items } = await tracker.searchRuns({ experimentIds: [exp!.experimentId] });
      expect(items.map((r) => [r.info.status, r.data.params['train.lr']])).toEqual([['KILLED', '0.002']]);
    } finally {
      await tracker.close();
    }
  }, PROCESS_TEST_TIMEOUT);
});
