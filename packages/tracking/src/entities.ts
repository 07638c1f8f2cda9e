/** MLflow's entities (REST API 2.0 field names in camelCase); both backends speak these. */

export type RunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';
export const RUN_STATUSES: readonly RunStatus[] = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
/** The statuses a run can end with. */
export type EndStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export type LifecycleStage = 'active' | 'deleted';
export type ViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStage;
  creationTime: number;
  lastUpdateTime: number;
  tags: Record<string, string>;
}

export interface RunInfo {
  runId: string;
  runName: string;
  experimentId: string;
  userId: string;
  status: RunStatus;
  startTime: number;
  endTime: number | null;
  artifactUri: string;
  lifecycleStage: LifecycleStage;
}

export interface Metric {
  key: string;
  value: number;
  /** Milliseconds since the Unix epoch. */
  timestamp: number;
  step: number;
}

export interface RunData {
  /** The latest value of each metric (largest step, then timestamp, then value — MLflow's rule). */
  metrics: Metric[];
  params: Record<string, string>;
  tags: Record<string, string>;
}

export interface Run {
  info: RunInfo;
  data: RunData;
}

export interface FileInfo {
  /** Relative to the run's artifact root, '/'-separated. */
  path: string;
  isDir: boolean;
  fileSize?: number;
}

/**
 * An entry of a run's artifact folder that the store does not serve: a symbolic link leading out
 * of the folder, a dangling link or a link loop, or something that is neither file nor folder.
 * Listings leave these out of `FileInfo[]` (MLflow's shape) and report them here.
 */
export interface RefusedArtifact {
  /** Relative to the run's artifact root, '/'-separated. */
  path: string;
  /** Why it is not served, e.g. 'symbolic link leading outside the artifact folder'. */
  reason: string;
}

export interface ArtifactListing {
  files: FileInfo[];
  refused: RefusedArtifact[];
}

export interface Page<T> {
  items: T[];
  /** Present when more results exist; pass it back as `pageToken`. */
  nextPageToken?: string;
}

export interface SearchRunsOptions {
  experimentIds: string[];
  /** MLflow search syntax, e.g. `params.model = 'DiT-S/2' and metrics.loss < 0.05`. */
  filter?: string;
  /** e.g. `['metrics.loss ASC', 'attributes.start_time DESC']`. */
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  runViewType?: ViewType;
}

export interface SearchExperimentsOptions {
  /** e.g. `name LIKE 'scaling%'` or `tags.owner = 'ana'`. */
  filter?: string;
  orderBy?: string[];
  maxResults?: number;
  pageToken?: string;
  viewType?: ViewType;
}

export interface CreateRunOptions {
  experimentId: string;
  runName?: string;
  startTime?: number;
  userId?: string;
  tags?: Record<string, string>;
}

export interface UpdateRunOptions {
  status?: RunStatus;
  endTime?: number;
  runName?: string;
}

export interface LogBatch {
  metrics?: Metric[];
  params?: Record<string, string>;
  tags?: Record<string, string>;
}
