import { InvalidParameterError, type Run, type SqliteStore } from '@difflab/tracking';
import { MAX_MARKED_POINTS_PER_LINE, X_AXES, type Point, type XAxis } from './chart-spec.js';

/** Lines beyond this many points are thinned: the page embeds its data, and a chart cannot show more. */
export const MAX_POINTS_PER_LINE = 2000;

/** Every k-th point, always keeping the last one. */
function thin<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const stride = Math.ceil(items.length / max);
  const out = items.filter((_, i) => i % stride === 0);
  if ((items.length - 1) % stride !== 0) out.push(items[items.length - 1]!);
  return out;
}

/** Unique, readable series names: the run name, plus the id prefix when two runs share a name. */
export function seriesNames(runs: Run[]): Map<string, string> {
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r.info.runName, (counts.get(r.info.runName) ?? 0) + 1);
  return new Map(runs.map((r) => [r.info.runId, counts.get(r.info.runName)! > 1 ? `${r.info.runName} (${r.info.runId.slice(0, 7)})` : r.info.runName]));
}

export function parseXAxis(value: string | null): XAxis {
  const x = value ?? 'step';
  if (!Object.hasOwn(X_AXES, x)) throw new InvalidParameterError(`x must be one of ${Object.keys(X_AXES).join(', ')}, got '${x}'`);
  return x as XAxis;
}

/** Every point of each run's metrics (thinned past MAX_POINTS_PER_LINE), in the chart's row format. */
export async function metricPoints(store: SqliteStore, runs: Run[], metrics: string[], logY: boolean): Promise<{ points: Point[]; thinned: boolean }> {
  const names = seriesNames(runs);
  const points: Point[] = [];
  let thinned = false;
  for (const run of runs) {
    for (const metric of metrics) {
      const history = await store.getMetricHistory(run.info.runId, metric);
      const kept = thin(history, MAX_POINTS_PER_LINE);
      thinned ||= kept.length < history.length;
      const marker = kept.length <= MAX_MARKED_POINTS_PER_LINE;
      for (const m of kept) {
        // JSON has no NaN/Infinity; Vega-Lite leaves a gap at a null value.
        const value = Number.isFinite(m.value) && !(logY && m.value <= 0) ? m.value : null;
        points.push({ run: names.get(run.info.runId)!, metric, step: m.step, wall: m.timestamp, relative: (m.timestamp - run.info.startTime) / 1000, value, marker });
      }
    }
  }
  return { points, thinned };
}
