import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ArtifactFolder, checkArtifactPath } from './artifact-folder.js';
import type {
  ArtifactListing,
  CreateRunOptions,
  Experiment,
  FileInfo,
  LifecycleStage,
  LogBatch,
  Metric,
  Page,
  Run,
  RunInfo,
  RunStatus,
  SearchExperimentsOptions,
  SearchRunsOptions,
  UpdateRunOptions,
  ViewType,
} from './entities.js';
import { RUN_STATUSES } from './entities.js';
import { AlreadyExistsError, InvalidParameterError, NotFoundError, TrackingError } from './errors.js';
import {
  compareRows,
  decodePageToken,
  encodePageToken,
  EXPERIMENT_SEARCH_SCHEMA,
  matchesAll,
  parseFilter,
  parseOrderBy,
  RUN_SEARCH_SCHEMA,
  type SearchRow,
} from './search-filter.js';
import type { TrackingStore } from './store.js';
import { recordOfEntries } from './mlflow-wire.js';
import { LIMITS, validateBatch, validateKey, validateTagValue, validateText, validateTime } from './validation.js';

export { checkArtifactPath } from './artifact-folder.js';

/** Where a local store keeps its database and artifacts. */
export interface LocalStoreLocation {
  dbPath: string;
  artifactRoot: string;
}

export const DB_FILE = 'mlruns.db';
export const ARTIFACT_DIR = 'artifacts';
const RUN_NAME_TAG = 'mlflow.runName';
const ARTIFACT_SCHEME = 'mlflow-artifacts:/';
const DEFAULT_MAX_RESULTS = 1000;
const MAX_RESULTS_LIMIT = 50000;

/** A store directory holds `mlruns.db` and `artifacts/`. */
export function locationOfDir(dir: string): LocalStoreLocation {
  const abs = resolve(dir);
  return { dbPath: join(abs, DB_FILE), artifactRoot: join(abs, ARTIFACT_DIR) };
}

// MLflow's entities as tables; the metric table's UNIQUE constraint makes re-sent batches
// (a sync retried after a crash) idempotent, as MLflow's SQL store does.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS experiments (
  experiment_id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  artifact_location TEXT NOT NULL,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active',
  creation_time INTEGER NOT NULL,
  last_update_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_tags (
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (experiment_id, key)
);
CREATE TABLE IF NOT EXISTS runs (
  run_uuid TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  start_time INTEGER NOT NULL,
  end_time INTEGER,
  lifecycle_stage TEXT NOT NULL DEFAULT 'active',
  artifact_uri TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id);
CREATE TABLE IF NOT EXISTS params (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
);
CREATE TABLE IF NOT EXISTS tags (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run_uuid, key)
);
CREATE TABLE IF NOT EXISTS metrics (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  UNIQUE (run_uuid, key, step, timestamp, value, is_nan)
);
CREATE TABLE IF NOT EXISTS latest_metrics (
  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid),
  key TEXT NOT NULL,
  value REAL NOT NULL,
  is_nan INTEGER NOT NULL DEFAULT 0,
  timestamp INTEGER NOT NULL,
  step INTEGER NOT NULL,
  PRIMARY KEY (run_uuid, key)
);
CREATE TABLE IF NOT EXISTS spool (
  run_uuid TEXT PRIMARY KEY REFERENCES runs(run_uuid),
  target_uri TEXT NOT NULL,
  remote_run_id TEXT,
  pushed_metric_id INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL DEFAULT 'pending'
);
INSERT OR IGNORE INTO experiments (experiment_id, name, artifact_location, creation_time, last_update_time)
  VALUES (0, 'Default', '${ARTIFACT_SCHEME}0', CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));
`;

interface RunRow {
  run_uuid: string;
  name: string;
  experiment_id: number;
  user_id: string;
  status: RunStatus;
  start_time: number;
  end_time: number | null;
  lifecycle_stage: LifecycleStage;
  artifact_uri: string;
}
interface ExperimentRow {
  experiment_id: number;
  name: string;
  artifact_location: string;
  lifecycle_stage: LifecycleStage;
  creation_time: number;
  last_update_time: number;
}
interface MetricRow {
  id: number;
  run_uuid: string;
  key: string;
  value: number;
  is_nan: number;
  timestamp: number;
  step: number;
}

/** A run whose data waits in this store for a remote tracker (see sync.ts). */
export interface SpoolEntry {
  runId: string;
  targetUri: string;
  remoteRunId: string | null;
  pushedMetricId: number;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

function newRunId(): string {
  return randomUUID().replace(/-/g, '');
}

function metricOf(row: Pick<MetricRow, 'key' | 'value' | 'is_nan' | 'timestamp' | 'step'>): Metric {
  return { key: row.key, value: row.is_nan ? Number.NaN : row.value, timestamp: row.timestamp, step: row.step };
}

function stagesOf(view: ViewType | undefined): LifecycleStage[] {
  if (view === 'DELETED_ONLY') return ['deleted'];
  if (view === 'ALL') return ['active', 'deleted'];
  return ['active'];
}

function checkMaxResults(n: number | undefined): number {
  const max = n ?? DEFAULT_MAX_RESULTS;
  if (!Number.isSafeInteger(max) || max < 1 || max > MAX_RESULTS_LIMIT) {
    throw new InvalidParameterError(`max_results must be an integer in [1, ${MAX_RESULTS_LIMIT}], got ${n}`);
  }
  return max;
}

/**
 * The embedded store: one SQLite file in WAL mode shared by any number of processes
 * (each write is one short IMMEDIATE transaction; waiting writers retry via busy_timeout),
 * plus an artifact directory laid out like an MLflow server's `--artifacts-destination`.
 */
export class SqliteStore implements TrackingStore {
  readonly uri: string;
  readonly artifactRoot: string;
  /** The artifact root's real path: every artifact must resolve inside it (see ArtifactFolder). */
  private readonly artifactRootReal: string;
  private readonly db: Database.Database;

  constructor(location: LocalStoreLocation) {
    mkdirSync(dirname(location.dbPath), { recursive: true });
    mkdirSync(location.artifactRoot, { recursive: true });
    this.uri = location.dbPath;
    this.artifactRoot = location.artifactRoot;
    this.artifactRootReal = realpathSync(location.artifactRoot);
    this.db = new Database(location.dbPath, { timeout: 30_000 });
    try {
      this.retryBusy(() => this.db.pragma('journal_mode = WAL'));
    } catch (err) {
      this.db.close();
      if ((err as { code?: string }).code !== 'SQLITE_NOTADB') throw err;
      throw new TrackingError(`${location.dbPath} is not a SQLite database; point the tracker at another store directory`, 'INVALID_PARAMETER_VALUE');
    }
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    const mlflowOwned = this.stmt("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").get();
    if (mlflowOwned) {
      this.db.close();
      throw new TrackingError(
        `${location.dbPath} was created by MLflow, whose schema difflab does not write. Serve it with ` +
          `'mlflow server --backend-store-uri sqlite:///${location.dbPath}' and set MLFLOW_TRACKING_URI to its http:// URL`,
        'INVALID_PARAMETER_VALUE',
      );
    }
    this.retryBusy(() => this.db.transaction(() => this.db.exec(SCHEMA)).immediate());
  }

  /**
   * Prepared statements by SQL text, compiled once per store: logging 1,000 metrics is then two
   * bound executions per value in one transaction, with no SQL parsing per batch.
   */
  private readonly statements = new Map<string, Database.Statement>();

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Opening the file and switching to WAL can meet SQLITE_BUSY before busy_timeout applies. */
  private retryBusy<T>(fn: () => T): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return fn();
      } catch (err) {
        if (!isBusy(err) || attempt >= 200) throw err;
        sleepSync(25 + Math.random() * 25);
      }
    }
  }

  private write<T>(fn: () => T): T {
    return this.retryBusy(() => this.db.transaction(fn).immediate());
  }

  async close(): Promise<void> {
    this.db.close();
  }

  // ---- experiments -------------------------------------------------------------------

  async createExperiment(name: string, tags: Record<string, string> = {}): Promise<string> {
    return this.write(() => this.createExperimentTx(name, tags));
  }

  private createExperimentTx(name: string, tags: Record<string, string>): string {
    validateText('experiment name', name);
    if (name.trim() === '') throw new InvalidParameterError('experiment name must be a non-empty string');
    if (this.stmt('SELECT 1 FROM experiments WHERE name = ?').get(name)) {
      throw new AlreadyExistsError(`experiment '${name}' already exists`);
    }
    const now = Date.now();
    const { lastInsertRowid } = this.db
      .prepare("INSERT INTO experiments (name, artifact_location, creation_time, last_update_time) VALUES (?, '', ?, ?)")
      .run(name, now, now);
    const id = String(lastInsertRowid);
    this.stmt('UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?').run(`${ARTIFACT_SCHEME}${id}`, id);
    for (const [k, v] of Object.entries(tags)) {
      validateKey('experiment tag', k);
      validateTagValue(k, v);
      this.stmt('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)').run(id, k, v);
    }
    return id;
  }

  /** Atomic get-or-create, so parallel Nx targets starting the same experiment agree on one id. */
  async ensureExperiment(name: string): Promise<string> {
    return this.write(() => {
      const row = this.stmt('SELECT experiment_id FROM experiments WHERE name = ?').get(name) as { experiment_id: number } | undefined;
      return row ? String(row.experiment_id) : this.createExperimentTx(name, {});
    });
  }

  private experimentOf(row: ExperimentRow): Experiment {
    const tags = this.stmt('SELECT key, value FROM experiment_tags WHERE experiment_id = ?').all(row.experiment_id) as { key: string; value: string }[];
    return {
      experimentId: String(row.experiment_id),
      name: row.name,
      artifactLocation: row.artifact_location,
      lifecycleStage: row.lifecycle_stage,
      creationTime: row.creation_time,
      lastUpdateTime: row.last_update_time,
      tags: recordOfEntries(tags.map((t) => [t.key, t.value])),
    };
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const row = this.stmt('SELECT * FROM experiments WHERE experiment_id = ?').get(experimentId) as ExperimentRow | undefined;
    if (!row) throw new NotFoundError(`no experiment with id '${experimentId}'`);
    return this.experimentOf(row);
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    const row = this.stmt('SELECT * FROM experiments WHERE name = ?').get(name) as ExperimentRow | undefined;
    return row && this.experimentOf(row);
  }

  async searchExperiments(opts: SearchExperimentsOptions = {}): Promise<Page<Experiment>> {
    const clauses = parseFilter(opts.filter, EXPERIMENT_SEARCH_SCHEMA);
    const order = parseOrderBy(opts.orderBy, EXPERIMENT_SEARCH_SCHEMA);
    const max = checkMaxResults(opts.maxResults);
    const offset = decodePageToken(opts.pageToken);
    const stages = stagesOf(opts.viewType);
    const rows = (this.stmt('SELECT * FROM experiments').all() as ExperimentRow[])
      .filter((r) => stages.includes(r.lifecycle_stage))
      .map((r) => this.experimentOf(r));
    const searchRows = new Map<SearchRow, Experiment>(
      rows.map((e) => [
        {
          attributes: {
            name: e.name,
            experiment_id: e.experimentId,
            lifecycle_stage: e.lifecycleStage,
            creation_time: e.creationTime,
            last_update_time: e.lastUpdateTime,
          },
          tags: e.tags,
        },
        e,
      ]),
    );
    const sorted = [...searchRows.keys()]
      .filter((r) => matchesAll(r, clauses))
      .sort(compareRows(order, (a, b) => (b.attributes.last_update_time as number) - (a.attributes.last_update_time as number) || Number(a.attributes.experiment_id) - Number(b.attributes.experiment_id)));
    return page(sorted.map((r) => searchRows.get(r)!), offset, max);
  }

  private activeExperimentRow(experimentId: string): ExperimentRow {
    const row = this.stmt('SELECT * FROM experiments WHERE experiment_id = ?').get(experimentId) as ExperimentRow | undefined;
    if (!row) throw new NotFoundError(`no experiment with id '${experimentId}'`);
    if (row.lifecycle_stage !== 'active') throw new InvalidParameterError(`experiment '${experimentId}' is deleted; restore it first (experiments/restore)`);
    return row;
  }

  /** MLflow's `experiments/set-experiment-tag`: sets or overwrites one tag of an active experiment. */
  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    validateKey('experiment tag', key);
    validateText(`experiment tag '${key}' value`, value);
    if (value.length > LIMITS.tagValueLength) throw new InvalidParameterError(`experiment tag '${key}' has ${value.length} characters; the limit is ${LIMITS.tagValueLength}`);
    this.write(() => {
      this.activeExperimentRow(experimentId);
      this.stmt('INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value').run(experimentId, key, value);
      this.stmt('UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?').run(Date.now(), experimentId);
    });
  }

  /** MLflow's `experiments/update`: renames an active experiment; the new name must be free. */
  async renameExperiment(experimentId: string, newName: string): Promise<void> {
    validateText('new_name', newName);
    if (newName.trim() === '') throw new InvalidParameterError('new_name must be a non-empty string');
    this.write(() => {
      this.activeExperimentRow(experimentId);
      const taken = this.stmt('SELECT experiment_id FROM experiments WHERE name = ?').get(newName) as { experiment_id: number } | undefined;
      if (taken && String(taken.experiment_id) !== String(experimentId)) throw new AlreadyExistsError(`experiment '${newName}' already exists; choose another name`);
      this.stmt('UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?').run(newName, Date.now(), experimentId);
    });
  }

  /**
   * MLflow's `experiments/delete` ('deleted') and `experiments/restore` ('active'): as MLflow's SQL
   * store does, the experiment's runs follow it, so a restore brings back exactly what was deleted.
   */
  async setExperimentLifecycle(experimentId: string, stage: LifecycleStage): Promise<void> {
    this.write(() => {
      const row = this.stmt('SELECT * FROM experiments WHERE experiment_id = ?').get(experimentId) as ExperimentRow | undefined;
      if (!row) throw new NotFoundError(`no experiment with id '${experimentId}'`);
      if (stage === 'active' && row.lifecycle_stage === 'active') throw new InvalidParameterError(`experiment '${experimentId}' is not deleted; nothing to restore`);
      if (stage === 'deleted' && row.lifecycle_stage === 'deleted') throw new InvalidParameterError(`experiment '${experimentId}' is already deleted`);
      this.stmt('UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?').run(stage, Date.now(), experimentId);
      this.stmt('UPDATE runs SET lifecycle_stage = ? WHERE experiment_id = ?').run(stage, experimentId);
    });
  }

  // ---- runs --------------------------------------------------------------------------

  async createRun(opts: CreateRunOptions): Promise<Run> {
    const tags = { ...(opts.tags ?? {}) };
    validateBatch({ tags });
    if (opts.startTime !== undefined) validateTime('start_time', opts.startTime);
    if (opts.runName !== undefined) validateText('run_name', opts.runName);
    if (opts.userId !== undefined) validateText('user_id', opts.userId);
    const runId = newRunId();
    this.write(() => {
      const exp = this.stmt('SELECT experiment_id, lifecycle_stage FROM experiments WHERE experiment_id = ?').get(opts.experimentId) as
        | { experiment_id: number; lifecycle_stage: string }
        | undefined;
      if (!exp) throw new NotFoundError(`no experiment with id '${opts.experimentId}'; create it first`);
      if (exp.lifecycle_stage !== 'active') throw new InvalidParameterError(`experiment '${opts.experimentId}' is deleted; restore it or use another`);
      const name = opts.runName ?? tags[RUN_NAME_TAG] ?? `run-${runId.slice(0, 8)}`;
      tags[RUN_NAME_TAG] = name;
      const userId = opts.userId ?? safeUserName();
      // The id as the table holds it: SQLite matches '1.0' or ' 1' to experiment 1, and the URI must name 1.
      const experimentId = String(exp.experiment_id);
      this.db
        .prepare('INSERT INTO runs (run_uuid, name, experiment_id, user_id, status, start_time, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(runId, name, experimentId, userId, 'RUNNING', opts.startTime ?? Date.now(), `${ARTIFACT_SCHEME}${experimentId}/${runId}/artifacts`);
      this.setTagsTx(runId, tags);
    });
    return this.getRun(runId);
  }

  private runRow(runId: string): RunRow {
    // A malformed id names no run: MLflow answers 404 RESOURCE_DOES_NOT_EXIST for any unknown id.
    if (typeof runId !== 'string' || !/^[0-9a-f]{32}$/.test(runId)) {
      throw new NotFoundError(`no run with id ${JSON.stringify(runId)} (run ids are 32 lowercase hex characters; copy one from the runs table)`);
    }
    const row = this.stmt('SELECT * FROM runs WHERE run_uuid = ?').get(runId) as RunRow | undefined;
    if (!row) throw new NotFoundError(`no run with id '${runId}'`);
    return row;
  }

  private activeRunRow(runId: string): RunRow {
    const row = this.runRow(runId);
    if (row.lifecycle_stage !== 'active') throw new InvalidParameterError(`run '${runId}' is deleted; restore it before logging to it`);
    return row;
  }

  async updateRun(runId: string, update: UpdateRunOptions): Promise<RunInfo> {
    if (update.status !== undefined && !RUN_STATUSES.includes(update.status)) {
      throw new InvalidParameterError(`invalid run status '${update.status}'; use one of ${RUN_STATUSES.join(', ')}`);
    }
    if (update.endTime !== undefined) validateTime('end_time', update.endTime);
    if (update.runName !== undefined) validateText('run_name', update.runName);
    this.write(() => {
      const row = this.activeRunRow(runId);
      this.db
        .prepare('UPDATE runs SET status = ?, end_time = ?, name = ? WHERE run_uuid = ?')
        .run(update.status ?? row.status, update.endTime ?? row.end_time, update.runName ?? row.name, runId);
      if (update.runName !== undefined) this.setTagsTx(runId, { [RUN_NAME_TAG]: update.runName });
    });
    return (await this.getRun(runId)).info;
  }

  /** MLflow's `runs/delete-tag`: removes one tag of an active run; a tag that is not there is an error. */
  async deleteTag(runId: string, key: string): Promise<void> {
    this.write(() => {
      this.activeRunRow(runId);
      const { changes } = this.stmt('DELETE FROM tags WHERE run_uuid = ? AND key = ?').run(runId, key);
      if (changes === 0) throw new NotFoundError(`no tag '${key}' on run '${runId}'`);
    });
  }

  async deleteRun(runId: string, stage: LifecycleStage = 'deleted'): Promise<void> {
    this.write(() => {
      this.runRow(runId);
      this.stmt('UPDATE runs SET lifecycle_stage = ? WHERE run_uuid = ?').run(stage, runId);
    });
  }

  private infoOf(row: RunRow): RunInfo {
    return {
      runId: row.run_uuid,
      runName: row.name,
      experimentId: String(row.experiment_id),
      userId: row.user_id,
      status: row.status,
      startTime: row.start_time,
      endTime: row.end_time,
      artifactUri: row.artifact_uri,
      lifecycleStage: row.lifecycle_stage,
    };
  }

  async getRun(runId: string): Promise<Run> {
    const row = this.runRow(runId);
    return this.runsOf([row])[0]!;
  }

  /** Attaches params, tags and latest metrics with one query per table. */
  private runsOf(rows: RunRow[]): Run[] {
    // Prototype-free records: a param or tag named 'constructor' or '__proto__' is just a key.
    const byId = new Map<string, Run>(rows.map((r) => [r.run_uuid, { info: this.infoOf(r), data: { metrics: [], params: recordOfEntries<string>([]), tags: recordOfEntries<string>([]) } }]));
    if (rows.length === 0) return [];
    const ids = JSON.stringify(rows.map((r) => r.run_uuid));
    const inIds = 'run_uuid IN (SELECT value FROM json_each(?))';
    for (const p of this.stmt(`SELECT run_uuid, key, value FROM params WHERE ${inIds}`).all(ids) as { run_uuid: string; key: string; value: string }[]) {
      byId.get(p.run_uuid)!.data.params[p.key] = p.value;
    }
    for (const t of this.stmt(`SELECT run_uuid, key, value FROM tags WHERE ${inIds}`).all(ids) as { run_uuid: string; key: string; value: string }[]) {
      byId.get(t.run_uuid)!.data.tags[t.key] = t.value;
    }
    for (const m of this.stmt(`SELECT * FROM latest_metrics WHERE ${inIds} ORDER BY key`).all(ids) as MetricRow[]) {
      byId.get(m.run_uuid)!.data.metrics.push(metricOf(m));
    }
    return [...byId.values()];
  }

  async searchRuns(opts: SearchRunsOptions): Promise<Page<Run>> {
    const clauses = parseFilter(opts.filter, RUN_SEARCH_SCHEMA);
    const order = parseOrderBy(opts.orderBy, RUN_SEARCH_SCHEMA);
    const max = checkMaxResults(opts.maxResults);
    const offset = decodePageToken(opts.pageToken);
    const stages = stagesOf(opts.runViewType);
    const experimentIds = JSON.stringify(opts.experimentIds.map(String));
    const rows = (this.stmt('SELECT * FROM runs WHERE experiment_id IN (SELECT value FROM json_each(?))').all(experimentIds) as RunRow[]).filter((r) =>
      stages.includes(r.lifecycle_stage),
    );
    // Two phases, so a page of 1,000 out of 10,000 runs loads 1,000 runs' data: the search rows
    // hold only the params, tags and metrics the filter and the order read; the page's runs are
    // then loaded whole.
    const rowOf = new Map<SearchRow, RunRow>(rows.map((r) => [searchRowOf(r), r]));
    this.fillSearchKeys(rowOf, experimentIds, [...clauses, ...order]);
    const sorted = [...rowOf.keys()]
      .filter((r) => matchesAll(r, clauses))
      .sort(compareRows(order, (a, b) => (b.attributes.start_time as number) - (a.attributes.start_time as number) || String(a.attributes.run_id).localeCompare(String(b.attributes.run_id))));
    const found = page(sorted, offset, max);
    const runs = this.runsOf(found.items.map((r) => rowOf.get(r)!));
    return found.nextPageToken ? { items: runs, nextPageToken: found.nextPageToken } : { items: runs };
  }

  /** Loads into the search rows the values of the keys that `terms` (filter clauses, order terms) name. */
  private fillSearchKeys(rowOf: Map<SearchRow, RunRow>, experimentIds: string, terms: readonly { kind: string; key: string }[]): void {
    const byId = new Map([...rowOf.keys()].map((r) => [r.attributes.run_id as string, r]));
    const keysOf = (kind: string) => JSON.stringify([...new Set(terms.filter((t) => t.kind === kind).map((t) => t.key))]);
    const inScope = (table: string) =>
      `FROM ${table} x JOIN runs r ON r.run_uuid = x.run_uuid WHERE r.experiment_id IN (SELECT value FROM json_each(?)) AND x.key IN (SELECT value FROM json_each(?))`;
    const params = keysOf('param');
    if (params !== '[]') {
      for (const p of this.stmt(`SELECT x.run_uuid, x.key, x.value ${inScope('params')}`).all(experimentIds, params) as { run_uuid: string; key: string; value: string }[]) {
        const row = byId.get(p.run_uuid);
        if (row) row.params![p.key] = p.value;
      }
    }
    const tags = keysOf('tag');
    if (tags !== '[]') {
      for (const t of this.stmt(`SELECT x.run_uuid, x.key, x.value ${inScope('tags')}`).all(experimentIds, tags) as { run_uuid: string; key: string; value: string }[]) {
        const row = byId.get(t.run_uuid);
        if (row) row.tags[t.key] = t.value;
      }
    }
    const metrics = keysOf('metric');
    if (metrics !== '[]') {
      for (const m of this.stmt(`SELECT x.run_uuid, x.key, x.value, x.is_nan ${inScope('latest_metrics')}`).all(experimentIds, metrics) as MetricRow[]) {
        const row = byId.get(m.run_uuid);
        if (row) row.metrics![m.key] = m.is_nan ? Number.NaN : m.value;
      }
    }
  }

  /** Active runs per experiment and the latest start among them, for lists of experiments. */
  runSummary(): Map<string, { runs: number; lastStartTime: number | null }> {
    const rows = this.stmt("SELECT experiment_id, COUNT(*) AS runs, MAX(start_time) AS last FROM runs WHERE lifecycle_stage = 'active' GROUP BY experiment_id").all() as {
      experiment_id: number;
      runs: number;
      last: number | null;
    }[];
    return new Map(rows.map((r) => [String(r.experiment_id), { runs: r.runs, lastStartTime: r.last }]));
  }

  // ---- params, tags, metrics -----------------------------------------------------------

  async logBatch(runId: string, batch: LogBatch): Promise<void> {
    validateBatch(batch);
    this.write(() => {
      this.activeRunRow(runId);
      this.logParamsTx(runId, batch.params ?? {});
      this.setTagsTx(runId, batch.tags ?? {});
      this.logMetricsTx(runId, batch.metrics ?? []);
    });
  }

  private logParamsTx(runId: string, params: Record<string, string>): void {
    const insert = this.stmt('INSERT OR IGNORE INTO params (run_uuid, key, value) VALUES (?, ?, ?)');
    const existing = this.stmt('SELECT value FROM params WHERE run_uuid = ? AND key = ?');
    for (const [key, value] of Object.entries(params)) {
      if (insert.run(runId, key, value).changes === 0) {
        const old = (existing.get(runId, key) as { value: string }).value;
        if (old !== value) {
          throw new InvalidParameterError(
            `param '${key}' of run ${runId} is already '${old}'; params cannot change (tried '${value}'). Start a new run or log it as a metric or tag`,
          );
        }
      }
    }
  }

  private setTagsTx(runId: string, tags: Record<string, string>): void {
    const upsert = this.stmt('INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value');
    for (const [key, value] of Object.entries(tags)) {
      upsert.run(runId, key, value);
      if (key === RUN_NAME_TAG) this.stmt('UPDATE runs SET name = ? WHERE run_uuid = ?').run(value, runId);
    }
  }

  private logMetricsTx(runId: string, metrics: Metric[]): void {
    const insert = this.stmt('INSERT OR IGNORE INTO metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?, ?, ?, ?, ?, ?)');
    // MLflow's "latest" value: largest (step, timestamp, value).
    const latest = this.stmt(`
      INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, timestamp = excluded.timestamp, step = excluded.step
      WHERE (excluded.step, excluded.timestamp, excluded.value) > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)`);
    // The latest row of each key in the batch is found here, so latest_metrics takes one upsert per
    // key per batch instead of one per value; the upsert's WHERE then compares it with the stored one.
    const latestOfBatch = new Map<string, { value: number; isNan: number; timestamp: number; step: number }>();
    for (const m of metrics) {
      const isNan = Number.isNaN(m.value) ? 1 : 0;
      const value = isNan ? 0 : m.value;
      insert.run(runId, m.key, value, isNan, m.timestamp, m.step);
      const cur = latestOfBatch.get(m.key);
      const later = !cur || m.step > cur.step || (m.step === cur.step && (m.timestamp > cur.timestamp || (m.timestamp === cur.timestamp && value > cur.value)));
      if (later) latestOfBatch.set(m.key, { value, isNan, timestamp: m.timestamp, step: m.step });
    }
    for (const [key, l] of latestOfBatch) latest.run(runId, key, l.value, l.isNan, l.timestamp, l.step);
  }

  /** Ordered by (step, timestamp, value) — the order of the unique index, so no sort is needed. `page` slices it for REST paging. */
  async getMetricHistory(runId: string, key: string, page?: { offset: number; limit: number }): Promise<Metric[]> {
    this.runRow(runId);
    const sql = 'SELECT value, is_nan, timestamp, step FROM metrics WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value, is_nan';
    // Raw rows (arrays) skip building an intermediate object per row: histories run to 10⁵ values.
    const stmt = this.stmt(page ? `${sql} LIMIT ? OFFSET ?` : sql).raw(true);
    const rows = (page ? stmt.all(runId, key, page.limit, page.offset) : stmt.all(runId, key)) as [number, number, number, number][];
    return rows.map(([value, isNan, timestamp, step]) => ({ key, value: isNan ? Number.NaN : value, timestamp, step }));
  }

  /** The smallest and largest finite value of each metric of each run, for tables that show more than the last value. */
  metricRanges(runIds: string[]): Map<string, Record<string, { min: number; max: number }>> {
    const out = new Map<string, Record<string, { min: number; max: number }>>(runIds.map((id) => [id, recordOfEntries<{ min: number; max: number }>([])]));
    const stmt = this.stmt('SELECT key, MIN(value) AS min, MAX(value) AS max FROM metrics WHERE run_uuid = ? AND is_nan = 0 GROUP BY key');
    for (const id of runIds) {
      for (const row of stmt.all(id) as { key: string; min: number; max: number }[]) {
        out.get(id)![row.key] = { min: row.min, max: row.max };
      }
    }
    return out;
  }

  /** Metric keys logged by a run, for UIs that offer them as choices. */
  metricKeys(runId: string): string[] {
    return (this.stmt('SELECT key FROM latest_metrics WHERE run_uuid = ? ORDER BY key').all(runId) as { key: string }[]).map((r) => r.key);
  }

  // ---- artifacts -----------------------------------------------------------------------

  /** Maps an `mlflow-artifacts:/...` location plus a relative path to a file under artifactRoot. */
  artifactFile(location: string, path = ''): string {
    if (!location.startsWith(ARTIFACT_SCHEME)) {
      throw new InvalidParameterError(`artifact location '${location}' is not served by this store (expected ${ARTIFACT_SCHEME}...)`);
    }
    // Each part is checked before joining: normalising first would let 'a/../../b' slip out of its run.
    const parts = [checkArtifactPath(location.slice(ARTIFACT_SCHEME.length)), checkArtifactPath(path)];
    return join(this.artifactRoot, ...parts.join('/').split('/').filter(Boolean));
  }

  /** A run's artifact folder, with every path confined to its real path (symbolic links that lead out are refused). */
  private runFolder(row: RunRow): ArtifactFolder {
    if (!row.artifact_uri.startsWith(ARTIFACT_SCHEME)) {
      throw new InvalidParameterError(`run ${row.run_uuid} stores artifacts at '${row.artifact_uri}', which this store does not serve (expected ${ARTIFACT_SCHEME}...)`);
    }
    return new ArtifactFolder(this.artifactRootReal, checkArtifactPath(row.artifact_uri.slice(ARTIFACT_SCHEME.length)), `run ${row.run_uuid}`);
  }

  /**
   * The folder and path an MLflow artifact-proxy path (`<experiment>/<run>/artifacts/<path>`) is
   * confined to: a run's artifact folder when it names one of this store's runs, else the store's
   * whole artifact root (MLflow clients may write elsewhere under it).
   */
  proxyArtifact(proxyPath: string): { folder: ArtifactFolder; path: string } {
    const clean = checkArtifactPath(proxyPath);
    const m = /^([^/]+)\/([0-9a-f]{32})\/artifacts(?:\/(.*))?$/.exec(clean);
    const row = m ? (this.stmt('SELECT * FROM runs WHERE run_uuid = ?').get(m[2]) as RunRow | undefined) : undefined;
    if (m && row && row.artifact_uri === `${ARTIFACT_SCHEME}${m[1]}/${m[2]}/artifacts`) return { folder: this.runFolder(row), path: m[3] ?? '' };
    return { folder: new ArtifactFolder(this.artifactRootReal, '', 'the store'), path: clean };
  }

  async putArtifact(runId: string, artifactPath: string, data: Uint8Array): Promise<void> {
    const row = this.activeRunRow(runId);
    this.runFolder(row).writeFile(checkArtifactPath(artifactPath), data);
  }

  async listArtifacts(runId: string, path = ''): Promise<FileInfo[]> {
    return (await this.artifactListing(runId, path)).files;
  }

  /** Like listArtifacts, plus the entries refused (links leading out of the run's folder, dangling links), for UIs that show them. */
  async artifactListing(runId: string, path = ''): Promise<ArtifactListing> {
    return this.runFolder(this.runRow(runId)).list(checkArtifactPath(path));
  }

  async readArtifact(runId: string, artifactPath: string): Promise<Uint8Array> {
    const { file } = this.runFolder(this.runRow(runId)).fileToRead(checkArtifactPath(artifactPath));
    try {
      return readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      throw new NotFoundError(`run ${runId} has no artifact file '${artifactPath}'`);
    }
  }

  // ---- spool (runs waiting for a remote tracker) ---------------------------------------

  markSpooled(runId: string, targetUri: string, remoteRunId: string | null): void {
    this.write(() => {
      this.db
        .prepare("INSERT INTO spool (run_uuid, target_uri, remote_run_id) VALUES (?, ?, ?) ON CONFLICT (run_uuid) DO UPDATE SET state = 'pending'")
        .run(runId, targetUri, remoteRunId);
    });
  }

  pendingSpool(): SpoolEntry[] {
    const rows = this.stmt("SELECT * FROM spool WHERE state = 'pending' ORDER BY rowid").all() as {
      run_uuid: string;
      target_uri: string;
      remote_run_id: string | null;
      pushed_metric_id: number;
    }[];
    return rows.map((r) => ({ runId: r.run_uuid, targetUri: r.target_uri, remoteRunId: r.remote_run_id, pushedMetricId: r.pushed_metric_id }));
  }

  updateSpool(runId: string, update: { remoteRunId?: string; pushedMetricId?: number; done?: boolean }): void {
    this.write(() => {
      if (update.remoteRunId !== undefined) this.stmt('UPDATE spool SET remote_run_id = ? WHERE run_uuid = ?').run(update.remoteRunId, runId);
      if (update.pushedMetricId !== undefined) this.stmt('UPDATE spool SET pushed_metric_id = ? WHERE run_uuid = ?').run(update.pushedMetricId, runId);
      if (update.done) this.stmt("UPDATE spool SET state = 'synced' WHERE run_uuid = ?").run(runId);
    });
  }

  /** Metrics of a run with row id above `afterId`, oldest first, with their ids (sync's cursor). */
  metricsAfter(runId: string, afterId: number, limit: number): { id: number; metric: Metric }[] {
    const rows = this.stmt('SELECT * FROM metrics WHERE run_uuid = ? AND id > ? ORDER BY id LIMIT ?').all(runId, afterId, limit) as MetricRow[];
    return rows.map((r) => ({ id: r.id, metric: metricOf(r) }));
  }
}

/** A run's attributes as filters read them; fillSearchKeys adds the params, tags and metrics they name. */
function searchRowOf(r: RunRow): SearchRow {
  return {
    attributes: {
      run_id: r.run_uuid,
      run_name: r.name,
      status: r.status,
      user_id: r.user_id,
      artifact_uri: r.artifact_uri,
      lifecycle_stage: r.lifecycle_stage,
      start_time: r.start_time,
      end_time: r.end_time,
    },
    metrics: recordOfEntries<number>([]),
    params: recordOfEntries<string>([]),
    tags: recordOfEntries<string>([]),
  };
}

function page<T>(items: T[], offset: number, max: number): Page<T> {
  const slice = items.slice(offset, offset + max);
  return offset + max < items.length ? { items: slice, nextPageToken: encodePageToken(offset + max) } : { items: slice };
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
