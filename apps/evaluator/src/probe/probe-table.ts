import { writeFileAtomic } from '@difflab/core-tensor';
import { tableFromColumns, writeParquet } from '@difflab/data';

/** One row of `probe/probe-t<t>.parquet`: one DiT block. */
export interface ProbeLayerRow {
  layer: number;
  /** Linear-probe test top-1 on the block's mean-pooled tokens. */
  probe_top1: number;
  /** Validation top-1 of the chosen C, and that C. */
  val_top1: number;
  best_c: number;
  /** CKNNA between the pooled tokens and the reference encoder's features of the clean test images. */
  cknna: number;
  n_train: number;
  n_val: number;
  n_test: number;
  /** Timestep index in [0, T). */
  t: number;
}

export async function writeProbeTable(path: string, rows: ProbeLayerRow[]): Promise<void> {
  const ints = (pick: (r: ProbeLayerRow) => number) => Int32Array.from(rows, pick);
  const floats = (pick: (r: ProbeLayerRow) => number) => Float64Array.from(rows, pick);
  await writeParquet(
    path,
    tableFromColumns({
      layer: ints((r) => r.layer),
      probe_top1: floats((r) => r.probe_top1),
      val_top1: floats((r) => r.val_top1),
      best_c: floats((r) => r.best_c),
      cknna: floats((r) => r.cknna),
      n_train: ints((r) => r.n_train),
      n_val: ints((r) => r.n_val),
      n_test: ints((r) => r.n_test),
      t: ints((r) => r.t),
    }),
  );
}

/** Markdown table, one line per layer (what `difflab probe` prints and writes next to the parquet). */
export function formatProbeTable(rows: ProbeLayerRow[]): string {
  const lines = ['| layer | probe top-1 | CKNNA | best C | n_train | n_val | n_test | t |', '|---:|---:|---:|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    lines.push(`| ${r.layer} | ${(100 * r.probe_top1).toFixed(2)}% | ${r.cknna.toFixed(4)} | ${r.best_c} | ${r.n_train} | ${r.n_val} | ${r.n_test} | ${r.t} |`);
  }
  return `${lines.join('\n')}\n`;
}

export async function writeProbeMarkdown(path: string, title: string, rows: ProbeLayerRow[]): Promise<void> {
  await writeFileAtomic(path, `# ${title}\n\n${formatProbeTable(rows)}`);
}
