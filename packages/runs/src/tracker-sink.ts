import { relative } from 'node:path';
import type { RunHandle, Tracker } from '@difflab/tracking';
import type { ArtifactKind, RunSink, RunStatus } from './run-sink.js';

/** Where each kind of run file goes in the tracker's artifact tree. */
const ARTIFACT_DIR: Record<Exclude<ArtifactKind, 'checkpoint'>, string> = {
  'sample-grid': 'samples',
  metrics: '',
  config: '',
  evaluation: '',
};

/**
 * Logs a training run to a Tracker (local SQLite store or an MLflow server). Checkpoints are
 * recorded as a reference (a tag with their path), not uploaded: they are large and already on disk.
 */
export class TrackerSink implements RunSink {
  private run: RunHandle | undefined;

  constructor(
    private readonly tracker: Tracker,
    private readonly experimentName: string,
    private readonly runName: string,
    private readonly runDir: string,
    /** Extra run tags, e.g. a sweep's `sweep`, `budget` and `size`. */
    private readonly tags: Record<string, string> = {},
  ) {}

  async start(params: Record<string, string | number | boolean>): Promise<void> {
    this.run = await this.tracker.startRun({
      experimentName: this.experimentName,
      runName: this.runName,
      tags: { ...this.tags, 'difflab.run_dir': this.runDir },
    });
    await this.run.logParams(params);
  }

  metrics(step: number, values: Record<string, number>, timestampMs: number): void {
    this.handle().logMetrics(Object.entries(values).map(([key, value]) => ({ key, value, step, timestamp: timestampMs })));
  }

  async artifact(localPath: string, kind: ArtifactKind): Promise<void> {
    if (kind === 'checkpoint') {
      await this.handle().setTags({ 'difflab.checkpoint': relative(process.cwd(), localPath) || localPath });
      return;
    }
    await this.handle().logArtifact(localPath, ARTIFACT_DIR[kind] || undefined);
  }

  async end(status: RunStatus): Promise<void> {
    await this.run?.end(status);
  }

  private handle(): RunHandle {
    if (!this.run) throw new Error('TrackerSink used before start()');
    return this.run;
  }
}
