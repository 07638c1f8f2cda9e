import type { MetricsRow } from './metrics-table.js';

export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export type ArtifactKind = 'sample-grid' | 'metrics' | 'checkpoint' | 'config' | 'evaluation' | 'adapter';

/** Where the run starts: a sink of a resumed run continues its record and fills what it missed. */
export interface RunStart {
  /** 0 for a new run; on --resume, the step of the checkpoint the run continues from. */
  fromStep: number;
  /** The rows metrics.parquet holds up to `fromStep` (empty for a new run). */
  recorded: readonly MetricsRow[];
}

/**
 * Where a run's record goes. The trainer talks only to this interface; the run directory,
 * the console and the experiment tracker are implementations, so adding one touches no loop code.
 */
export interface RunSink {
  start(params: Record<string, string | number | boolean>, at: RunStart): Promise<void>;
  metrics(step: number, values: Record<string, number>, timestampMs: number): void;
  artifact(localPath: string, kind: ArtifactKind): Promise<void>;
  end(status: RunStatus): Promise<void>;
}
