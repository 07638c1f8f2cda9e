import { InvalidParameterError, type Run, type SqliteStore } from '@difflab/tracking';

/** One sweep run at its final logged value of the metric. */
export interface ScalingPoint {
  runId: string;
  runName: string;
  /** The run's `budget` tag (the sweep's nominal budget, e.g. `1e13`). */
  budget: string;
  /** The run's `size` tag (e.g. `w64-d2`). */
  size: string;
  /** Training FLOPs spent up to the metric's step: flops_train_per_example · train.batchSize · step. */
  compute: number;
  step: number;
  value: number;
}

export interface ScalingData {
  experimentId: string;
  metric: string;
  /** Metrics logged by the experiment's sweep runs (the choices for `metric`). */
  metrics: string[];
  /** Sorted by size, then compute. */
  points: ScalingPoint[];
  /** The best point (lowest value) of each budget, sorted by compute. */
  frontier: ScalingPoint[];
  /** Sweep runs left out, with the reason (no value of the metric, no compute params, a non-positive value). */
  skipped: { runId: string; runName: string; reason: string }[];
}

const MAX_RUNS = 5000;
export const DEFAULT_SCALING_METRIC = 'heldout_loss';

/**
 * Metrics the trainer logs about the run's state and speed rather than its result: plotted
 * against compute they say nothing about scaling, so the metric menu leaves them out.
 */
const NOT_RESULTS = new Map([
  ['lr', 'the learning-rate schedule'],
  ['wall_time', 'elapsed time'],
  ['examples_per_sec', 'throughput'],
  ['grad_norm', 'an optimiser diagnostic'],
]);

/** A run of a sweep: `difflab sweep` tags every run with its budget and size. */
const isSweepRun = (r: Run) => r.data.tags.budget !== undefined && r.data.tags.size !== undefined;

function positiveParam(r: Run, key: string): number | null {
  const v = Number(r.data.params[key]);
  return Number.isFinite(v) && v > 0 ? v : null;
}

/**
 * The scaling plot of a sweep experiment: each tagged run's last value of `metric` against the
 * compute it had spent at that step. A run id trained more than once (a rerun of the sweep logs a
 * new tracker run with the same name) counts once: its most recently started run that has the metric.
 */
export async function scalingData(store: SqliteStore, experimentId: string, metricParam: string | null): Promise<ScalingData> {
  await store.getExperiment(experimentId);
  const page = await store.searchRuns({ experimentIds: [experimentId], orderBy: ['attributes.start_time DESC'], maxResults: MAX_RUNS });
  const sweepRuns = page.items.filter(isSweepRun);
  const logged = [...new Set(sweepRuns.flatMap((r) => r.data.metrics.map((m) => m.key)))].sort();
  const metrics = logged.filter((m) => !NOT_RESULTS.has(m));
  if (sweepRuns.length === 0) {
    throw new InvalidParameterError(`experiment ${experimentId} has no sweep runs (runs tagged budget and size, as \`difflab sweep\` trains them)`);
  }
  const metric = metricParam || (metrics.includes(DEFAULT_SCALING_METRIC) ? DEFAULT_SCALING_METRIC : (metrics[0] ?? logged[0]!));
  if (NOT_RESULTS.has(metric)) {
    throw new InvalidParameterError(`'${metric}' is ${NOT_RESULTS.get(metric)}, not a result of training: it has no meaning against compute; choose one of: ${metrics.join(', ') || '(none)'}`);
  }
  if (!metrics.includes(metric)) {
    throw new InvalidParameterError(`metric '${metric}' is not logged by this experiment's sweep runs; choose one of: ${metrics.join(', ') || '(none)'}`);
  }
  const points: ScalingPoint[] = [];
  const skipped: ScalingData['skipped'] = [];
  const seen = new Set<string>();
  for (const r of sweepRuns) {
    const skip = (reason: string) => skipped.push({ runId: r.info.runId, runName: r.info.runName, reason });
    const last = r.data.metrics.find((m) => m.key === metric);
    if (!last) {
      skip(`no ${metric}`);
      continue;
    }
    if (seen.has(r.info.runName)) {
      skip(`older run of ${r.info.runName}`);
      continue;
    }
    seen.add(r.info.runName);
    const perExample = positiveParam(r, 'flops_train_per_example');
    const batch = positiveParam(r, 'train.batchSize');
    if (perExample === null || batch === null) {
      skip('params flops_train_per_example and train.batchSize are needed for its compute');
      continue;
    }
    // Log axes: a non-positive or non-finite value has no place on them.
    if (!(Number.isFinite(last.value) && last.value > 0) || !(last.step > 0)) {
      skip(`${metric} = ${last.value} at step ${last.step} cannot be drawn on log axes`);
      continue;
    }
    points.push({ runId: r.info.runId, runName: r.info.runName, budget: r.data.tags.budget!, size: r.data.tags.size!, compute: perExample * batch * last.step, step: last.step, value: last.value });
  }
  points.sort((a, b) => a.size.localeCompare(b.size, 'en', { numeric: true }) || a.compute - b.compute);
  const best = new Map<string, ScalingPoint>();
  for (const p of points) {
    const b = best.get(p.budget);
    if (!b || p.value < b.value) best.set(p.budget, p);
  }
  const frontier = [...best.values()].sort((a, b) => a.compute - b.compute);
  return { experimentId, metric, metrics, points, frontier, skipped };
}
