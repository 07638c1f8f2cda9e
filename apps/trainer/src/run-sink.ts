/**
 * Where a run's record goes. The trainer talks only to this interface; the run directory,
 * the console and the experiment tracker are implementations, so adding one touches no loop code.
 */
export type RunStatus = 'FINISHED' | 'FAILED' | 'KILLED';

export type ArtifactKind = 'sample-grid' | 'metrics' | 'checkpoint' | 'config';

export interface RunSink {
  start(params: Record<string, string | number | boolean>): Promise<void>;
  metrics(step: number, values: Record<string, number>, timestampMs: number): void;
  artifact(localPath: string, kind: ArtifactKind): Promise<void>;
  end(status: RunStatus): Promise<void>;
}

/** Flattens a nested config into dotted keys, the way MLflow params are usually named. */
export function flattenParams(obj: unknown, prefix = ''): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  if (obj === null || typeof obj !== 'object') {
    if (prefix) out[prefix] = obj as string | number | boolean;
    return out;
  }
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flattenParams(v, key));
    else if (Array.isArray(v)) out[key] = JSON.stringify(v);
    else if (v !== undefined) out[key] = v as string | number | boolean;
  }
  return out;
}
