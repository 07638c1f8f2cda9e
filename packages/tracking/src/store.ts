import type {
  CreateRunOptions,
  Experiment,
  FileInfo,
  LogBatch,
  Metric,
  Page,
  Run,
  RunInfo,
  SearchExperimentsOptions,
  SearchRunsOptions,
  UpdateRunOptions,
} from './entities.js';

/**
 * The MLflow-shaped operations both backends implement: the embedded SQLite store and the
 * REST client of an MLflow(-compatible) server. The REST server in apps/tracker serves one.
 */
export interface TrackingStore {
  /** Where the store lives: a directory for the local store, the server URL for MLflow. */
  readonly uri: string;
  createExperiment(name: string, tags?: Record<string, string>): Promise<string>;
  getExperiment(experimentId: string): Promise<Experiment>;
  /** undefined when no experiment has that name. */
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  searchExperiments(opts?: SearchExperimentsOptions): Promise<Page<Experiment>>;
  createRun(opts: CreateRunOptions): Promise<Run>;
  updateRun(runId: string, update: UpdateRunOptions): Promise<RunInfo>;
  getRun(runId: string): Promise<Run>;
  searchRuns(opts: SearchRunsOptions): Promise<Page<Run>>;
  /** Params are immutable (re-logging the same value is allowed); tags overwrite; identical metric rows are stored once. */
  logBatch(runId: string, batch: LogBatch): Promise<void>;
  getMetricHistory(runId: string, key: string): Promise<Metric[]>;
  /** Stores `data` at `artifactPath` (relative, '/'-separated) under the run's artifact root. */
  putArtifact(runId: string, artifactPath: string, data: Uint8Array): Promise<void>;
  listArtifacts(runId: string, path?: string): Promise<FileInfo[]>;
  readArtifact(runId: string, artifactPath: string): Promise<Uint8Array>;
  close(): Promise<void>;
}
