import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DB_FILE, locationOfDir, SqliteStore, stringifyMlflowJson, type Metric } from '@difflab/tracking';
import { benchMachine, machineLine, vectorFlags, type BenchMachine } from './machine.js';

/**
 * `difflab bench tracker`: the tracker under load. A fresh store in a temp directory receives
 * `runs` runs × `steps` steps × 5 metrics through the store API (logBatch, as a local training
 * logs), then `restRuns` more runs through a `difflab tracker` server's `runs/log-batch` endpoint
 * (2 client loops, as 2 trainers would); then the server's pages are timed: the runs table, the
 * same table with a filter, the experiments list, and a 10-run compare of all 5 metrics.
 * Targets (issue #19): ≥ 50,000 metric values/s locally, each page < 1 s.
 */

export const TRACKER_BENCH_METRICS = ['loss', 'heldout_loss', 'grad_norm', 'lr', 'acc'] as const;
export const TRACKER_TARGETS = { localValuesPerSecond: 50_000, pageMs: 1000 } as const;
/** MLflow's log-batch limit: 200 steps × 5 metrics per request. */
const VALUES_PER_BATCH = 1000;
const LEARNING_RATES = ['0.0001', '0.0003', '0.001', '0.003'];
export const TRACKER_BENCH_FILTER = "params.lr = '0.001' and metrics.loss < 0.5";
/** Measured on this schema: ~147 bytes per metric value (row + its unique index), with slack. */
const BYTES_PER_VALUE = 160;
const CLI = fileURLToPath(new URL('../../../apps/cli/bin/difflab.js', import.meta.url));

export interface TrackerBenchOptions {
  runs: number;
  steps: number;
  /** Runs logged over REST (default: a twentieth of `runs`, at least 1). */
  restRuns?: number;
  /** Parent of the temp store directory (default: the OS temp dir). */
  parentDir?: string;
  log?: (line: string) => void;
}

export interface IngestResult {
  runs: number;
  values: number;
  seconds: number;
  valuesPerSecond: number;
}

export interface PageTiming {
  name: string;
  path: string;
  /** Median of the timed fetches (full body read), after one warm-up. */
  ms: number;
  bytes: number;
}

export interface TrackerBenchReport {
  date: string;
  machine: BenchMachine & { vectorFlags: string[] };
  runs: number;
  steps: number;
  metrics: number;
  local: IngestResult;
  rest: IngestResult;
  pages: PageTiming[];
  dbBytes: number;
  targets: typeof TRACKER_TARGETS;
}

/** One batch of a run's metrics: steps [from, from + count) × the 5 metrics, like a trainer's flush. */
function metricBatch(runIndex: number, from: number, count: number, startTime: number): Metric[] {
  const out: Metric[] = [];
  for (let step = from; step < from + count; step++) {
    const timestamp = startTime + step * 100;
    const loss = 1 / (1 + step / 50) + (runIndex % 7) * 0.01;
    out.push(
      { key: 'loss', value: loss, step, timestamp },
      { key: 'heldout_loss', value: loss * 1.1, step, timestamp },
      { key: 'grad_norm', value: 1 + Math.sin(step + runIndex), step, timestamp },
      { key: 'lr', value: 1e-3, step, timestamp },
      { key: 'acc', value: 1 - loss / 2, step, timestamp },
    );
  }
  return out;
}

const runParams = (i: number) => ({ lr: LEARNING_RATES[i % LEARNING_RATES.length]!, seed: String(i), 'model.preset': 'DiT-FMNIST-S/4', 'train.steps': '1000' });

function progress(log: (l: string) => void, what: string, done: number, total: number, values: number, t0: number): void {
  const s = (performance.now() - t0) / 1000;
  const eta = done > 0 ? (s / done) * (total - done) : 0;
  log(`${what}: ${done}/${total} runs, ${values.toLocaleString('en')} values, ${Math.round(values / s).toLocaleString('en')} values/s, ETA ${Math.round(eta)} s`);
}

/** Local ingest: the store API, one logBatch (one transaction) per 1,000 values. */
async function ingestLocal(store: SqliteStore, experimentId: string, opts: Required<Pick<TrackerBenchOptions, 'runs' | 'steps'>>, log: (l: string) => void): Promise<{ result: IngestResult; runIds: string[] }> {
  const stepsPerBatch = VALUES_PER_BATCH / TRACKER_BENCH_METRICS.length;
  const runIds: string[] = [];
  let values = 0;
  const every = Math.max(1, Math.round(opts.runs / 20));
  const t0 = performance.now();
  for (let i = 0; i < opts.runs; i++) {
    const startTime = 1_700_000_000_000 + i * 1000;
    const run = await store.createRun({ experimentId, runName: `run-${i}`, startTime });
    await store.logBatch(run.info.runId, { params: runParams(i) });
    for (let from = 0; from < opts.steps; from += stepsPerBatch) {
      const metrics = metricBatch(i, from, Math.min(stepsPerBatch, opts.steps - from), startTime);
      await store.logBatch(run.info.runId, { metrics });
      values += metrics.length;
    }
    await store.updateRun(run.info.runId, { status: 'FINISHED', endTime: startTime + opts.steps * 100 });
    runIds.push(run.info.runId);
    if ((i + 1) % every === 0) progress(log, 'local ingest', i + 1, opts.runs, values, t0);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { result: { runs: opts.runs, values, seconds, valuesPerSecond: values / seconds }, runIds };
}

async function post(base: string, endpoint: string, body: object): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}/api/2.0/mlflow/${endpoint}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: stringifyMlflowJson(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${endpoint}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** REST ingest: `restRuns` runs through runs/create + runs/log-batch, from 2 concurrent client loops. */
async function ingestRest(base: string, experimentId: string, restRuns: number, steps: number, log: (l: string) => void): Promise<IngestResult> {
  const stepsPerBatch = VALUES_PER_BATCH / TRACKER_BENCH_METRICS.length;
  let next = 0;
  let values = 0;
  let done = 0;
  const every = Math.max(1, Math.round(restRuns / 10));
  const t0 = performance.now();
  const client = async () => {
    for (let i = next++; i < restRuns; i = next++) {
      const startTime = 1_700_000_000_000 + i * 1000;
      const created = await post(base, 'runs/create', { experiment_id: experimentId, run_name: `rest-${i}`, start_time: startTime });
      const runId = (created.run as { info: { run_id: string } }).info.run_id;
      await post(base, 'runs/log-batch', { run_id: runId, params: Object.entries(runParams(i)).map(([key, value]) => ({ key, value })) });
      for (let from = 0; from < steps; from += stepsPerBatch) {
        const metrics = metricBatch(i, from, Math.min(stepsPerBatch, steps - from), startTime);
        await post(base, 'runs/log-batch', { run_id: runId, metrics });
        values += metrics.length;
      }
      await post(base, 'runs/update', { run_id: runId, status: 'FINISHED', end_time: startTime + steps * 100 });
      if (++done % every === 0) progress(log, 'REST ingest', done, restRuns, values, t0);
    }
  };
  await Promise.all([client(), client()]);
  const seconds = (performance.now() - t0) / 1000;
  return { runs: restRuns, values, seconds, valuesPerSecond: values / seconds };
}

/** `difflab tracker` over the store, in its own process (as a user runs it); resolves with its URL. */
async function startServer(storeDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'tracker', '--store', storeDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`difflab tracker exited (${code}) before serving: ${err.trim() || out.trim()}`)));
  });
  return { url, child };
}

async function timePage(base: string, name: string, path: string, repeats = 3): Promise<PageTiming> {
  const once = async () => {
    const t0 = performance.now();
    const res = await fetch(`${base}${path}`);
    const body = await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${name} (${path}): HTTP ${res.status} ${Buffer.from(body).toString('utf8').slice(0, 300)}`);
    return { ms: performance.now() - t0, bytes: body.byteLength };
  };
  await once();
  const times: { ms: number; bytes: number }[] = [];
  for (let i = 0; i < repeats; i++) times.push(await once());
  times.sort((a, b) => a.ms - b.ms);
  const median = times[Math.floor(times.length / 2)]!;
  return { name, path, ms: median.ms, bytes: median.bytes };
}

export async function runTrackerBench(opts: TrackerBenchOptions): Promise<TrackerBenchReport> {
  const log = opts.log ?? (() => {});
  const { runs, steps } = opts;
  for (const [flag, v] of [['runs', runs], ['steps', steps]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag} must be a positive integer, got ${v}`);
  }
  const restRuns = opts.restRuns ?? Math.max(1, Math.round(runs / 20));
  if (!Number.isInteger(restRuns) || restRuns < 1) throw new Error(`--rest-runs must be a positive integer, got ${restRuns}`);
  const parent = opts.parentDir ?? tmpdir();
  const metrics = TRACKER_BENCH_METRICS.length;
  const need = (runs + restRuns) * steps * metrics * BYTES_PER_VALUE;
  const fs = statfsSync(parent);
  const free = fs.bavail * fs.bsize;
  if (need > free) {
    throw new Error(`the store needs about ${(need / 2 ** 30).toFixed(1)} GiB and ${parent} has ${(free / 2 ** 30).toFixed(1)} GiB free; pass --dir with a larger disk, or fewer --runs/--steps`);
  }
  const load1 = loadavg()[0]!;
  const dir = mkdtempSync(join(parent, 'difflab-tracker-bench-'));
  let server: ChildProcess | undefined;
  try {
    log(`store in ${dir} (about ${(need / 2 ** 30).toFixed(2)} GiB at the end)`);
    const store = new SqliteStore(locationOfDir(dir));
    const experimentId = await store.createExperiment('bench-local');
    const restExperimentId = await store.createExperiment('bench-rest');
    const { result: local, runIds } = await ingestLocal(store, experimentId, { runs, steps }, log);
    await store.close();

    const started = await startServer(dir);
    server = started.child;
    const base = started.url;
    const rest = await ingestRest(base, restExperimentId, restRuns, steps, log);

    log('timing pages');
    const compareRuns = runIds.slice(0, 10);
    const compare = `/compare?${[...compareRuns.map((id) => `run=${id}`), ...TRACKER_BENCH_METRICS.map((m) => `metric=${m}`)].join('&')}`;
    const pages = [
      await timePage(base, 'runs table', `/experiments/${experimentId}`),
      await timePage(base, 'runs table, filtered', `/experiments/${experimentId}?filter=${encodeURIComponent(TRACKER_BENCH_FILTER)}`),
      await timePage(base, 'experiments list', '/'),
      await timePage(base, `compare ${compareRuns.length} runs × ${metrics} metrics`, compare),
    ];
    const dbBytes = statSync(join(dir, DB_FILE)).size + (statSync(join(dir, `${DB_FILE}-wal`), { throwIfNoEntry: false })?.size ?? 0);
    return {
      date: new Date().toISOString(),
      machine: { ...benchMachine(load1), vectorFlags: vectorFlags() },
      runs,
      steps,
      metrics,
      local,
      rest,
      pages,
      dbBytes,
      targets: TRACKER_TARGETS,
    };
  } finally {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

const mark = (ok: boolean) => (ok ? 'meets target' : 'MISSES target');

export function formatTrackerReport(r: TrackerBenchReport): string {
  const rate = (x: IngestResult) => `${Math.round(x.valuesPerSecond).toLocaleString('en')} values/s (${x.values.toLocaleString('en')} values of ${x.runs} runs in ${x.seconds.toFixed(1)} s)`;
  return [
    `difflab bench tracker --runs ${r.runs} --steps ${r.steps}  ${r.date}  ${machineLine(r.machine)}`,
    `  vector flags: ${r.machine.vectorFlags.join(' ') || 'unknown'}`,
    `  store: ${(r.dbBytes / 2 ** 20).toFixed(0)} MiB (${r.metrics} metrics per step)`,
    `ingest, local (SqliteStore.logBatch, 1,000 values per call): ${rate(r.local)}  ${mark(r.local.valuesPerSecond >= r.targets.localValuesPerSecond)} (≥ ${r.targets.localValuesPerSecond.toLocaleString('en')})`,
    `ingest, REST (runs/log-batch, 2 clients → difflab tracker): ${rate(r.rest)}`,
    'pages (median of 3 after a warm-up, full body):',
    ...r.pages.map((p) => `  ${p.name.padEnd(34)} ${p.ms.toFixed(0).padStart(6)} ms  ${(p.bytes / 1024).toFixed(0).padStart(6)} KiB  ${mark(p.ms < r.targets.pageMs)} (< ${r.targets.pageMs} ms)`),
    `  filter: ${TRACKER_BENCH_FILTER}`,
  ].join('\n');
}
