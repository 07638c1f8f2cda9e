import type {
  CreateRunOptions,
  Experiment,
  FileInfo,
  LogBatch,
  Metric,
  Page,
  Run,
  RunInfo,
  SearchExperimentsOptions,
  SearchRunsOptions,
  UpdateRunOptions,
} from './entities.js';
import { errorFromMlflow, NotFoundError, TrackerUnavailableError, TrackingError } from './errors.js';
import { parseMlflowJson, stringifyMlflowJson } from './mlflow-json.js';
import {
  experimentFromWire,
  fileInfoFromWire,
  listOf,
  metricFromWire,
  metricToWire,
  runFromWire,
  runInfoFromWire,
  type WireExperiment,
  type WireFileInfo,
  type WireMetric,
  type WireRun,
  type WireRunInfo,
} from './mlflow-wire.js';
import { checkArtifactPath } from './sqlite-store.js';
import type { TrackingStore } from './store.js';
import { validateBatch } from './validation.js';

export interface RetryOptions {
  /** Attempts after the first one. */
  retries: number;
  /** Delay before the first retry; doubles each time (with ±50% jitter) up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-request timeout; a request that takes longer counts as a failed attempt. */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { retries: 4, baseDelayMs: 500, maxDelayMs: 8_000, timeoutMs: 15_000 };

export interface MlflowRestOptions {
  retry?: Partial<RetryOptions>;
  /** Extra request headers; Authorization is derived from MLFLOW_TRACKING_TOKEN / _USERNAME+_PASSWORD by openTracker. */
  headers?: Record<string, string>;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const ARTIFACT_SCHEME = 'mlflow-artifacts:/';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A typed client of the MLflow REST API 2.0 (the documented subset difflab needs), written
 * on Node's fetch: the npm `mlflow` package is an unofficial, untyped wrapper around a fetch
 * polyfill that offers neither timeouts nor retries, which are what this client is about.
 */
export class MlflowRestStore implements TrackingStore {
  readonly uri: string;
  private readonly retry: RetryOptions;
  private readonly headers: Record<string, string>;
  /** A run's artifact root never changes, so one lookup per run serves all its uploads. */
  private readonly artifactUris = new Map<string, string>();

  constructor(baseUrl: string, opts: MlflowRestOptions = {}) {
    if (!/^https?:\/\//.test(baseUrl)) throw new TrackingError(`MLflow tracking URI must be an http(s) URL, got '${baseUrl}'`, 'INVALID_PARAMETER_VALUE');
    this.uri = baseUrl.replace(/\/+$/, '');
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.headers = opts.headers ?? {};
  }

  /** One request with retries on network errors, timeouts, 429 and 5xx; MLflow error bodies become typed errors. */
  private async request(method: 'GET' | 'POST' | 'PUT', path: string, body?: Uint8Array | string, contentType = 'application/json'): Promise<Response> {
    const url = `${this.uri}${path}`;
    let lastProblem = '';
    for (let attempt = 0; attempt <= this.retry.retries; attempt++) {
      if (attempt > 0) {
        const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        await sleep(backoff * (0.5 + Math.random()));
      }
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: body === undefined ? this.headers : { ...this.headers, 'Content-Type': contentType },
          // A copy detaches the bytes from a possibly shared/offset buffer, which fetch's types reject.
          body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body).buffer,
          signal: AbortSignal.timeout(this.retry.timeoutMs),
        });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        lastProblem = e.name === 'TimeoutError' ? `no answer within ${this.retry.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
        continue;
      }
      if (res.ok) return res;
      const text = await res.text().catch(() => '');
      if (RETRYABLE_STATUS.has(res.status)) {
        lastProblem = `HTTP ${res.status} ${text.slice(0, 200)}`;
        continue;
      }
      let code = res.status === 404 ? 'ENDPOINT_NOT_FOUND' : 'BAD_REQUEST';
      let message = text.slice(0, 500) || `HTTP ${res.status}`;
      try {
        const parsed = parseMlflowJson(text) as { error_code?: string; message?: string };
        if (parsed.error_code) code = parsed.error_code;
        if (parsed.message) message = parsed.message;
      } catch {
        // not an MLflow error body; keep the raw text
      }
      throw errorFromMlflow(code, `${method} ${path}: ${message}`);
    }
    throw new TrackerUnavailableError(`MLflow server ${this.uri} unavailable: ${method} ${path} failed ${this.retry.retries + 1} times; last problem: ${lastProblem}`);
  }

  private async get<T>(endpoint: string, query: Record<string, string | number | undefined>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const res = await this.request('GET', `/api/2.0/mlflow/${endpoint}?${qs}`);
    return parseMlflowJson(await res.text()) as T;
  }

  private async post<T>(endpoint: string, body: object): Promise<T> {
    const res = await this.request('POST', `/api/2.0/mlflow/${endpoint}`, stringifyMlflowJson(body));
    return parseMlflowJson(await res.text()) as T;
  }

  async createExperiment(name: string, tags: Record<string, string> = {}): Promise<string> {
    const res = await this.post<{ experiment_id: string }>('experiments/create', { name, tags: listOf(tags) });
    return String(res.experiment_id);
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const res = await this.get<{ experiment: WireExperiment }>('experiments/get', { experiment_id: experimentId });
    return experimentFromWire(res.experiment);
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    try {
      const res = await this.get<{ experiment: WireExperiment }>('experiments/get-by-name', { experiment_name: name });
      return experimentFromWire(res.experiment);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  async searchExperiments(opts: SearchExperimentsOptions = {}): Promise<Page<Experiment>> {
    const res = await this.post<{ experiments?: WireExperiment[]; next_page_token?: string }>('experiments/search', {
      max_results: opts.maxResults ?? 1000,
      filter: opts.filter,
      order_by: opts.orderBy,
      page_token: opts.pageToken,
      view_type: opts.viewType,
    });
    return withToken((res.experiments ?? []).map(experimentFromWire), res.next_page_token);
  }

  async createRun(opts: CreateRunOptions): Promise<Run> {
    const res = await this.post<{ run: WireRun }>('runs/create', {
      experiment_id: opts.experimentId,
      run_name: opts.runName,
      start_time: opts.startTime ?? Date.now(),
      user_id: opts.userId,
      tags: listOf(opts.tags ?? {}),
    });
    return runFromWire(res.run);
  }

  async updateRun(runId: string, update: UpdateRunOptions): Promise<RunInfo> {
    const res = await this.post<{ run_info: WireRunInfo }>('runs/update', {
      run_id: runId,
      run_uuid: runId,
      status: update.status,
      end_time: update.endTime,
      run_name: update.runName,
    });
    return runInfoFromWire(res.run_info);
  }

  async getRun(runId: string): Promise<Run> {
    const res = await this.get<{ run: WireRun }>('runs/get', { run_id: runId });
    return runFromWire(res.run);
  }

  async searchRuns(opts: SearchRunsOptions): Promise<Page<Run>> {
    const res = await this.post<{ runs?: WireRun[]; next_page_token?: string }>('runs/search', {
      experiment_ids: opts.experimentIds,
      filter: opts.filter,
      order_by: opts.orderBy,
      max_results: opts.maxResults ?? 1000,
      page_token: opts.pageToken,
      run_view_type: opts.runViewType,
    });
    return withToken((res.runs ?? []).map(runFromWire), res.next_page_token);
  }

  async logBatch(runId: string, batch: LogBatch): Promise<void> {
    validateBatch(batch);
    await this.post('runs/log-batch', {
      run_id: runId,
      metrics: (batch.metrics ?? []).map(metricToWire),
      params: listOf(batch.params ?? {}),
      tags: listOf(batch.tags ?? {}),
    });
  }

  async getMetricHistory(runId: string, key: string): Promise<Metric[]> {
    const out: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const res = await this.get<{ metrics?: WireMetric[]; next_page_token?: string }>('metrics/get-history', {
        run_id: runId,
        metric_key: key,
        max_results: 25_000,
        page_token: pageToken,
      });
      out.push(...(res.metrics ?? []).map(metricFromWire));
      pageToken = res.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** Artifacts go through the server's artifact proxy (`mlflow-artifacts:/` run roots, MLflow's default). */
  private async artifactUrlPath(runId: string, artifactPath: string): Promise<string> {
    let artifactUri = this.artifactUris.get(runId);
    if (artifactUri === undefined) {
      artifactUri = (await this.getRun(runId)).info.artifactUri;
      this.artifactUris.set(runId, artifactUri);
    }
    const info = { artifactUri };
    if (!info.artifactUri.startsWith(ARTIFACT_SCHEME)) {
      throw new TrackingError(
        `run ${runId} stores artifacts at '${info.artifactUri}', which difflab cannot reach through the server; start the MLflow server with --serve-artifacts (its default since 2.0)`,
        'INVALID_PARAMETER_VALUE',
      );
    }
    const rel = [info.artifactUri.slice(ARTIFACT_SCHEME.length), checkArtifactPath(artifactPath)].filter(Boolean).join('/');
    return `/api/2.0/mlflow-artifacts/artifacts/${rel.split('/').filter(Boolean).map(encodeURIComponent).join('/')}`;
  }

  async putArtifact(runId: string, artifactPath: string, data: Uint8Array): Promise<void> {
    await this.request('PUT', await this.artifactUrlPath(runId, artifactPath), data, 'application/octet-stream');
  }

  async listArtifacts(runId: string, path = ''): Promise<FileInfo[]> {
    const res = await this.get<{ files?: WireFileInfo[] }>('artifacts/list', { run_id: runId, path: path || undefined });
    return (res.files ?? []).map(fileInfoFromWire);
  }

  async readArtifact(runId: string, artifactPath: string): Promise<Uint8Array> {
    const res = await this.request('GET', await this.artifactUrlPath(runId, artifactPath));
    return new Uint8Array(await res.arrayBuffer());
  }

  async close(): Promise<void> {}
}

function withToken<T>(items: T[], token: string | undefined): Page<T> {
  return token ? { items, nextPageToken: token } : { items };
}
