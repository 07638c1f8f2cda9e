import type { Experiment, FileInfo, LifecycleStage, Metric, Run, RunInfo, RunStatus } from './entities.js';

/**
 * MLflow REST API 2.0 JSON shapes (snake_case, key/value lists) and their conversion to the
 * entities. Shared by the REST client (tracking) and the REST server (apps/tracker).
 */
export interface WireKeyValue {
  key: string;
  value: string;
}
export interface WireMetric {
  key: string;
  value: number;
  timestamp: number | string;
  step?: number | string;
}
export interface WireExperiment {
  experiment_id: string;
  name: string;
  artifact_location?: string;
  lifecycle_stage?: string;
  last_update_time?: number | string;
  creation_time?: number | string;
  tags?: WireKeyValue[];
}
export interface WireRunInfo {
  run_id: string;
  run_uuid?: string;
  run_name?: string;
  experiment_id: string;
  user_id?: string;
  status?: string;
  start_time?: number | string;
  end_time?: number | string | null;
  artifact_uri?: string;
  lifecycle_stage?: string;
}
export interface WireRun {
  info: WireRunInfo;
  data?: { metrics?: WireMetric[]; params?: WireKeyValue[]; tags?: WireKeyValue[] };
}
export interface WireFileInfo {
  path: string;
  is_dir?: boolean;
  file_size?: number | string;
}

/**
 * int64 fields arrive as numbers or, from protobuf-JSON writers, as decimal strings. Only integers a
 * JavaScript number holds exactly (±(2^53 − 1)) are read; anything else is undefined, so a caller
 * can refuse it instead of storing a value other than the one sent.
 */
export function int64(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'string' || !/^-?\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A record without a prototype, so keys such as 'constructor' or '__proto__' are plain keys. */
export function recordOfEntries<V>(entries: Iterable<readonly [string, V]>): Record<string, V> {
  const out = Object.create(null) as Record<string, V>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

export function recordOf(list: WireKeyValue[] | undefined): Record<string, string> {
  return recordOfEntries((list ?? []).map((kv) => [kv.key, kv.value] as const));
}

export function listOf(record: Record<string, string>): WireKeyValue[] {
  return Object.entries(record).map(([key, value]) => ({ key, value }));
}

export function metricFromWire(m: WireMetric): Metric {
  return { key: m.key, value: Number(m.value), timestamp: int64(m.timestamp) ?? 0, step: int64(m.step) ?? 0 };
}

export function metricToWire(m: Metric): WireMetric {
  return { key: m.key, value: m.value, timestamp: m.timestamp, step: m.step };
}

export function experimentFromWire(e: WireExperiment): Experiment {
  return {
    experimentId: String(e.experiment_id),
    name: e.name,
    artifactLocation: e.artifact_location ?? '',
    lifecycleStage: (e.lifecycle_stage ?? 'active') as LifecycleStage,
    creationTime: int64(e.creation_time) ?? 0,
    lastUpdateTime: int64(e.last_update_time) ?? 0,
    tags: recordOf(e.tags),
  };
}

export function experimentToWire(e: Experiment): WireExperiment {
  return {
    experiment_id: e.experimentId,
    name: e.name,
    artifact_location: e.artifactLocation,
    lifecycle_stage: e.lifecycleStage,
    last_update_time: e.lastUpdateTime,
    creation_time: e.creationTime,
    tags: listOf(e.tags),
  };
}

export function runInfoFromWire(i: WireRunInfo): RunInfo {
  return {
    runId: i.run_id ?? i.run_uuid,
    runName: i.run_name ?? '',
    experimentId: String(i.experiment_id),
    userId: i.user_id ?? '',
    status: (i.status ?? 'RUNNING') as RunStatus,
    startTime: int64(i.start_time) ?? 0,
    endTime: int64(i.end_time) ?? null,
    artifactUri: i.artifact_uri ?? '',
    lifecycleStage: (i.lifecycle_stage ?? 'active') as LifecycleStage,
  };
}

export function runInfoToWire(i: RunInfo): WireRunInfo {
  const wire: WireRunInfo = {
    run_id: i.runId,
    run_uuid: i.runId,
    run_name: i.runName,
    experiment_id: i.experimentId,
    user_id: i.userId,
    status: i.status,
    start_time: i.startTime,
    artifact_uri: i.artifactUri,
    lifecycle_stage: i.lifecycleStage,
  };
  if (i.endTime !== null) wire.end_time = i.endTime;
  return wire;
}

export function runFromWire(r: WireRun): Run {
  return {
    info: runInfoFromWire(r.info),
    data: {
      metrics: (r.data?.metrics ?? []).map(metricFromWire),
      params: recordOf(r.data?.params),
      tags: recordOf(r.data?.tags),
    },
  };
}

export function runToWire(r: Run): WireRun {
  return {
    info: runInfoToWire(r.info),
    data: { metrics: r.data.metrics.map(metricToWire), params: listOf(r.data.params), tags: listOf(r.data.tags) },
  };
}

export function fileInfoFromWire(f: WireFileInfo): FileInfo {
  const size = int64(f.file_size);
  return size === undefined ? { path: f.path, isDir: Boolean(f.is_dir) } : { path: f.path, isDir: Boolean(f.is_dir), fileSize: size };
}

export function fileInfoToWire(f: FileInfo): WireFileInfo {
  return f.isDir ? { path: f.path, is_dir: true } : { path: f.path, is_dir: false, file_size: f.fileSize ?? 0 };
}
