import { join } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { writePlot } from '@difflab/scaling-laws';
import { budgetLabel } from './ids.js';
import type { PresetFloor } from './floor.js';

/**
 * Does the held-out loss rank runs as FID-FMNIST does? Liang et al. (2024) fit the loss and read quality off it;
 * that only works if lower loss means better samples. One point per run, log-log, coloured by budget, with the
 * real-vs-real floor at the same N as a line: a FID close to it is as good as this N can show.
 */

/** The columns of runs.parquet the plot reads. */
export interface LossFidRow {
  run: string;
  budget: number;
  size: string;
  /** Parameters: orders the sizes in the legend. */
  N: number;
  heldout_loss: number;
  fid: number;
}

type Spec = Parameters<typeof writePlot>[2];

/** Ranks 1…n, ties sharing the mean of the ranks they span (as scipy.stats.rankdata's 'average'). */
export function ranks(xs: readonly number[]): number[] {
  const order = xs.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) out[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's ρ: Pearson's correlation of the ranks; NaN with fewer than 2 points or a constant column. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} x values but ${y.length} y values`);
  if (x.length < 2) return Number.NaN;
  const rx = ranks(x), ry = ranks(y);
  const mean = (r: number[]) => r.reduce((s, v) => s + v, 0) / r.length;
  const mx = mean(rx), my = mean(ry);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? Number.NaN : sxy / Math.sqrt(sxx * syy);
}

const fmtRho = (r: number) => (Number.isFinite(r) ? r.toFixed(3) : '–');

/** The budgets of the rows, ascending, as labels (the colour legend's order). */
function budgetOrder(rows: readonly LossFidRow[]): string[] {
  return [...new Set(rows.map((r) => r.budget))].sort((a, b) => a - b).map(budgetLabel);
}

/** The sizes, smallest model first (the shape legend's order). */
function sizeOrder(rows: readonly LossFidRow[]): string[] {
  return [...new Set([...rows].sort((a, b) => a.N - b.N).map((r) => r.size))];
}

export function lossFidPlotSpec(rows: readonly LossFidRow[], floor: PresetFloor): Spec {
  const points = rows.map((r) => ({ run: r.run, budget: budgetLabel(r.budget), size: r.size, loss: r.heldout_loss, fid: r.fid }));
  const rho = spearman(rows.map((r) => r.heldout_loss), rows.map((r) => r.fid));
  return {
    width: 520,
    height: 360,
    config: { font: 'DejaVu Sans', axis: { labelFontSize: 12, titleFontSize: 13 }, legend: { labelFontSize: 12 } },
    title: {
      text: 'Held-out loss vs FID-FMNIST, one point per run',
      subtitle: `N = ${floor.n_samples} samples per FID; dashed: real-vs-real floor at that N (${floor.fid_floor.toFixed(2)}); Spearman ρ = ${fmtRho(rho)}`,
    },
    layer: [
      {
        data: { values: [{ floor: floor.fid_floor }] },
        mark: { type: 'rule', color: 'gray', strokeDash: [6, 4] },
        encoding: { y: { field: 'floor', type: 'quantitative' } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          // Padding keeps the extreme points and the floor line off the axes.
          x: { field: 'loss', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: 'held-out loss (eval.json heldout_loss)' },
          y: { field: 'fid', type: 'quantitative', scale: { type: 'log', nice: false, padding: 12 }, title: `FID-FMNIST (N = ${floor.n_samples})` },
          color: { field: 'budget', type: 'nominal', title: 'C (FLOPs)', sort: budgetOrder(rows), scale: { scheme: 'viridis' } },
          shape: { field: 'size', type: 'nominal', title: 'size', sort: sizeOrder(rows) },
        },
      },
    ],
  } as Spec;
}

/** loss-vs-fid.md: the plot, ρ over all runs and within each budget (where only the model size varies). */
export function lossFidMarkdown(rows: readonly LossFidRow[], floor: PresetFloor, preset: string): string {
  const rho = spearman(rows.map((r) => r.heldout_loss), rows.map((r) => r.fid));
  const budgets = [...new Set(rows.map((r) => r.budget))].sort((a, b) => a - b);
  const within = budgets.map((b) => {
    const rs = rows.filter((r) => r.budget === b);
    return `| ${budgetLabel(b)} | ${rs.length} | ${fmtRho(spearman(rs.map((r) => r.heldout_loss), rs.map((r) => r.fid)))} |`;
  });
  const nearFloor = rows.filter((r) => r.fid <= 2 * floor.fid_floor).length;
  return [
    `# Held-out loss vs FID-FMNIST — preset ${preset}`,
    '',
    '![loss vs FID](loss-vs-fid.svg)',
    '',
    `${rows.length} runs. Spearman rank correlation of held-out loss and FID-FMNIST over all runs: **ρ = ${fmtRho(rho)}** (1: lower loss always means lower FID).`,
    `FID from N = ${floor.n_samples} samples per run; the real-vs-real floor at the same N is ${floor.fid_floor.toFixed(2)} (floor.json); ${nearFloor} of ${rows.length} runs are within 2× of it.`,
    '',
    '| budget | runs | ρ within the budget |',
    '|---|---:|---:|',
    ...within,
    '',
  ].join('\n');
}

/** Writes loss-vs-fid.svg, .png and .md into the preset's results directory. */
export async function writeLossFid(resultsDir: string, rows: readonly LossFidRow[], floor: PresetFloor, preset: string): Promise<string[]> {
  const files = await writePlot(resultsDir, 'loss-vs-fid', lossFidPlotSpec(rows, floor));
  const md = join(resultsDir, 'loss-vs-fid.md');
  await writeFileAtomic(md, lossFidMarkdown(rows, floor, preset));
  return [...files, md];
}
