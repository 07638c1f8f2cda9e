import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { EndStatus, Experiment, FileInfo, Metric, Page, Run, SearchRunsOptions } from './entities.js';
import { AlreadyExistsError, InvalidParameterError, TrackerUnavailableError } from './errors.js';
import { MlflowRestStore, type RetryOptions } from './mlflow-rest-store.js';
import { localTrackingDir, mlflowAuthHeaders, resolveTrackingTarget } from './resolve.js';
import { locationOfDir, SqliteStore } from './sqlite-store.js';
import type { TrackingStore } from './store.js';
import { splitBatch, validateKey, validateMetric, validateParamValue, validateTagValue } from './validation.js';

export interface OpenTrackerOptions {
  /** Backend URI; default MLFLOW_TRACKING_URI, else the local store (see resolveTrackingTarget). */
  uri?: string;
  /** Local store that runs spool to while an MLflow server is unreachable; default DIFFLAB_TRACKING_DIR or .difflab/tracking. */
  spoolDir?: string;
  /** Retry policy for MLflow requests before a run falls back to the spool. */
  retry?: Partial<RetryOptions>;
  /** Buffered metrics are sent once this many wait (default 1000, MLflow's per-batch limit)… */
  flushEvery?: number;
  /** …or after this long (default 5000 ms). */
  flushIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Where warnings go (default stderr). */
  warn?: (message: string) => void;
}

export interface StartRunOptions {
  /** Created when missing; default 'Default'. */
  experimentName?: string;
  runName?: string;
  tags?: Record<string, string>;
}

export interface ResumeRunOptions {
  tags?: Record<string, string>;
}

export interface MetricInput {
  key: string;
  value: number;
  /** Default 0. */
  step?: number;
  /** Milliseconds since the epoch; default now. */
  timestamp?: number;
}

export type ParamValue = string | number | boolean;

export interface RunHandle {
  /** The id in the store the run is written to (the local spool id if the server was down at start). */
  readonly runId: string;
  readonly experimentId: string;
  /** Params are immutable: logging a key again with another value is an InvalidParameterError. */
  logParams(params: Record<string, ParamValue>): Promise<void>;
  /** Validated now, buffered, and sent in batches (see flushEvery / flushIntervalMs). */
  logMetrics(metrics: MetricInput[]): void;
  setTags(tags: Record<string, string>): Promise<void>;
  /** Uploads a file (or a directory, recursively) to `<artifactDir>/<basename>`; artifactDir default is the run root. */
  logArtifact(localPath: string, artifactDir?: string): Promise<void>;
  /** Sends buffered metrics; resolves when they are stored (remotely or in the spool). */
  flush(): Promise<void>;
  /** Flushes and records the final status and end time; calling it again does nothing. */
  end(status?: EndStatus): Promise<void>;
  /** True once writes go to the local spool because the MLflow server failed. */
  readonly spooled: boolean;
}

export interface Tracker {
  readonly kind: 'local' | 'mlflow';
  /** The backend: reads for UIs and tests go through it. */
  readonly store: TrackingStore;
  startRun(opts?: StartRunOptions): Promise<RunHandle>;
  /**
   * Continues an existing run of this tracker's store (a training run resumed from its checkpoint):
   * sets `tags`, then the status back to RUNNING; its end time is set again when it ends.
   */
  resumeRun(runId: string, opts?: ResumeRunOptions): Promise<RunHandle>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  searchRuns(opts: SearchRunsOptions): Promise<Page<Run>>;
  getRun(runId: string): Promise<Run>;
  getMetricHistory(runId: string, key: string): Promise<Metric[]>;
  listArtifacts(runId: string, path?: string): Promise<FileInfo[]>;
  /** Ends nothing: end runs first. Closes the store(s). */
  close(): Promise<void>;
}

/** Opens the tracker the environment asks for (MLFLOW_TRACKING_URI, DIFFLAB_TRACKING_DIR) or `opts.uri`. */
export function openTracker(opts: OpenTrackerOptions = {}): Tracker {
  const env = opts.env ?? process.env;
  const target = resolveTrackingTarget(opts.uri, env);
  if (target.kind === 'local') return new TrackerImpl('local', new SqliteStore(target.location), () => undefined, opts);
  const remote = new MlflowRestStore(target.url, { retry: opts.retry, headers: mlflowAuthHeaders(env) });
  let spool: SqliteStore | undefined;
  // The spool is opened only when a run needs it, so a healthy remote leaves no local files.
  const spoolStore = () => (spool ??= new SqliteStore(locationOfDir(opts.spoolDir ?? localTrackingDir(env))));
  return new TrackerImpl('mlflow', remote, spoolStore, opts, () => spool);
}

class TrackerImpl implements Tracker {
  constructor(
    readonly kind: 'local' | 'mlflow',
    readonly store: TrackingStore,
    private readonly spoolStore: () => SqliteStore | undefined,
    private readonly opts: OpenTrackerOptions,
    private readonly openedSpool: () => SqliteStore | undefined = () => undefined,
  ) {}

  async startRun(opts: StartRunOptions = {}): Promise<RunHandle> {
    const experimentName = opts.experimentName ?? 'Default';
    const tags = { ...(opts.tags ?? {}) };
    for (const [k, v] of Object.entries(tags)) {
      validateKey('tag', k);
      validateTagValue(k, v);
    }
    const startTime = Date.now();
    const create = { runName: opts.runName, startTime, tags };
    try {
      const experimentId = await ensureExperiment(this.store, experimentName);
      const run = await this.store.createRun({ experimentId, ...create });
      return new RunHandleImpl(this.store, run.info.runId, experimentId, experimentName, create, this.spoolStore, this.opts);
    } catch (err) {
      const spool = err instanceof TrackerUnavailableError ? this.spoolStore() : undefined;
      if (!spool) throw err;
      const experimentId = await spool.ensureExperiment(experimentName);
      const run = await spool.createRun({ experimentId, ...create });
      spool.markSpooled(run.info.runId, this.store.uri, null);
      warnSpooling(this.opts, err as Error, spool);
      return new RunHandleImpl(spool, run.info.runId, experimentId, experimentName, create, () => undefined, this.opts, true);
    }
  }

  async resumeRun(runId: string, opts: ResumeRunOptions = {}): Promise<RunHandle> {
    const run = await this.store.getRun(runId);
    const experiment = await this.store.getExperiment(run.info.experimentId);
    const tags = { ...(opts.tags ?? {}) };
    for (const [k, v] of Object.entries(tags)) {
      validateKey('tag', k);
      validateTagValue(k, v);
    }
    // Tags first: a run is never RUNNING with the pid of a process that is gone.
    if (Object.keys(tags).length > 0) await this.store.logBatch(runId, { tags });
    await this.store.updateRun(runId, { status: 'RUNNING' });
    const created = { runName: run.info.runName, startTime: run.info.startTime, tags: { ...run.data.tags, ...tags } };
    return new RunHandleImpl(this.store, runId, run.info.experimentId, experiment.name, created, this.spoolStore, this.opts);
  }

  getExperimentByName(name: string) {
    return this.store.getExperimentByName(name);
  }
  searchRuns(opts: SearchRunsOptions) {
    return this.store.searchRuns(opts);
  }
  getRun(runId: string) {
    return this.store.getRun(runId);
  }
  getMetricHistory(runId: string, key: string) {
    return this.store.getMetricHistory(runId, key);
  }
  listArtifacts(runId: string, path?: string) {
    return this.store.listArtifacts(runId, path);
  }

  async close(): Promise<void> {
    await this.store.close();
    await this.openedSpool()?.close();
  }
}

/** Get-or-create that tolerates another process creating the experiment at the same moment. */
export async function ensureExperiment(store: TrackingStore, name: string): Promise<string> {
  if (store instanceof SqliteStore) return store.ensureExperiment(name);
  const existing = await store.getExperimentByName(name);
  if (existing) return existing.experimentId;
  try {
    return await store.createExperiment(name);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    const raced = await store.getExperimentByName(name);
    if (!raced) throw err;
    return raced.experimentId;
  }
}

function warnSpooling(opts: OpenTrackerOptions, err: Error, spool: SqliteStore): void {
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`${m}\n`));
  warn(`difflab tracking: ${err.message}. Logging this run to the local store ${spool.uri} instead; run 'difflab tracker sync' to push it later.`);
}

function paramString(key: string, value: ParamValue): string {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return value;
  throw new InvalidParameterError(`param '${key}' must be a string, number or boolean, got ${typeof value}; flatten objects into dotted keys`);
}

class RunHandleImpl implements RunHandle {
  private buffer: Metric[] = [];
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private ended = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private target: TrackingStore,
    public runId: string,
    public experimentId: string,
    private readonly experimentName: string,
    private readonly created: { runName?: string; startTime: number; tags: Record<string, string> },
    private readonly spoolStore: () => SqliteStore | undefined,
    private readonly opts: OpenTrackerOptions,
    public spooled = false,
  ) {
    this.timer = setInterval(() => this.flushInBackground(), opts.flushIntervalMs ?? 5000);
    // A training process must be able to exit even if the caller forgets end().
    this.timer.unref();
  }

  /** Runs `op` after every earlier write; on an unreachable server, moves the run to the spool and retries it there. */
  private enqueue(op: (store: TrackingStore, runId: string) => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      try {
        await op(this.target, this.runId);
      } catch (err) {
        const spool = err instanceof TrackerUnavailableError && !this.spooled ? this.spoolStore() : undefined;
        if (!spool) throw err;
        await this.moveToSpool(spool, err as Error);
        await op(this.target, this.runId);
      }
    });
    // Later writes still run after a failed one; the failure is reported by the caller's promise.
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async moveToSpool(spool: SqliteStore, err: Error): Promise<void> {
    const remoteRunId = this.runId;
    const experimentId = await spool.ensureExperiment(this.experimentName);
    const run = await spool.createRun({ experimentId, ...this.created });
    spool.markSpooled(run.info.runId, this.target.uri, remoteRunId);
    warnSpooling(this.opts, err, spool);
    this.target = spool;
    this.runId = run.info.runId;
    this.experimentId = experimentId;
    this.spooled = true;
  }

  private checkOpen(): void {
    if (this.ended) throw new InvalidParameterError(`run ${this.runId} has ended; start a new run to log more`);
    if (this.failure) throw this.failure;
  }

  async logParams(params: Record<string, ParamValue>): Promise<void> {
    this.checkOpen();
    const strings: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      validateKey('param', k);
      strings[k] = paramString(k, v);
      validateParamValue(k, strings[k]);
    }
    for (const batch of splitBatch({ params: strings })) await this.enqueue((s, id) => s.logBatch(id, batch));
  }

  async setTags(tags: Record<string, string>): Promise<void> {
    this.checkOpen();
    for (const [k, v] of Object.entries(tags)) {
      validateKey('tag', k);
      validateTagValue(k, v);
    }
    for (const batch of splitBatch({ tags })) await this.enqueue((s, id) => s.logBatch(id, batch));
  }

  logMetrics(metrics: MetricInput[]): void {
    this.checkOpen();
    const now = Date.now();
    const complete = metrics.map((m) => ({ key: m.key, value: m.value, step: m.step ?? 0, timestamp: m.timestamp ?? now }));
    complete.forEach(validateMetric);
    this.buffer.push(...complete);
    if (this.buffer.length >= (this.opts.flushEvery ?? 1000)) this.flushInBackground();
  }

  /** A flush nobody awaits: its error (a rejected batch, not an outage) surfaces at the next call. */
  private flushInBackground(): void {
    if (this.buffer.length === 0) return;
    this.flush().catch((err: Error) => {
      this.failure ??= err;
    });
  }

  flush(): Promise<void> {
    const pending = this.buffer;
    this.buffer = [];
    const sends = splitBatch({ metrics: pending }).map((batch) => this.enqueue((s, id) => s.logBatch(id, batch)));
    return Promise.all(sends).then(() => this.queue);
  }

  async logArtifact(localPath: string, artifactDir = ''): Promise<void> {
    this.checkOpen();
    const files = listFiles(localPath, artifactDir ? `${artifactDir}/${basename(localPath)}` : basename(localPath));
    for (const { file, artifactPath } of files) {
      const data = readFileSync(file);
      await this.enqueue((s, id) => s.putArtifact(id, artifactPath, data));
    }
  }

  async end(status: EndStatus = 'FINISHED'): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    await this.flush();
    const endTime = Date.now();
    await this.enqueue(async (s, id) => {
      await s.updateRun(id, { status, endTime });
    });
  }
}

function listFiles(path: string, artifactPath: string): { file: string; artifactPath: string }[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new InvalidParameterError(`artifact '${path}' does not exist`);
  }
  if (!st.isDirectory()) return [{ file: path, artifactPath }];
  return readdirSync(path)
    .sort()
    .flatMap((name) => listFiles(join(path, name), `${artifactPath}/${name}`));
}
