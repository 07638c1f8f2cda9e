/**
 * Where a run's record goes. The trainer talks only to this interface; the run directory,
 * the console and the experiment tracker are implementations, so adding one touches no loop code.
 */
export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export type ArtifactKind = 'sample-grid' | 'metrics' | 'checkpoint' | 'config' | 'evaluation';

export interface RunSink {
  start(params: Record<string, string | number | boolean>): Promise<void>;
  metrics(step: number, values: Record<string, number>, timestampMs: number): void;
  artifact(localPath: string, kind: ArtifactKind): Promise<void>;
  end(status: RunStatus): Promise<void>;
}
