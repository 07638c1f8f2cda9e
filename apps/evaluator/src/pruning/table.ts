import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { tableFromRows, writeParquet } from '@difflab/data';
import { BK_SDM_SPECS, countUNet, unetConfig } from '@difflab/models';
import { writePlot } from '@difflab/scaling-law-fitter';
import { StudyError, type StudyLayout } from './study.js';

/** One model of the study, as the eval stage writes it to eval/<variant>.json. */
export interface PruningRow {
  /** Position in the study (baseline 0, then variants.json order). */
  order: number;
  variant: string;
  method: 'baseline' | 'bk-sdm' | 'ld-pruner';
  init: 'trained' | 'preserved' | 'scratch';
  retrain: 'none' | 'distill' | 'finetune';
  /** The pruning spec as JSON ('' for the baseline). */
  spec: string;
  /** Parameters zeroed (operators replaced by the identity; they still count in params and MACs). */
  zeroed: number;
  k: number | null;
  params: number;
  /** Multiply-accumulates per denoising step (one forward of one example), convolutions, linears and attention. */
  macs: number;
  /** BK-SDM's thop convention (see docs/unet.md). */
  thop_macs: number;
  /** Median ms per denoising step, keyed by batch size. */
  latency_ms: Record<string, number>;
  /** Highest 1-minute load average seen while timing. */
  load_avg: number;
  /** FID-FMNIST before retraining (the baseline: its own FID; scratch variants: null). */
  fid_pruned: number | null;
  fid_retrained: number | null;
  heldout_loss: number | null;
  fid_samples: number;
  backend: string;
}

const KEYS: (keyof PruningRow)[] = ['order', 'variant', 'method', 'init', 'retrain', 'spec', 'zeroed', 'k', 'params', 'macs', 'thop_macs', 'latency_ms', 'load_avg', 'fid_pruned', 'fid_retrained', 'heldout_loss', 'fid_samples', 'backend'];

/** Reads eval/<variant>.json; a missing field or a file that is not a row is an error naming the file. */
export function readPruningRows(evalDir: string): PruningRow[] {
  if (!existsSync(evalDir)) throw new StudyError(`${evalDir} not found; run the eval stage first`);
  const files = readdirSync(evalDir).filter((f) => f.endsWith('.json') && f !== 'machine.json');
  if (files.length === 0) throw new StudyError(`${evalDir} holds no eval rows; run the eval stage first`);
  const rows = files.map((f) => {
    const path = join(evalDir, f);
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new StudyError(`${path} is not valid JSON: ${(e as Error).message}`);
    }
    const missing = KEYS.filter((k) => !(k in row));
    if (missing.length) throw new StudyError(`${path}: missing field(s) ${missing.join(', ')}; rerun the eval stage`);
    return row as unknown as PruningRow;
  });
  if (!rows.some((r) => r.method === 'baseline')) throw new StudyError(`${evalDir}: no baseline row (baseline.json); rerun the eval stage`);
  return rows.sort((a, b) => a.order - b.order);
}

/** The quality a row ends with: after retraining when it was retrained. */
export const finalFid = (r: PruningRow): number | null => r.fid_retrained ?? r.fid_pruned;

/** Indices of the rows no other row beats on both cost and FID (lower is better for both). */
export function paretoFront(points: readonly { cost: number; fid: number | null }[]): Set<number> {
  const front = new Set<number>();
  points.forEach((p, i) => {
    if (p.fid === null) return;
    const dominated = points.some(
      (q, j) => j !== i && q.fid !== null && q.cost <= p.cost && q.fid <= p.fid! && (q.cost < p.cost || q.fid < p.fid!),
    );
    if (!dominated) front.add(i);
  });
  return front;
}

export interface PruningTable {
  rows: PruningRow[];
  batches: string[];
  paretoMacs: Set<number>;
  paretoLatency: Set<number>;
  markdown: string;
}

const fmt = (x: number | null, digits = 2) => (x === null ? '–' : x.toFixed(digits));
const si = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} G` : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : String(x));

/** Published counts (BK-SDM's thop output, GitHub issue #53) against the analytic counter: the architecture check. */
function publishedCounts(): string {
  const published: Record<string, [number, number] | null> = {
    'SD-v1.4': [859_520_964, 338_749_194_240],
    'BK-SDM-Base': [579_384_964, 223_755_632_640],
    'BK-SDM-Small': null,
    'BK-SDM-Tiny': null,
  };
  const lines = Object.entries(published).map(([name, p]) => {
    const c = countUNet(unetConfig(name));
    const ours = `${c.params.toLocaleString('en-US')} | ${c.thopMacs.toLocaleString('en-US')}`;
    return `| ${name} | ${ours} | ${p ? `${p[0].toLocaleString('en-US')} | ${p[1].toLocaleString('en-US')}` : '(paper rounds: see docs/unet.md) | –'} |`;
  });
  return (
    '## Published architecture counts (64×64×4 latent, 77×768 context)\n\n| model | params (ours) | MACs thop (ours) | params (published) | MACs (published) |\n|---|---|---|---|---|\n' +
    `${lines.join('\n')}\n\nBK-SDM specs: ${Object.keys(BK_SDM_SPECS).join(', ')} are \`applyPruning(SD-v1.4, spec)\`.\n`
  );
}

/** The table from eval rows: Markdown with per-row Pareto marks, plus the rows for Parquet. Pure (no IO). */
export function assembleTable(rows: PruningRow[], machine: Record<string, unknown> = {}): PruningTable {
  const batches = [...new Set(rows.flatMap((r) => Object.keys(r.latency_ms)))].sort((a, b) => Number(a) - Number(b));
  const first = batches[0];
  const paretoMacs = paretoFront(rows.map((r) => ({ cost: r.macs, fid: finalFid(r) })));
  const paretoLatency = paretoFront(rows.map((r) => ({ cost: first ? (r.latency_ms[first] ?? Infinity) : Infinity, fid: finalFid(r) })));
  const base = rows.find((r) => r.method === 'baseline')!;
  const header =
    `| variant | method | init → retrain | params | MACs/step | ${batches.map((b) => `ms/step @${b}`).join(' | ')} | FID pruned | FID retrained | held-out ε-MSE | Pareto (MACs / latency) |\n` +
    `|---|---|---|---|---|${batches.map(() => '---').join('|')}|---|---|---|---|\n`;
  const body = rows
    .map((r, i) => {
      const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(0)}%`;
      const mark = `${paretoMacs.has(i) ? '★' : '·'} / ${paretoLatency.has(i) ? '★' : '·'}`;
      return `| ${r.variant} | ${r.method} | ${r.init} → ${r.retrain} | ${si(r.params)} (${pct(r.params, base.params)}) | ${si(r.macs)} (${pct(r.macs, base.macs)}) | ${batches
        .map((b) => fmt(r.latency_ms[b] ?? null, 1))
        .join(' | ')} | ${fmt(r.fid_pruned)} | ${fmt(r.fid_retrained)} | ${fmt(r.heldout_loss, 4)} | ${mark} |`;
    })
    .join('\n');
  const loads = rows.map((r) => r.load_avg);
  const notes = [
    `FID-FMNIST with ${base.fid_samples} samples per model against the Fashion-MNIST test split (repo feature net); lower is better. The baseline's "FID pruned" is its own FID.`,
    'MACs per denoising step = one U-Net forward of one example (analytic counter). Zeroed (replaced) operators keep their params and MACs.',
    `Latency: median per step on this machine (backend ${base.backend}); 1-min load average while timing ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (other work shares the cores).`,
    '★ = on the Pareto front of final FID vs MACs / vs latency at the smallest batch.',
    ...Object.entries(machine).map(([k, v]) => `${k}: ${String(v)}`),
  ];
  const markdown = `# U-Net pruning on Fashion-MNIST\n\n${header}${body}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n${publishedCounts()}`;
  return { rows, batches, paretoMacs, paretoLatency, markdown };
}

type PlotSpec = Parameters<typeof writePlot>[2];

function tradeoffSpec(t: PruningTable, x: 'macs' | 'latency'): PlotSpec {
  const b = t.batches[0]!;
  const front = x === 'macs' ? t.paretoMacs : t.paretoLatency;
  const points = t.rows
    .map((r, i) => ({ variant: r.variant, method: r.method, cost: x === 'macs' ? r.macs : r.latency_ms[b]!, fid: finalFid(r), pareto: front.has(i) ? 'Pareto front' : 'dominated' }))
    .filter((p) => p.fid !== null);
  const line = points.filter((p) => p.pareto === 'Pareto front').sort((a, c) => a.cost - c.cost);
  const xTitle = x === 'macs' ? 'MACs per denoising step' : `latency per step, batch ${b} (ms)`;
  return {
    width: 520,
    height: 360,
    title: `FID-FMNIST vs ${x === 'macs' ? 'MACs' : 'latency'} (after retraining)`,
    config: { font: 'DejaVu Sans' },
    layer: [
      { data: { values: line }, mark: { type: 'line', color: 'gray', strokeDash: [4, 3] }, encoding: { x: { field: 'cost', type: 'quantitative' }, y: { field: 'fid', type: 'quantitative' } } },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'cost', type: 'quantitative', title: xTitle, scale: { zero: false } },
          y: { field: 'fid', type: 'quantitative', title: 'FID-FMNIST', scale: { zero: false } },
          color: { field: 'method', type: 'nominal' },
          shape: { field: 'pareto', type: 'nominal', title: null },
        },
      },
      { data: { values: points }, mark: { type: 'text', dx: 6, dy: -8, align: 'left', fontSize: 10 }, encoding: { x: { field: 'cost', type: 'quantitative' }, y: { field: 'fid', type: 'quantitative' }, text: { field: 'variant' } } },
    ],
  } as PlotSpec;
}

/** Stage 6: results/<preset>/table.md, table.parquet and the two trade-off plots (SVG + PNG), from eval/*.json only. */
export async function tableStage(l: StudyLayout): Promise<PruningTable> {
  const rows = readPruningRows(l.evalDir);
  const machinePath = join(l.evalDir, 'machine.json');
  const machine = existsSync(machinePath) ? (JSON.parse(readFileSync(machinePath, 'utf8')) as Record<string, unknown>) : {};
  const t = assembleTable(rows, machine);
  mkdirSync(l.resultsDir, { recursive: true });
  await writeFileAtomic(join(l.resultsDir, 'table.md'), t.markdown);
  const flat = rows.map((r, i) => {
    const { latency_ms, ...rest } = r;
    return {
      ...rest,
      ...Object.fromEntries(t.batches.map((b) => [`latency_b${b}_ms`, latency_ms[b] ?? null])),
      fid_final: finalFid(r),
      pareto_macs: t.paretoMacs.has(i),
      pareto_latency: t.paretoLatency.has(i),
    };
  });
  await writeParquet(join(l.resultsDir, 'table.parquet'), tableFromRows(flat));
  await writePlot(l.resultsDir, 'fid-vs-macs', tradeoffSpec(t, 'macs'));
  await writePlot(l.resultsDir, 'fid-vs-latency', tradeoffSpec(t, 'latency'));
  return t;
}
