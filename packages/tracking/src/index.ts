export * from './entities.js';
export * from './errors.js';
export { LIMITS, validateKey, validateRunId, validateText, validateTime, validateStep } from './validation.js';
export { ArtifactFolder, TEMP_MARK as ARTIFACT_TEMP_MARK } from './artifact-folder.js';
export type { TrackingStore } from './store.js';
export { SqliteStore, locationOfDir, type LocalStoreLocation, DB_FILE, ARTIFACT_DIR } from './sqlite-store.js';
export { MlflowRestStore, DEFAULT_RETRY, type RetryOptions, type MlflowRestOptions } from './mlflow-rest-store.js';
export { parseMlflowJson, stringifyMlflowJson } from './mlflow-json.js';
export * from './mlflow-wire.js';
export { parseFilter, parseOrderBy, RUN_SEARCH_SCHEMA, EXPERIMENT_SEARCH_SCHEMA, type Clause, type OrderTerm } from './search-filter.js';
export { resolveTrackingTarget, localTrackingDir, workspaceRoot, mlflowAuthHeaders, DEFAULT_TRACKING_DIR, type TrackingTarget } from './resolve.js';
export {
  openTracker,
  ensureExperiment,
  type Tracker,
  type RunHandle,
  type OpenTrackerOptions,
  type StartRunOptions,
  type ResumeRunOptions,
  type MetricInput,
  type ParamValue,
} from './tracker.js';
export { flattenParams } from './flatten-params.js';
export { syncSpool, type SyncReport, type SyncOptions } from './sync.js';
export { repairOrphanRuns, processAlive, processTags, PID_TAG, HOST_TAG, REPAIRED_TAG, type OrphanRepair, type RepairOrphanRunsOptions } from './orphan-runs.js';
