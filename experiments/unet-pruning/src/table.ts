import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { tableFromRows, writeParquet } from '@difflab/data';
import { BK_SDM_SPECS, countUNet, unetConfig } from '@difflab/models';
import { writePlot } from '@difflab/scaling-laws';
import { metricByKey, QUALITY_METRICS, type QualityMetric } from './quality.js';
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
  /** The quality metric (QUALITY_METRICS' key): 'fid' (FID-FMNIST, image study) or 'fad' (FAD, audio study); lower is better. */
  metric: QualityMetric['key'];
  /** The metric before retraining (the baseline: its own value; scratch variants: null). */
  quality_pruned: number | null;
  quality_retrained: number | null;
  heldout_loss: number | null;
  /** Samples per model the metric was computed from. */
  quality_samples: number;
  backend: string;
}

const QUALITY_FIELDS = ['pruned', 'retrained', 'samples'] as const;
const KEYS = ['order', 'variant', 'method', 'init', 'retrain', 'spec', 'zeroed', 'k', 'params', 'macs', 'thop_macs', 'latency_ms', 'load_avg', 'metric', 'heldout_loss', 'backend'] as const;

/**
 * A row as eval/<variant>.json and table.parquet store it: the quality fields named after the metric
 * (`fid_pruned`, `fad_pruned`, …), so a table read on its own says which metric its numbers are.
 */
export function pruningRowRecord(r: PruningRow): Record<string, unknown> {
  const { quality_pruned, quality_retrained, quality_samples, ...rest } = r;
  const q = { pruned: quality_pruned, retrained: quality_retrained, samples: quality_samples };
  return { ...rest, ...Object.fromEntries(QUALITY_FIELDS.map((f) => [`${r.metric}_${f}`, q[f]])) };
}

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
    const metric = metricByKey(String(row.metric));
    const quality = metric ? QUALITY_FIELDS.map((f) => `${metric.key}_${f}`) : [];
    const missing = [...KEYS, ...quality].filter((k) => !(k in row));
    if (missing.length) throw new StudyError(`${path}: missing field(s) ${missing.join(', ')}; rerun the eval stage`);
    if (!metric) throw new StudyError(`${path}: metric '${String(row.metric)}' is not one of ${Object.values(QUALITY_METRICS).map((m) => m.key).join(', ')}; rerun the eval stage`);
    const [pruned, retrained, samples] = quality.map((k) => row[k]);
    const { [quality[0]!]: _p, [quality[1]!]: _r, [quality[2]!]: _s, ...rest } = row;
    return { ...rest, quality_pruned: pruned, quality_retrained: retrained, quality_samples: samples } as unknown as PruningRow;
  });
  const metrics = [...new Set(rows.map((r) => r.metric))];
  if (metrics.length > 1) throw new StudyError(`${evalDir}: rows mix the metrics ${metrics.join(' and ')}; rerun the eval stage`);
  if (!rows.some((r) => r.method === 'baseline')) throw new StudyError(`${evalDir}: no baseline row (baseline.json); rerun the eval stage`);
  return rows.sort((a, b) => a.order - b.order);
}

/** The quality a row ends with: after retraining when it was retrained. */
export const finalQuality = (r: PruningRow): number | null => r.quality_retrained ?? r.quality_pruned;

/** Indices of the rows no other row beats on both cost and quality (lower is better for both: FID, FAD). */
export function paretoFront(points: readonly { cost: number; quality: number | null }[]): Set<number> {
  const front = new Set<number>();
  points.forEach((p, i) => {
    if (p.quality === null) return;
    const dominated = points.some(
      (q, j) => j !== i && q.quality !== null && q.cost <= p.cost && q.quality <= p.quality! && (q.cost < p.cost || q.quality < p.quality!),
    );
    if (!dominated) front.add(i);
  });
  return front;
}

export interface PruningTable {
  rows: PruningRow[];
  metric: QualityMetric;
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
  const paretoMacs = paretoFront(rows.map((r) => ({ cost: r.macs, quality: finalQuality(r) })));
  const paretoLatency = paretoFront(rows.map((r) => ({ cost: first ? (r.latency_ms[first] ?? Infinity) : Infinity, quality: finalQuality(r) })));
  const base = rows.find((r) => r.method === 'baseline')!;
  const metric = metricByKey(base.metric)!;
  const m = metric.label;
  const header =
    `| variant | method | init → retrain | params | MACs/step | ${batches.map((b) => `ms/step @${b}`).join(' | ')} | ${m} pruned | ${m} retrained | held-out ε-MSE | Pareto (MACs / latency) |\n` +
    `|---|---|---|---|---|${batches.map(() => '---').join('|')}|---|---|---|---|\n`;
  const body = rows
    .map((r, i) => {
      const pct = (x: number, of: number) => `${((100 * x) / of).toFixed(0)}%`;
      const mark = `${paretoMacs.has(i) ? '★' : '·'} / ${paretoLatency.has(i) ? '★' : '·'}`;
      return `| ${r.variant} | ${r.method} | ${r.init} → ${r.retrain} | ${si(r.params)} (${pct(r.params, base.params)}) | ${si(r.macs)} (${pct(r.macs, base.macs)}) | ${batches
        .map((b) => fmt(r.latency_ms[b] ?? null, 1))
        .join(' | ')} | ${fmt(r.quality_pruned)} | ${fmt(r.quality_retrained)} | ${fmt(r.heldout_loss, 4)} | ${mark} |`;
    })
    .join('\n');
  const loads = rows.map((r) => r.load_avg);
  const notes = [
    `${m} with ${base.quality_samples} samples per model ${metric.reference}; lower is better. The baseline's "${m} pruned" is its own ${m}.`,
    'MACs per denoising step = one U-Net forward of one example (analytic counter). Zeroed (replaced) operators keep their params and MACs.',
    `Latency: median per step on this machine (backend ${base.backend}); 1-min load average while timing ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (other work shares the cores).`,
    `★ = on the Pareto front of final ${m} vs MACs / vs latency at the smallest batch.`,
    ...Object.entries(machine).map(([k, v]) => `${k}: ${String(v)}`),
  ];
  const markdown = `# U-Net pruning on ${metric.subject}\n\n${header}${body}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n${publishedCounts()}`;
  return { rows, metric, batches, paretoMacs, paretoLatency, markdown };
}

type PlotSpec = Parameters<typeof writePlot>[2];

function tradeoffSpec(t: PruningTable, x: 'macs' | 'latency'): PlotSpec {
  const b = t.batches[0]!;
  const front = x === 'macs' ? t.paretoMacs : t.paretoLatency;
  const points = t.rows
    .map((r, i) => ({ variant: r.variant, method: r.method, cost: x === 'macs' ? r.macs : r.latency_ms[b]!, quality: finalQuality(r), pareto: front.has(i) ? 'Pareto front' : 'dominated' }))
    .filter((p) => p.quality !== null);
  const line = points.filter((p) => p.pareto === 'Pareto front').sort((a, c) => a.cost - c.cost);
  const xTitle = x === 'macs' ? 'MACs per denoising step' : `latency per step, batch ${b} (ms)`;
  return {
    width: 520,
    height: 360,
    title: `${t.metric.label} vs ${x === 'macs' ? 'MACs' : 'latency'} (after retraining)`,
    config: { font: 'DejaVu Sans' },
    layer: [
      { data: { values: line }, mark: { type: 'line', color: 'gray', strokeDash: [4, 3] }, encoding: { x: { field: 'cost', type: 'quantitative' }, y: { field: 'quality', type: 'quantitative' } } },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'cost', type: 'quantitative', title: xTitle, scale: { zero: false } },
          y: { field: 'quality', type: 'quantitative', title: t.metric.label, scale: { zero: false } },
          color: { field: 'method', type: 'nominal' },
          shape: { field: 'pareto', type: 'nominal', title: null },
        },
      },
      { data: { values: points }, mark: { type: 'text', dx: 6, dy: -8, align: 'left', fontSize: 10 }, encoding: { x: { field: 'cost', type: 'quantitative' }, y: { field: 'quality', type: 'quantitative' }, text: { field: 'variant' } } },
    ],
  } as PlotSpec;
}

/** Stage 6: results/<preset>/table.md, table.parquet and the two trade-off plots `<fid|fad>-vs-{macs,latency}` (SVG + PNG), from eval/*.json only. */
export async function tableStage(l: StudyLayout): Promise<PruningTable> {
  const rows = readPruningRows(l.evalDir);
  const machinePath = join(l.evalDir, 'machine.json');
  const machine = existsSync(machinePath) ? (JSON.parse(readFileSync(machinePath, 'utf8')) as Record<string, unknown>) : {};
  const t = assembleTable(rows, machine);
  mkdirSync(l.resultsDir, { recursive: true });
  await writeFileAtomic(join(l.resultsDir, 'table.md'), t.markdown);
  const flat = rows.map((r, i) => {
    const { latency_ms, ...rest } = pruningRowRecord(r) as Record<string, unknown> & Pick<PruningRow, 'latency_ms'>;
    return {
      ...rest,
      ...Object.fromEntries(t.batches.map((b) => [`latency_b${b}_ms`, latency_ms[b] ?? null])),
      [`${r.metric}_final`]: finalQuality(r),
      pareto_macs: t.paretoMacs.has(i),
      pareto_latency: t.paretoLatency.has(i),
    };
  });
  await writeParquet(join(l.resultsDir, 'table.parquet'), tableFromRows(flat));
  await writePlot(l.resultsDir, `${t.metric.key}-vs-macs`, tradeoffSpec(t, 'macs'));
  await writePlot(l.resultsDir, `${t.metric.key}-vs-latency`, tradeoffSpec(t, 'latency'));
  return t;
}
