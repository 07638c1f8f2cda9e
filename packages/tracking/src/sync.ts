import { MlflowRestStore, type RetryOptions } from './mlflow-rest-store.js';
import type { SqliteStore } from './sqlite-store.js';
import type { TrackingStore } from './store.js';
import { ensureExperiment } from './tracker.js';
import { LIMITS, splitBatch } from './validation.js';

export interface SyncReport {
  /** Spooled runs now fully on their server. */
  synced: number;
  /** Runs still pending: still RUNNING locally, or their server failed again. */
  pending: number;
  metricsPushed: number;
  errors: { runId: string; message: string }[];
}

export interface SyncOptions {
  retry?: Partial<RetryOptions>;
  headers?: Record<string, string>;
  /** Opens the store for a target URI (tests inject; default MlflowRestStore). */
  remoteFor?: (uri: string) => TrackingStore;
}

/**
 * Pushes runs spooled in `local` to the MLflow servers they were meant for. Idempotent: the
 * remote run id is recorded before any data is sent and a metric cursor after each batch, so
 * a repeated or interrupted sync creates no second run and re-sends at most one batch (which
 * the server stores once, as identical metric rows are deduplicated).
 */
export async function syncSpool(local: SqliteStore, opts: SyncOptions = {}): Promise<SyncReport> {
  const report: SyncReport = { synced: 0, pending: 0, metricsPushed: 0, errors: [] };
  const remotes = new Map<string, TrackingStore>();
  const remoteFor = opts.remoteFor ?? ((uri: string) => new MlflowRestStore(uri, { retry: opts.retry, headers: opts.headers }));
  for (const entry of local.pendingSpool()) {
    let remote = remotes.get(entry.targetUri);
    if (!remote) remotes.set(entry.targetUri, (remote = remoteFor(entry.targetUri)));
    try {
      const run = await local.getRun(entry.runId);
      let remoteRunId = entry.remoteRunId;
      if (!remoteRunId) {
        const experiment = await local.getExperiment(run.info.experimentId);
        const experimentId = await ensureExperiment(remote, experiment.name);
        const created = await remote.createRun({
          experimentId,
          runName: run.info.runName,
          startTime: run.info.startTime,
          userId: run.info.userId,
          tags: run.data.tags,
        });
        remoteRunId = created.info.runId;
        local.updateSpool(entry.runId, { remoteRunId });
      }
      for (const batch of splitBatch({ params: run.data.params, tags: run.data.tags })) await remote.logBatch(remoteRunId, batch);
      let cursor = entry.pushedMetricId;
      for (;;) {
        const rows = local.metricsAfter(entry.runId, cursor, LIMITS.metricsPerBatch);
        if (rows.length === 0) break;
        await remote.logBatch(remoteRunId, { metrics: rows.map((r) => r.metric) });
        cursor = rows[rows.length - 1]!.id;
        local.updateSpool(entry.runId, { pushedMetricId: cursor });
        report.metricsPushed += rows.length;
      }
      await pushArtifacts(local, remote, entry.runId, remoteRunId, '');
      if (run.info.status === 'RUNNING') {
        report.pending++;
        continue;
      }
      await remote.updateRun(remoteRunId, { status: run.info.status, endTime: run.info.endTime ?? undefined });
      local.updateSpool(entry.runId, { done: true });
      report.synced++;
    } catch (err) {
      report.pending++;
      report.errors.push({ runId: entry.runId, message: (err as Error).message });
    }
  }
  return report;
}

async function pushArtifacts(local: SqliteStore, remote: TrackingStore, runId: string, remoteRunId: string, dir: string): Promise<void> {
  for (const f of await local.listArtifacts(runId, dir)) {
    if (f.isDir) await pushArtifacts(local, remote, runId, remoteRunId, f.path);
    else await remote.putArtifact(remoteRunId, f.path, await local.readArtifact(runId, f.path));
  }
}
