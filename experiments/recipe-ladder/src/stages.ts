import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, initBackend, writeFileAtomic } from '@difflab/core-tensor';
import { readParquet, tableFromRows, tableToRows, writeParquet } from '@difflab/data';
import { evaluate } from '@difflab/evaluation';
import { countDiT } from '@difflab/models';
import { TrackerSink, createDenoiser, parseTrainConfig, resolveModelConfig, scheduleFor, type TrainConfig } from '@difflab/runs';
import { createTrainer, learningRate, objectiveFor, train, trainStep } from '@difflab/training';
import type { Tracker } from '@difflab/tracking';
import type { LadderDefinition } from './definition.js';
import type { LadderUnit } from './plan.js';
import { mean, meanPlusMinus as pm, machineLine } from '@difflab/studies';

export interface UnitContext {
  def: LadderDefinition;
  preset: string;
  unit: LadderUnit;
  runDir: string;
  tracker?: Tracker;
  log: (line: string) => void;
}

/** What the equal-wall-clock column decided, written next to the run. */
interface TimeBudget {
  wallClockSeconds: number;
  probeStepsPerSecond: number;
  steps: number;
}

/**
 * Steps per second of this config's training step on this machine: a few warm-up steps, then timed
 * steps on random data of the run's shape (the step's cost does not depend on the pixel values).
 */
export async function measureStepsPerSecond(cfg: TrainConfig, seconds = 3): Promise<number> {
  await initBackend();
  const rng = new Rng(cfg.seed);
  const model = createDenoiser(cfg.model, rng);
  const objective = await objectiveFor(cfg, model);
  const trainer = createTrainer(model, objective, scheduleFor(cfg.diffusion), cfg.train);
  try {
    const b = cfg.train.batchSize;
    const s = model.inputSize;
    const batch = { x: rng.uniformArray(b * s * s * model.inChannels, -1, 1), y: Int32Array.from({ length: b }, () => rng.int(10)), shape: [b, s, s, model.inChannels] as [number, number, number, number] };
    const step = () => trainStep(trainer, batch, { lr: learningRate(cfg.train, 1), emaDecay: cfg.train.emaDecay, rng });
    for (let i = 0; i < 3; i++) step();
    const t0 = performance.now();
    let n = 0;
    while (n < 5 || performance.now() - t0 < seconds * 1000) {
      step();
      n++;
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    trainer.dispose();
    objective.dispose();
    model.dispose();
  }
}

export async function trainUnit(c: UnitContext): Promise<void> {
  const where = `ladder.json (preset ${c.preset}, row ${c.unit.row})`;
  let cfg = parseTrainConfig(c.unit.config, where);
  let budget: TimeBudget | null = null;
  if (c.unit.column === 'time') {
    const wallClockSeconds = c.def.presets[c.preset]!.wallClockSeconds;
    const rate = await measureStepsPerSecond(cfg);
    const steps = Math.max(10, Math.round(wallClockSeconds * rate));
    // The schedule (warm-up, cosine decay) is laid out over the steps this row can afford.
    cfg = parseTrainConfig({ ...c.unit.config, train: { ...(c.unit.config.train as object), steps, warmupSteps: Math.min(cfg.train.warmupSteps, Math.floor(steps / 10)) } }, where);
    budget = { wallClockSeconds, probeStepsPerSecond: rate, steps };
    c.log(`${c.unit.id}: ${rate.toFixed(2)} steps/s measured → ${steps} steps for ${wallClockSeconds} s`);
  }
  const sinks = c.tracker ? [new TrackerSink(c.tracker, `${c.def.name}-${c.preset}`, c.unit.id, c.runDir)] : [];
  const result = await train(cfg, { runDir: c.runDir, sinks });
  if (budget) await writeFileAtomic(join(c.runDir, 'time-budget.json'), `${JSON.stringify(budget, null, 2)}\n`);
  c.log(`${c.unit.id}: ${result.step} steps, held-out loss ${result.heldOutLoss?.toFixed(4)} → ${c.runDir}`);
}

export async function evaluateUnit(c: UnitContext): Promise<void> {
  const r = await evaluate(c.runDir, {
    weights: 'ema',
    samplesPerClass: c.def.presets[c.preset]!.fidSamplesPerClass,
    ...(c.tracker ? { tracker: c.tracker } : {}),
    log: c.log,
  });
  c.log(`${c.unit.id}: fid_fmnist ${r.fid.toFixed(2)} (floor ${r.fidFloor.toFixed(2)} at N = ${r.n}), class accuracy ${r.classAccuracy?.toFixed(3)}, precision ${r.precision.toFixed(3)}, recall ${r.recall.toFixed(3)}`);
}

/** One run's numbers, as results/<preset>/runs.parquet holds them. */
export interface UnitResult {
  unit: string;
  row: string;
  rank: number;
  seed: number;
  column: string;
  steps: number;
  batch_size: number;
  /** The run's own wall time and rate: taken under whatever else ran on the machine at the time. */
  wall_seconds: number;
  steps_per_second: number;
  /** The rate measured just before an equal-wall-clock run (time-budget.json); NaN for equal-steps runs. */
  probe_steps_per_second: number;
  params: number;
  gflops_per_example: number;
  n_samples: number;
  fid: number;
  fid_floor: number;
  class_accuracy: number;
  precision: number;
  recall: number;
}

function metricOf(rows: Record<string, unknown>[], name: string, file: string): number {
  const r = rows.find((x) => x.name === name);
  if (!r) throw new Error(`${file}: no '${name}' row; re-run the unit's evaluate stage`);
  return r.value as number;
}

export function readUnit(unit: LadderUnit, runDir: string): UnitResult {
  const evalFile = join(runDir, 'eval', 'metrics.parquet');
  const trainFile = join(runDir, 'metrics.parquet');
  for (const f of [evalFile, trainFile]) if (!existsSync(f)) throw new Error(`${f} not found; run the unit's train and evaluate stages first`);
  const ev = tableToRows(readParquet(evalFile));
  const tr = tableToRows(readParquet(trainFile));
  const last = tr.at(-1)!;
  const cfg = parseTrainConfig(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')), join(runDir, 'config.json'));
  const resolved = resolveModelConfig(cfg.model);
  if (resolved.architecture !== 'dit') throw new Error(`${runDir}: the ladder trains DiTs`);
  const count = countDiT(resolved.config);
  const steps = last.step as number;
  const wall = last.wall_time as number;
  const budgetFile = join(runDir, 'time-budget.json');
  const probe = existsSync(budgetFile) ? (JSON.parse(readFileSync(budgetFile, 'utf8')) as TimeBudget).probeStepsPerSecond : Number.NaN;
  return {
    unit: unit.id,
    row: unit.row,
    rank: unit.rank,
    seed: unit.seed,
    column: unit.column,
    steps,
    batch_size: cfg.train.batchSize,
    wall_seconds: wall,
    steps_per_second: steps / wall,
    probe_steps_per_second: probe,
    params: count.params,
    gflops_per_example: count.gflops,
    n_samples: ev.find((x) => x.name === 'fid_fmnist')!.n_samples as number,
    fid: metricOf(ev, 'fid_fmnist', evalFile),
    fid_floor: metricOf(ev, 'fid_fmnist_floor', evalFile),
    class_accuracy: metricOf(ev, 'class_accuracy', evalFile),
    precision: metricOf(ev, 'precision', evalFile),
    recall: metricOf(ev, 'recall', evalFile),
  };
}


/** The ladder table: one line per row and column, mean ± standard deviation over seeds. */
export function ladderMarkdown(def: LadderDefinition, preset: string, results: UnitResult[], machine: string): string {
  const p = def.presets[preset]!;
  const n = results[0]?.n_samples ?? 10 * p.fidSamplesPerClass;
  const floor = mean(results.map((r) => r.fid_floor));
  const base = results.filter((r) => r.rank === 0 && r.column === 'steps').map((r) => r.fid);
  const lines = [
    `# Recipe ladder — preset ${preset}`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${machine}. Each row adds one change to the row above (LightningDiT, Yao et al. 2025, Table 1, in miniature).`,
    `Seeds ${p.seeds.join(', ')} per row; mean ± sample standard deviation over seeds. FID-FMNIST from N = ${n} samples (EMA weights, the run's sampler);`,
    `the real-vs-real floor at the same N is ${floor.toFixed(2)} (N real training images against the same test reference). Precision and recall: Kynkäänniemi et al. 2019, k = 3, against those N real images.`,
    '',
  ];
  // A row's speed is the rate probed just before its equal-wall-clock runs: the same config as its equal-steps
  // runs, measured on a quiet machine, whereas a run's own wall time includes whatever else ran beside it.
  const probeRate = (row: string) => mean(results.filter((r) => r.row === row && Number.isFinite(r.probe_steps_per_second)).map((r) => r.probe_steps_per_second));
  for (const column of ['steps', 'time'] as const) {
    const rows = def.rows.filter((row) => results.some((r) => r.row === row.id && r.column === column));
    if (rows.length === 0) continue;
    lines.push(column === 'steps' ? '## Equal steps' : `## Equal wall-clock (${p.wallClockSeconds} s of training per run)`, '');
    lines.push('| row | change | LightningDiT FID-50K | params | steps | batch | FID-FMNIST | FID / floor | class acc. | precision | recall | steps/s | train s |');
    lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const row of rows) {
      const rs = results.filter((r) => r.row === row.id && r.column === column);
      const col = (k: keyof UnitResult) => rs.map((r) => r[k] as number);
      const rate = probeRate(row.id);
      const speed = Number.isFinite(rate) ? `${rate.toFixed(2)} | ${(mean(col('steps')) / rate).toFixed(0)}` : '— | —';
      lines.push(
        `| ${row.id} | ${row.change} | ${row.paperFid ?? '—'} | ${(rs[0]!.params / 1e6).toFixed(3)} M | ${Math.round(mean(col('steps')))} | ${rs[0]!.batch_size} | ${pm(col('fid'), 2)} | ${(mean(col('fid')) / floor).toFixed(2)}× | ${pm(col('class_accuracy'), 3)} | ${pm(col('precision'), 3)} | ${pm(col('recall'), 3)} | ${speed} |`,
      );
    }
    lines.push('');
  }
  if (results.some((r) => Number.isFinite(r.probe_steps_per_second))) {
    lines.push('steps/s: the rate measured just before each equal-wall-clock run (3 s of training steps; mean over seeds); train s = steps ÷ that rate. The runs\' own wall times are in runs.parquet (`wall_seconds`), taken under whatever else ran on the machine.', '');
  }
  if (base.length > 0) lines.push(`Baseline FID at equal steps: ${pm(base, 2)}.`, '');
  return lines.join('\n');
}

export async function writeResults(dir: string, def: LadderDefinition, preset: string, results: UnitResult[]): Promise<void> {
  await writeParquet(join(dir, 'runs.parquet'), tableFromRows(results as unknown as Record<string, unknown>[]));
  await writeFileAtomic(join(dir, 'table.md'), ladderMarkdown(def, preset, results, machineLine()));
  const { writePlot } = await import('@difflab/scaling-laws');
  const values = results.map((r) => ({ row: `${r.rank}. ${r.row}`, column: r.column === 'steps' ? 'equal steps' : 'equal wall-clock', fid: r.fid, class_accuracy: r.class_accuracy, recall: r.recall }));
  const panel = (field: string, title: string) => ({
    width: 420,
    height: 220,
    mark: { type: 'point', filled: true, size: 40 },
    encoding: {
      x: { field: 'row', type: 'ordinal', sort: null, title: null, axis: { labelAngle: -35 } },
      y: { field, type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'column', type: 'nominal', title: null },
      xOffset: { field: 'column' },
    },
  });
  await writePlot(dir, 'ladder', {
    data: { values },
    vconcat: [panel('fid', 'FID-FMNIST (each seed)'), panel('class_accuracy', 'class accuracy'), panel('recall', 'recall')],
    config: { font: 'DejaVu Sans' },
  } as never);
}
