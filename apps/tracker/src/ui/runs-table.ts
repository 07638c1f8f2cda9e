import { InvalidParameterError, recordOfEntries, type Run, type SqliteStore } from '@difflab/tracking';
import { formatDuration, formatNumber, formatTime } from './html.js';

export const MAX_RUNS = 1000;

export type Stat = 'last' | 'min' | 'max';

/** One column of the runs table: a param, a tag, or a metric's last / min / max value. */
export interface Column {
  /** Stable id used in `?cols=`: `params.lr`, `tags.phase`, `metrics.loss`, `metrics.loss:min`. */
  id: string;
  label: string;
  kind: 'param' | 'tag' | 'metric';
  key: string;
  stat?: Stat;
  /** MLflow order_by for the header link (min/max are not MLflow sort keys). */
  orderBy?: string;
}

export interface Cell {
  text: string;
  value?: number;
  best?: boolean;
}

export interface RunRow {
  run: Run;
  /** "step 120/500 · ETA 3.0 min" while RUNNING, when the run logged train.steps. */
  progress?: { step: number; total: number; eta: string };
  cells: Cell[];
}

export interface RunsTable {
  runs: Run[];
  error: string;
  /** Every column the chooser offers, and those shown. */
  available: Column[];
  columns: Column[];
  rows: RunRow[];
  hiddenParams: number;
  running: boolean;
}

/** Metrics where higher is better (accuracies, scores, alignment); every other metric is a loss: lower is better. */
const HIGHER_IS_BETTER = /acc|precision|recall|f1|score|cknna|cka|knn|probe|psnr|ssim|examples_per_sec/i;
export const higherIsBetter = (key: string) => HIGHER_IS_BETTER.test(key);
/** Settings and clocks, not results: no "best" among them. */
const NOT_RANKED = new Set(['lr', 'wall_time', 'examples_per_sec', 'grad_norm']);

/** Backticks keep keys with dots, slashes or spaces intact in order_by. */
function ident(kind: 'params' | 'metrics' | 'tags', key: string): string {
  return /^[\w]+$/.test(key) ? `${kind}.${key}` : `${kind}.\`${key}\``;
}

function progressOf(run: Run, now: number): RunRow['progress'] {
  const total = Number(run.data.params['train.steps']);
  if (run.info.status !== 'RUNNING' || !(total > 0)) return undefined;
  const step = Math.max(0, ...run.data.metrics.map((m) => m.step));
  const elapsed = now - run.info.startTime;
  const eta = step > 0 ? formatDuration(0, (elapsed / step) * Math.max(0, total - step)) : '';
  return { step, total, eta };
}

/** The runs of an experiment as the table shows them (and as the CSV export writes them). */
export async function runsTable(store: SqliteStore, experimentId: string, q: URLSearchParams): Promise<RunsTable> {
  await store.getExperiment(experimentId);
  const filter = q.get('filter') ?? '';
  const orderBy = q.get('order_by');
  let runs: Run[] = [];
  let error = '';
  try {
    runs = (await store.searchRuns({ experimentIds: [experimentId], filter, orderBy: orderBy ? [orderBy] : undefined, maxResults: MAX_RUNS })).items;
  } catch (err) {
    if (!(err instanceof InvalidParameterError)) throw err;
    error = err.message;
  }
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.params)))].sort();
  // MLflow's own tags (mlflow.*) and difflab's bookkeeping are not worth a column.
  const tagKeys = [...new Set(runs.flatMap((r) => Object.keys(r.data.tags)))].filter((k) => !k.startsWith('mlflow.') && !k.startsWith('difflab.')).sort();
  const metricKeys = [...new Set(runs.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const available: Column[] = [
    ...paramKeys.map((k) => ({ id: `params.${k}`, label: `params.${k}`, kind: 'param' as const, key: k, orderBy: ident('params', k) })),
    ...tagKeys.map((k) => ({ id: `tags.${k}`, label: `tags.${k}`, kind: 'tag' as const, key: k, orderBy: ident('tags', k) })),
    ...metricKeys.flatMap((k) => [
      { id: `metrics.${k}`, label: `metrics.${k}`, kind: 'metric' as const, key: k, stat: 'last' as const, orderBy: ident('metrics', k) },
      { id: `metrics.${k}:min`, label: `min ${k}`, kind: 'metric' as const, key: k, stat: 'min' as const },
      { id: `metrics.${k}:max`, label: `max ${k}`, kind: 'metric' as const, key: k, stat: 'max' as const },
    ]),
  ];
  // A resolved config has dozens of params; by default show the ones that differ between runs.
  const showAllParams = q.get('params') === 'all' || runs.length < 2;
  const differs = (k: string) => new Set(runs.map((r) => r.data.params[k] ?? '\u0000')).size > 1;
  const chosen = q.getAll('cols').flatMap((c) => c.split(',')).filter(Boolean);
  const defaults = (c: Column) => (c.kind === 'param' ? showAllParams || differs(c.key) : c.kind === 'metric' ? c.stat === 'last' : false);
  const columns = chosen.length > 0 ? available.filter((c) => chosen.includes(c.id)) : available.filter(defaults);
  const hiddenParams = chosen.length > 0 ? 0 : paramKeys.filter((k) => !(showAllParams || differs(k))).length;

  // Min/max scan every value of every listed run: only done when such a column is shown.
  const ranges = columns.some((c) => c.stat === 'min' || c.stat === 'max') ? store.metricRanges(runs.map((r) => r.info.runId)) : new Map<string, Record<string, { min: number; max: number }>>();
  const now = Date.now();
  const rows: RunRow[] = runs.map((r) => {
    const last = recordOfEntries(r.data.metrics.map((m) => [m.key, m.value] as const));
    const range = ranges.get(r.info.runId) ?? recordOfEntries<{ min: number; max: number }>([]);
    const cells = columns.map((c): Cell => {
      if (c.kind === 'param') return { text: r.data.params[c.key] ?? '' };
      if (c.kind === 'tag') return { text: r.data.tags[c.key] ?? '' };
      const value = c.stat === 'last' ? last[c.key] : range[c.key]?.[c.stat as 'min' | 'max'];
      return value === undefined ? { text: '' } : { text: formatNumber(value), value };
    });
    return { run: r, progress: progressOf(r, now), cells };
  });
  // Best value of each metric column among the listed runs (ties all marked).
  columns.forEach((c, i) => {
    if (c.kind !== 'metric' || NOT_RANKED.has(c.key) || rows.length < 2) return;
    const values = rows.map((row) => row.cells[i]!.value).filter((v): v is number => v !== undefined && Number.isFinite(v));
    if (values.length === 0) return;
    const best = higherIsBetter(c.key) ? Math.max(...values) : Math.min(...values);
    for (const row of rows) if (row.cells[i]!.value === best) row.cells[i]!.best = true;
  });
  return { runs, error, available, columns, rows, hiddenParams, running: runs.some((r) => r.info.status === 'RUNNING') };
}

/** RFC 4180 field: quoted, inner quotes doubled. */
function csvField(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

/** The table as shown (same filter, order and columns), with full-precision numbers. */
export function runsCsv(t: RunsTable): string {
  const head = ['run_id', 'run', 'status', 'started', 'duration', ...t.columns.map((c) => c.label)];
  const lines = t.rows.map((row) => {
    const i = row.run.info;
    return [i.runId, i.runName, i.status, formatTime(i.startTime), formatDuration(i.startTime, i.endTime), ...row.cells.map((c) => (c.value !== undefined ? String(c.value) : c.text))];
  });
  return [head, ...lines].map((cells) => cells.map(csvField).join(',')).join('\r\n') + '\r\n';
}
