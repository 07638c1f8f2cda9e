import { writeParquet, tableFromColumns } from '@difflab/data';

/** One row of `eval/metrics.parquet`. */
export interface EvalMetricRow {
  name: string;
  value: number;
  n_samples: number;
  weights: 'ema' | 'raw' | 'real-data';
  step: number;
  feature_net_sha256: string;
}

/** Long format (one row per metric), so sweeps concatenate tables of runs with different metric sets. */
export async function writeEvalTable(path: string, rows: EvalMetricRow[]): Promise<void> {
  const text = (pick: (r: EvalMetricRow) => string) => rows.map(pick);
  await writeParquet(
    path,
    tableFromColumns({
      name: text((r) => r.name),
      value: Float64Array.from(rows, (r) => r.value),
      n_samples: Int32Array.from(rows, (r) => r.n_samples),
      weights: text((r) => r.weights),
      step: Int32Array.from(rows, (r) => r.step),
      feature_net_sha256: text((r) => r.feature_net_sha256),
    }),
  );
}
