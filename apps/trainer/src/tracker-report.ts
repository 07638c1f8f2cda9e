import { dirname, join } from 'node:path';
import { ARTIFACT_DIR, DB_FILE, localTrackingDir, resolveTrackingTarget, type RunHandle, type Tracker } from '@difflab/tracking';

/** Where a run was logged and how to look at it, for the lines the trainer prints. */
export interface TrackerLocation {
  /** The store as `difflab tracker --store` takes it (a directory or sqlite:///file), or the MLflow server URL. */
  store: string;
  /** A command or URL that shows `runId`. */
  open(runId: string, experimentId: string): string;
  /** MLflow only: the local store a run falls back to when the server is unreachable. */
  spool?: string;
}

/** The store `openTracker()` writes to under `env`, said the way a user passes it back to `difflab tracker`. */
export function trackerLocation(env: NodeJS.ProcessEnv = process.env): TrackerLocation {
  const target = resolveTrackingTarget(undefined, env);
  if (target.kind === 'mlflow') {
    const base = target.url.replace(/\/+$/, '');
    // MLflow's UI addresses a run as #/experiments/<id>/runs/<id>.
    return { store: base, open: (runId, experimentId) => `${base}/#/experiments/${experimentId}/runs/${runId}`, spool: localTrackingDir(env) };
  }
  const { dbPath, artifactRoot } = target.location;
  const dir = dirname(dbPath);
  // A store directory (mlruns.db + artifacts/ inside) is passed as the directory, a lone database file as sqlite:///.
  const isDir = dbPath === join(dir, DB_FILE) && artifactRoot === join(dir, ARTIFACT_DIR);
  const store = isDir ? dir : `sqlite:///${dbPath}`;
  return {
    store,
    open: (runId) => `npx difflab tracker --store ${store}  then open http://127.0.0.1:5000/runs/${runId}`,
  };
}

/**
 * The tracker lines of the trainer's final summary. A spooled run never reached the server, so its
 * lines name only where it is (the local spool) and the command that pushes it there.
 */
export function trackerSummaryLines(location: TrackerLocation, run: Pick<RunHandle, 'runId' | 'experimentId' | 'spooled'>, experiment: string, runName: string): string[] {
  if (run.spooled) {
    const spool = location.spool ?? localTrackingDir();
    return [
      `  tracker spool  ${spool}  (the tracking server was unreachable; run ${run.runId}, experiment '${experiment}', name '${runName}')`,
      `  push it with   npx difflab tracker sync --store ${spool}`,
    ];
  }
  return [
    `  tracker store  ${location.store}`,
    `  tracker run    ${run.runId}  (experiment '${experiment}', name '${runName}')`,
    `  open it        ${location.open(run.runId, run.experimentId)}`,
  ];
}

/** `tracker`, with `onStart` told of every run it starts or continues (the sink that does so keeps the handle to itself). */
export function watchRuns(tracker: Tracker, onStart: (run: RunHandle, continued: boolean) => void): Tracker {
  return {
    kind: tracker.kind,
    store: tracker.store,
    startRun: async (opts) => {
      const run = await tracker.startRun(opts);
      onStart(run, false);
      return run;
    },
    resumeRun: async (runId, opts) => {
      const run = await tracker.resumeRun(runId, opts);
      onStart(run, true);
      return run;
    },
    getExperimentByName: (name) => tracker.getExperimentByName(name),
    searchRuns: (opts) => tracker.searchRuns(opts),
    getRun: (runId) => tracker.getRun(runId),
    getMetricHistory: (runId, key) => tracker.getMetricHistory(runId, key),
    listArtifacts: (runId, path) => tracker.listArtifacts(runId, path),
    close: () => tracker.close(),
  };
}
