import {
  experimentToWire,
  fileInfoToWire,
  int64,
  InvalidParameterError,
  LIMITS,
  metricToWire,
  parseMlflowJson,
  recordOfEntries,
  RUN_STATUSES,
  runInfoToWire,
  runToWire,
  TrackingError,
  type RunStatus,
  type Metric,
  type SqliteStore,
  type ViewType,
} from '@difflab/tracking';

/** A decoded request to one MLflow endpoint: query parameters for GET, the JSON body for POST. */
export type Fields = Record<string, unknown>;
export type Handler = (store: SqliteStore, f: Fields) => Promise<object>;

/** A rejected value as error messages show it: JSON, cut short. */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** An id or name: a string, or a number taken as its decimal form (MLflow clients send experiment ids both ways). */
function str(f: Fields, name: string): string | undefined {
  const v = f[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  throw new InvalidParameterError(`Invalid value ${shown(v)} for parameter '${name}': expected a string`);
}

/** A param or tag value: MLflow's type is string, so anything else is refused rather than stored as its String() ('[object Object]'). */
function textValue(v: unknown, field: string): string {
  if (typeof v !== 'string') {
    throw new InvalidParameterError(`Invalid value ${shown(v)} for '${field}': params and tags are strings in MLflow's API; send the value as a string (e.g. JSON-encode an object)`);
  }
  return v;
}

const INTEGER = `an integer within ±${Number.MAX_SAFE_INTEGER}`;
/** The range the store checks times against (validateTime), said here too for values too large to read. */
const TIME = `integer milliseconds since the epoch in [0, ${LIMITS.maxTimeMs}] (the dates the tracker can show)`;

/** An optional int64 field (a number or a decimal string); undefined when absent. */
function int64Field(v: unknown, field: string, expected = INTEGER): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = int64(v);
  if (n === undefined) throw new InvalidParameterError(`Invalid value ${shown(v)} for '${field}': expected ${expected}`);
  return n;
}

function required(f: Fields, name: string, alt?: string): string {
  const v = str(f, name) ?? (alt ? str(f, alt) : undefined);
  if (v === undefined) throw new InvalidParameterError(`Missing value for required parameter '${name}'.`);
  return v;
}

function num(f: Fields, name: string): number | undefined {
  return int64Field(f[name], name);
}

function time(f: Fields, name: string): number | undefined {
  return int64Field(f[name], name, TIME);
}

function strings(f: Fields, name: string): string[] | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  const list: unknown[] = Array.isArray(v) ? v : [v];
  return list.map((x, i) => {
    if (typeof x === 'string' || typeof x === 'number') return String(x);
    throw new InvalidParameterError(`Invalid value ${shown(x)} for '${name}[${i}]': expected a string`);
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function keyValues(f: Fields, name: string): Record<string, string> {
  const v = f[name];
  if (v === undefined || v === null) return recordOfEntries<string>([]);
  if (!Array.isArray(v)) throw new InvalidParameterError(`Invalid value for parameter '${name}': expected a list of {key, value}`);
  return recordOfEntries(
    v.map((kv: unknown, i) => {
      if (!isObject(kv) || typeof kv.key !== 'string') throw new InvalidParameterError(`Invalid entry ${shown(kv)} at '${name}[${i}]': each needs a string key and a string value`);
      if (kv.value === undefined || kv.value === null) throw new InvalidParameterError(`Missing value for '${name}[${i}].value' (key '${kv.key}')`);
      return [kv.key, textValue(kv.value, `${name}[${i}].value`)] as const;
    }),
  );
}

/** Protobuf-JSON writers send non-finite doubles (and sometimes any double) as strings. */
const DOUBLE_TEXT = /^(NaN|-?Infinity|-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)$/;

function metricValue(v: unknown, field: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && DOUBLE_TEXT.test(v)) return v === 'NaN' ? Number.NaN : Number(v);
  throw new InvalidParameterError(`Invalid value ${shown(v)} for '${field}': expected a number (NaN, Infinity and -Infinity included)`);
}

/** One metric of a request; `at` prefixes its field names in errors ('metrics[3]', or '' for log-metric's top-level fields). */
function wireMetric(m: unknown, at: string): Metric {
  const field = (name: string) => (at ? `${at}.${name}` : name);
  if (!isObject(m) || typeof m.key !== 'string') {
    throw new InvalidParameterError(`Invalid metric ${shown(m)}${at ? ` at '${at}'` : ''}: key (string), value (number) and timestamp (integer ms) are required`);
  }
  const timestamp = int64Field(m.timestamp, field('timestamp'), TIME);
  if (timestamp === undefined) throw new InvalidParameterError(`Missing value for '${field('timestamp')}' (metric '${m.key}'): ${TIME}`);
  return { key: m.key, value: metricValue(m.value, field('value')), timestamp, step: int64Field(m.step, field('step')) ?? 0 };
}

function wireMetrics(f: Fields, name: string): Metric[] {
  const v = f[name];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidParameterError(`Invalid value for parameter '${name}': expected a list of metrics`);
  return v.map((m: unknown, i) => wireMetric(m, `${name}[${i}]`));
}

/** A tag value that may be left out (MLflow then stores ''). */
function optionalText(f: Fields, name: string): string {
  return f[name] === undefined || f[name] === null ? '' : textValue(f[name], name);
}

function viewType(f: Fields, name: string): ViewType | undefined {
  const v = str(f, name);
  if (v === undefined) return undefined;
  if (v !== 'ACTIVE_ONLY' && v !== 'DELETED_ONLY' && v !== 'ALL') {
    throw new InvalidParameterError(`Invalid value '${v}' for parameter '${name}': use ACTIVE_ONLY, DELETED_ONLY or ALL`);
  }
  return v;
}

function status(f: Fields): RunStatus | undefined {
  const v = str(f, 'status');
  if (v === undefined) return undefined;
  if (!(RUN_STATUSES as readonly string[]).includes(v)) throw new InvalidParameterError(`Invalid value '${v}' for parameter 'status': use one of ${RUN_STATUSES.join(', ')}`);
  return v as RunStatus;
}

/** MLflow's page size limit (and default) for metrics/get-history. */
const HISTORY_PAGE_LIMIT = 25_000;

/** The MLflow REST API 2.0 subset, keyed by the path after /api/2.0/mlflow/. */
export const MLFLOW_ENDPOINTS: Readonly<Record<string, { method: 'GET' | 'POST'; handle: Handler }>> = {
  'experiments/create': {
    method: 'POST',
    handle: async (s, f) => ({ experiment_id: await s.createExperiment(required(f, 'name'), keyValues(f, 'tags')) }),
  },
  'experiments/get': {
    method: 'GET',
    handle: async (s, f) => ({ experiment: experimentToWire(await s.getExperiment(required(f, 'experiment_id'))) }),
  },
  'experiments/get-by-name': {
    method: 'GET',
    handle: async (s, f) => {
      const name = required(f, 'experiment_name');
      const e = await s.getExperimentByName(name);
      if (!e) throw new TrackingError(`Could not find experiment with name '${name}'`, 'RESOURCE_DOES_NOT_EXIST');
      return { experiment: experimentToWire(e) };
    },
  },
  'experiments/search': {
    method: 'POST',
    handle: async (s, f) => {
      const page = await s.searchExperiments({
        filter: str(f, 'filter'),
        orderBy: strings(f, 'order_by'),
        maxResults: num(f, 'max_results'),
        pageToken: str(f, 'page_token'),
        viewType: viewType(f, 'view_type'),
      });
      return { experiments: page.items.map(experimentToWire), ...(page.nextPageToken ? { next_page_token: page.nextPageToken } : {}) };
    },
  },
  'experiments/update': {
    method: 'POST',
    handle: async (s, f) => {
      await s.renameExperiment(required(f, 'experiment_id'), required(f, 'new_name'));
      return {};
    },
  },
  'experiments/delete': {
    method: 'POST',
    handle: async (s, f) => {
      await s.setExperimentLifecycle(required(f, 'experiment_id'), 'deleted');
      return {};
    },
  },
  'experiments/restore': {
    method: 'POST',
    handle: async (s, f) => {
      await s.setExperimentLifecycle(required(f, 'experiment_id'), 'active');
      return {};
    },
  },
  'experiments/set-experiment-tag': {
    method: 'POST',
    handle: async (s, f) => {
      await s.setExperimentTag(required(f, 'experiment_id'), required(f, 'key'), optionalText(f, 'value'));
      return {};
    },
  },
  'runs/create': {
    method: 'POST',
    handle: async (s, f) => {
      const run = await s.createRun({
        experimentId: str(f, 'experiment_id') ?? '0',
        runName: str(f, 'run_name'),
        startTime: time(f, 'start_time'),
        userId: str(f, 'user_id'),
        tags: keyValues(f, 'tags'),
      });
      return { run: runToWire(run) };
    },
  },
  'runs/update': {
    method: 'POST',
    handle: async (s, f) => ({
      run_info: runInfoToWire(await s.updateRun(required(f, 'run_id', 'run_uuid'), { status: status(f), endTime: time(f, 'end_time'), runName: str(f, 'run_name') })),
    }),
  },
  'runs/get': {
    method: 'GET',
    handle: async (s, f) => ({ run: runToWire(await s.getRun(required(f, 'run_id', 'run_uuid'))) }),
  },
  'runs/search': {
    method: 'POST',
    handle: async (s, f) => {
      const page = await s.searchRuns({
        experimentIds: strings(f, 'experiment_ids') ?? [],
        filter: str(f, 'filter'),
        orderBy: strings(f, 'order_by'),
        maxResults: num(f, 'max_results'),
        pageToken: str(f, 'page_token'),
        runViewType: viewType(f, 'run_view_type'),
      });
      return { runs: page.items.map(runToWire), ...(page.nextPageToken ? { next_page_token: page.nextPageToken } : {}) };
    },
  },
  'runs/delete': {
    method: 'POST',
    handle: async (s, f) => {
      await s.deleteRun(required(f, 'run_id'), 'deleted');
      return {};
    },
  },
  'runs/restore': {
    method: 'POST',
    handle: async (s, f) => {
      await s.deleteRun(required(f, 'run_id'), 'active');
      return {};
    },
  },
  'runs/log-batch': {
    method: 'POST',
    handle: async (s, f) => {
      await s.logBatch(required(f, 'run_id'), { metrics: wireMetrics(f, 'metrics'), params: keyValues(f, 'params'), tags: keyValues(f, 'tags') });
      return {};
    },
  },
  'runs/log-metric': {
    method: 'POST',
    handle: async (s, f) => {
      await s.logBatch(required(f, 'run_id', 'run_uuid'), { metrics: [wireMetric(f, '')] });
      return {};
    },
  },
  'runs/log-parameter': {
    method: 'POST',
    handle: async (s, f) => {
      if (f.value === undefined || f.value === null) throw new InvalidParameterError("Missing value for required parameter 'value'.");
      await s.logBatch(required(f, 'run_id', 'run_uuid'), { params: recordOfEntries([[required(f, 'key'), textValue(f.value, 'value')]]) });
      return {};
    },
  },
  'runs/set-tag': {
    method: 'POST',
    handle: async (s, f) => {
      await s.logBatch(required(f, 'run_id', 'run_uuid'), { tags: recordOfEntries([[required(f, 'key'), optionalText(f, 'value')]]) });
      return {};
    },
  },
  'runs/delete-tag': {
    method: 'POST',
    handle: async (s, f) => {
      await s.deleteTag(required(f, 'run_id'), required(f, 'key'));
      return {};
    },
  },
  'metrics/get-history': {
    method: 'GET',
    handle: async (s, f) => {
      const max = num(f, 'max_results') ?? HISTORY_PAGE_LIMIT;
      if (max < 1 || max > HISTORY_PAGE_LIMIT) throw new InvalidParameterError(`max_results must be in [1, ${HISTORY_PAGE_LIMIT}], got ${max}`);
      const offset = Number(str(f, 'page_token') ?? 0);
      if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidParameterError(`Invalid page_token '${str(f, 'page_token')}': pass back next_page_token unchanged`);
      // One row more than the page tells whether another page exists.
      const rows = await s.getMetricHistory(required(f, 'run_id', 'run_uuid'), required(f, 'metric_key'), { offset, limit: max + 1 });
      const more = rows.length > max;
      return { metrics: rows.slice(0, max).map(metricToWire), ...(more ? { next_page_token: String(offset + max) } : {}) };
    },
  },
  'artifacts/list': {
    method: 'GET',
    handle: async (s, f) => {
      const runId = required(f, 'run_id', 'run_uuid');
      const run = await s.getRun(runId);
      const files = await s.listArtifacts(runId, str(f, 'path') ?? '');
      return { root_uri: run.info.artifactUri, files: files.map(fileInfoToWire) };
    },
  },
};

/** Reads GET query parameters (repeated keys become lists) or a POST JSON body. */
export function fieldsOf(method: string, query: URLSearchParams, body: string): Fields {
  if (method === 'GET') {
    // No prototype: a query key such as '__proto__' is a plain field.
    const out: Fields = Object.create(null) as Fields;
    for (const key of new Set(query.keys())) {
      const all = query.getAll(key);
      out[key] = all.length === 1 ? all[0] : all;
    }
    return out;
  }
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = parseMlflowJson(body);
  } catch (err) {
    throw new TrackingError(`Malformed JSON request body: ${(err as Error).message}`, 'BAD_REQUEST');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TrackingError('Request body must be a JSON object', 'BAD_REQUEST');
  return parsed as Fields;
}
