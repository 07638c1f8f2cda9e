import { relative } from 'node:path';
import {
  processTags,
  repairOrphanRuns,
  TrackingError,
  type MetricInput,
  type RunHandle,
  type Tracker,
} from '@difflab/tracking';
import type { ArtifactKind, RunSink, RunStart, RunStatus } from './run-sink.js';
import { readTrackerRecord, writeTrackerRecord } from './tracker-record.js';

/** Where each kind of run file goes in the tracker's artifact tree. */
const ARTIFACT_DIR: Record<Exclude<ArtifactKind, 'checkpoint'>, string> = {
  'sample-grid': 'samples',
  metrics: '',
  config: '',
  evaluation: '',
  adapter: '',
};

export interface TrackerSinkOptions {
  /** Where one-line notices go (a resume that cannot continue its tracker run, orphans repaired); default stderr. */
  warn?: (line: string) => void;
}

/**
 * Logs a training run to a Tracker (local SQLite store or an MLflow server). Checkpoints are
 * recorded as a reference (a tag with their path), not uploaded: they are large and already on disk.
 *
 * One tracker run per training run: its id goes to `<runDir>/tracker-run.json`, a resumed run
 * continues it, and metric rows the tracker missed (buffered when the process was killed) are
 * re-logged from metrics.parquet, while steps it already has are not logged twice.
 */
export class TrackerSink implements RunSink {
  private run: RunHandle | undefined;
  /** On a resumed run: the steps the tracker already has, per metric key. */
  private readonly stored = new Map<string, Set<number>>();
  private readonly warn: (line: string) => void;

  constructor(
    private readonly tracker: Tracker,
    private readonly experimentName: string,
    private readonly runName: string,
    private readonly runDir: string,
    /** Extra run tags, e.g. a sweep's `sweep`, `budget` and `size`. */
    private readonly tags: Record<string, string> = {},
    opts: TrackerSinkOptions = {},
  ) {
    this.warn = opts.warn ?? ((line) => process.stderr.write(`${line}\n`));
  }

  async start(params: Record<string, string | number | boolean>, at: RunStart = { fromStep: 0, recorded: [] }): Promise<void> {
    const resumed = at.fromStep > 0 ? await this.continueRun(at.fromStep) : await this.endAbandonedRun();
    this.run =
      resumed ??
      (await this.tracker.startRun({
        experimentName: this.experimentName,
        runName: this.runName,
        tags: { ...this.tags, 'difflab.run_dir': this.runDir, ...processTags() },
      }));
    await this.saveRecord();
    if (at.fromStep === 0) {
      await this.run.logParams(params);
      return;
    }
    await this.logParamsOnce(params);
    await this.fillGaps(at.recorded);
  }

  metrics(step: number, values: Record<string, number>, timestampMs: number): void {
    const fresh = Object.entries(values).filter(([key]) => !this.stored.get(key)?.has(step));
    if (fresh.length === 0) return;
    this.handle().logMetrics(fresh.map(([key, value]) => ({ key, value, step, timestamp: timestampMs })));
  }

  async artifact(localPath: string, kind: ArtifactKind): Promise<void> {
    if (kind === 'checkpoint') {
      // The tracker holds every step the checkpoint holds, so a kill loses at most what a resume redoes.
      await this.handle().flush();
      await this.handle().setTags({ 'difflab.checkpoint': relative(process.cwd(), localPath) || localPath });
      return;
    }
    await this.handle().logArtifact(localPath, ARTIFACT_DIR[kind] || undefined);
  }

  async end(status: RunStatus): Promise<void> {
    if (!this.run) return;
    await this.run.end(status);
    // A run that moved to the spool mid-way has a new id there.
    await this.saveRecord();
  }

  /** The tracker run this run directory logged to before, set RUNNING again; undefined when it cannot be continued here. */
  private async continueRun(fromStep: number): Promise<RunHandle | undefined> {
    const record = readTrackerRecord(this.runDir);
    const fresh = `logging the resumed run (from step ${fromStep}) as a new tracker run`;
    if ('unusable' in record) {
      this.warn(`difflab: ${record.unusable}; ${fresh}`);
      return undefined;
    }
    if (record.spooled || record.store !== this.tracker.store.uri) {
      const where = record.spooled ? `the local spool (push it with difflab tracker sync)` : record.store;
      this.warn(`difflab: this run's tracker run ${record.runId} is in ${where}, not in ${this.tracker.store.uri}; ${fresh}`);
      return undefined;
    }
    try {
      await this.repairOrphans(record.experimentId, [record.runId]);
      return await this.tracker.resumeRun(record.runId, { tags: { ...processTags(), 'difflab.resumed_from_step': String(fromStep) } });
    } catch (e) {
      // Gone, deleted or unreachable: the training run goes on, logged as a new tracker run.
      if (!(e instanceof TrackingError)) throw e;
      this.warn(`difflab: cannot continue tracker run ${record.runId} (${(e as Error).message}); ${fresh}`);
      return undefined;
    }
  }

  /** A fresh start over an attempt that died before its first checkpoint: that attempt's tracker run ends KILLED. */
  private async endAbandonedRun(): Promise<undefined> {
    const record = readTrackerRecord(this.runDir);
    if ('unusable' in record || record.spooled || record.store !== this.tracker.store.uri) return undefined;
    await this.repairOrphans(record.experimentId, []);
    return undefined;
  }

  /** Housekeeping: a failure here is reported, never the end of the training run. */
  private async repairOrphans(experimentId: string, except: string[]): Promise<void> {
    try {
      const repaired = await repairOrphanRuns(this.tracker.store, { experimentIds: [experimentId], except });
      for (const r of repaired) this.warn(`difflab: tracker run ${r.runId} ('${r.runName}') was RUNNING, but its process ${r.pid} is gone; marked it KILLED`);
    } catch (e) {
      this.warn(`difflab: could not check experiment ${experimentId} for orphaned runs: ${(e as Error).message}`);
    }
  }

  /** Params are immutable: log the ones the run lacks; a value that changed (a new git commit) becomes a tag. */
  private async logParamsOnce(params: Record<string, string | number | boolean>): Promise<void> {
    const run = this.handle();
    const existing = (await this.tracker.getRun(run.runId)).data.params;
    const missing: Record<string, string | number | boolean> = {};
    const changed: Record<string, string> = {};
    for (const [key, value] of Object.entries(params)) {
      if (!(key in existing)) missing[key] = value;
      else if (existing[key] !== String(value)) changed[key] = String(value);
    }
    if (Object.keys(missing).length > 0) await run.logParams(missing);
    if (Object.keys(changed).length > 0) await run.setTags({ 'difflab.resumed_with_params': JSON.stringify(changed).slice(0, 5000) });
  }

  /** Re-logs every recorded (key, step) the tracker lacks; remembers what it has so that no step is logged twice. */
  private async fillGaps(recorded: RunStart['recorded']): Promise<void> {
    const run = this.handle();
    const latest = (await this.tracker.getRun(run.runId)).data.metrics.map((m) => m.key);
    const keys = new Set([...latest, ...recorded.flatMap((row) => Object.keys(row).filter((k) => k !== 'step'))]);
    for (const key of keys) {
      this.stored.set(key, new Set((await this.tracker.getMetricHistory(run.runId, key)).map((m) => m.step)));
    }
    const now = Date.now();
    const missing: MetricInput[] = [];
    for (const row of recorded) {
      for (const [key, value] of Object.entries(row)) {
        const steps = this.stored.get(key);
        if (key === 'step' || !steps || steps.has(row.step)) continue;
        missing.push({ key, value, step: row.step, timestamp: now });
        steps.add(row.step);
      }
    }
    if (missing.length === 0) return;
    run.logMetrics(missing);
    await run.flush();
    this.warn(`difflab: re-logged ${missing.length} metric value(s) from metrics.parquet that tracker run ${run.runId} was missing`);
  }

  private async saveRecord(): Promise<void> {
    const run = this.handle();
    await writeTrackerRecord(this.runDir, {
      runId: run.runId,
      experimentId: run.experimentId,
      experimentName: this.experimentName,
      store: this.tracker.store.uri,
      spooled: run.spooled,
    });
  }

  private handle(): RunHandle {
    if (!this.run) throw new Error('TrackerSink used before start()');
    return this.run;
  }
}
