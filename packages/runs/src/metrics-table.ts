import { existsSync } from 'node:fs';
import { readParquet, tableFromColumns, tableToRows, writeParquet } from '@difflab/data';

export interface MetricsRow {
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  examples_per_sec: number;
  /** Seconds since the run started, counting only time spent in this trainer (resumes add up). */
  wall_time: number;
}

const COLUMNS: (keyof MetricsRow)[] = ['step', 'loss', 'lr', 'grad_norm', 'examples_per_sec', 'wall_time'];

/** The run's per-step metrics, kept in memory and rewritten atomically as one Parquet file. */
export class MetricsTable {
  private rows: MetricsRow[] = [];

  constructor(readonly path: string) {}

  add(row: MetricsRow): void {
    this.rows.push(row);
  }

  /** On resume: keeps the rows up to the checkpoint's step; later rows belong to the lost tail. */
  async loadUpTo(step: number): Promise<void> {
    if (!existsSync(this.path)) return;
    this.rows = tableToRows(readParquet(this.path))
      .map((r) => Object.fromEntries(COLUMNS.map((c) => [c, Number(r[c])])) as unknown as MetricsRow)
      .filter((r) => r.step <= step);
  }

  /** The rows held now (after loadUpTo: those the checkpoint covers). */
  get recorded(): readonly MetricsRow[] {
    return this.rows;
  }

  lastWallTime(): number | undefined {
    return this.rows.at(-1)?.wall_time;
  }

  async flush(): Promise<void> {
    const columns = Object.fromEntries(
      COLUMNS.map((c) => [c, c === 'step' ? Int32Array.from(this.rows, (r) => r.step) : Float64Array.from(this.rows, (r) => r[c])]),
    );
    await writeParquet(this.path, tableFromColumns(columns));
  }
}
