import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { locationOfDir, SqliteStore } from '../src/index.js';
import { tempDir } from './temp.js';

const WORKER = fileURLToPath(new URL('./fixtures/log-worker.ts', import.meta.url));
const N = 6;
const M = 1000;

interface Worker {
  ready: Promise<void>;
  done: Promise<void>;
  go(): void;
}

function startWorker(dir: string, i: number): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, dir, String(i), String(M)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker ${i} exited ${code}: ${stderr}`))));
  });
  return { ready, done, go: () => child.stdin.end('go\n') };
}

describe('local store under concurrent writer processes', () => {
  it(`keeps every metric of ${N} processes × ${M} metrics exactly once`, async () => {
    // The store does not exist yet: the processes also race to create the schema and the experiment.
    const dir = join(tempDir('tracking-concurrent-'), 'store');
    const workers = Array.from({ length: N }, (_, i) => startWorker(dir, i));
    await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.done))]);
    for (const w of workers) w.go();
    await Promise.all(workers.map((w) => w.done));

    const store = new SqliteStore(locationOfDir(dir));
    const experiments = (await store.searchExperiments({ filter: "name = 'parallel'" })).items;
    expect(experiments).toHaveLength(1);
    const runs = (await store.searchRuns({ experimentIds: [experiments[0]!.experimentId] })).items;
    expect(runs).toHaveLength(N);
    for (const run of runs) {
      const worker = Number(run.data.params.worker);
      expect(run.info.runName).toBe(`worker-${worker}`);
      expect(run.info.status).toBe('FINISHED');
      const history = await store.getMetricHistory(run.info.runId, 'x');
      expect(history.map((m) => m.step)).toEqual(Array.from({ length: M }, (_, s) => s));
      expect(history.every((m) => m.value === worker * 1e6 + m.step)).toBe(true);
    }
    expect(new Set(runs.map((r) => r.data.params.worker)).size).toBe(N);
    await store.close();
    const db = new Database(join(dir, 'mlruns.db'), { readonly: true });
    expect(db.prepare('SELECT COUNT(*) AS n FROM metrics').get()).toEqual({ n: N * M });
    db.close();
  });
});
