import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as arrow from 'apache-arrow';
import { readParquet, tableFromColumns, tableToRows, writeParquet } from '@difflab/data';
import { writeFileAtomic } from '@difflab/core-tensor';
import type { SweepDefinition } from './definition.js';
import { budgetLabel, planPreset, type SweepRun } from './plan.js';
import { evalTablePath, runProjectName, type SweepLayout } from './targets.js';
import { floorFootnote, presetFloor, readRunFloor, writeFloor, type PresetFloor } from './floor.js';

/** A run's artifacts are missing or do not match the run the sweep planned. */
export class SweepGatherError extends Error {
  override name = 'SweepGatherError';
}

/** One row of runs.parquet: what the sweep planned and what the run's artifacts report. */
export interface SweepRow {
  run: string;
  preset: string;
  budget: number;
  size: string;
  hidden_size: number;
  depth: number;
  num_heads: number;
  steps: number;
  batch_size: number;
  lr: number;
  /** Trainable parameters (params.json model_params). */
  N: number;
  /** Training compute in FLOPs, 3·F_fwd·examples (eval.json train_compute). */
  C: number;
  /** Examples seen (eval.json examples_seen). */
  D: number;
  flops_fwd_per_example: number;
  heldout_loss: number;
  /** FID-FMNIST of the run's raw weights (eval/metrics.parquet row `fid_fmnist`). */
  fid: number;
  /** Generated images behind `fid` (FID is biased by ~1/n: compare only equal n). */
  fid_samples: number;
  final_train_loss: number;
  train_seconds: number;
  backend: string;
}

function readJson(path: string, run: SweepRun, project: string): Record<string, unknown> {
  if (!existsSync(path)) throw new SweepGatherError(`run ${run.id}: ${path} is missing (the run has not finished); run: npx nx run ${project}:train`);
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function num(o: Record<string, unknown>, key: string, file: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SweepGatherError(`${file}: '${key}' is ${JSON.stringify(v)}, expected a finite number`);
  return v;
}

/** Reads one run directory into a row, checking that it trained what the sweep planned. */
export function gatherRun(def: SweepDefinition, run: SweepRun, runDir: string): SweepRow {
  const evalPath = join(runDir, 'eval.json');
  const paramsPath = join(runDir, 'params.json');
  const ev = readJson(evalPath, run, runProjectName(def, run));
  const params = readJson(paramsPath, run, runProjectName(def, run));
  const step = num(ev, 'step', evalPath);
  if (step !== run.steps) throw new SweepGatherError(`${evalPath}: step ${step}, but the sweep plans ${run.steps} steps for ${run.id}; rerun its target (the run dir is stale)`);
  const n = num(params, 'model_params', paramsPath);
  if (n !== run.modelParams) throw new SweepGatherError(`${paramsPath}: model_params ${n}, but ${run.sizeLabel} has ${run.modelParams}; rerun its target (the run dir is stale)`);
  const metricsPath = join(runDir, 'metrics.parquet');
  if (!existsSync(metricsPath)) throw new SweepGatherError(`run ${run.id}: ${metricsPath} is missing`);
  const last = tableToRows(readParquet(metricsPath)).at(-1);
  if (!last) throw new SweepGatherError(`${metricsPath}: no rows`);
  const fid = readFid(def, run, runDir);
  return {
    run: run.id,
    preset: run.preset,
    budget: run.budget,
    size: run.sizeLabel,
    hidden_size: run.size.hiddenSize,
    depth: run.size.depth,
    num_heads: run.size.numHeads,
    steps: run.steps,
    batch_size: run.batchSize,
    lr: run.lr,
    N: n,
    C: num(ev, 'train_compute', evalPath),
    D: num(ev, 'examples_seen', evalPath),
    flops_fwd_per_example: num(params, 'flops_fwd_per_example', paramsPath),
    heldout_loss: num(ev, 'heldout_loss', evalPath),
    fid: fid.value,
    fid_samples: fid.samples,
    final_train_loss: num(last as Record<string, unknown>, 'loss', metricsPath),
    train_seconds: num(last as Record<string, unknown>, 'wall_time', metricsPath),
    backend: typeof ev.backend === 'string' ? ev.backend : 'unknown',
  };
}

/** The `fid_fmnist` row the run's evaluate target wrote, checked against the run's length and the preset's sample count. */
function readFid(def: SweepDefinition, run: SweepRun, runDir: string): { value: number; samples: number } {
  const path = evalTablePath(runDir);
  const project = runProjectName(def, run);
  if (!existsSync(path)) throw new SweepGatherError(`run ${run.id}: ${path} is missing (the run has not been evaluated); run: npx nx run ${project}:evaluate`);
  const row = tableToRows(readParquet(path)).find((r) => r.name === 'fid_fmnist') as Record<string, unknown> | undefined;
  if (!row) throw new SweepGatherError(`${path}: no 'fid_fmnist' row; rerun: npx nx run ${project}:evaluate`);
  const step = num(row, 'step', path);
  if (step !== run.steps) throw new SweepGatherError(`${path}: scores step ${step}, but ${run.id} trains ${run.steps} steps; rerun: npx nx run ${project}:evaluate (the evaluation is stale)`);
  const samples = num(row, 'n_samples', path);
  const wanted = 10 * def.presets[run.preset]!.fidSamplesPerClass;
  if (samples !== wanted) throw new SweepGatherError(`${path}: FID from ${samples} samples, but presets.${run.preset}.fidSamplesPerClass asks for ${wanted}; rerun: npx nx run ${project}:evaluate`);
  if (row.weights !== 'raw') throw new SweepGatherError(`${path}: FID of the ${String(row.weights)} weights, but the sweep scores raw weights; rerun: npx nx run ${project}:evaluate`);
  return { value: num(row, 'value', path), samples };
}

export function rowsToTable(rows: SweepRow[]): arrow.Table {
  const keys = Object.keys(rows[0]!) as Array<keyof SweepRow>;
  return tableFromColumns(Object.fromEntries(keys.map((k) => [k, rows.map((r) => r[k])])) as Record<string, ReadonlyArray<number> | ReadonlyArray<string>>);
}

/** The best run (lowest `metric`) of each budget: the compute-efficient frontier of that metric. */
export function frontier<R extends Pick<SweepRow, 'budget' | 'heldout_loss'> & Partial<Pick<SweepRow, 'fid'>>>(rows: readonly R[], metric: 'heldout_loss' | 'fid' = 'heldout_loss'): R[] {
  const best = new Map<number, R>();
  for (const r of rows) {
    const b = best.get(r.budget);
    if (!b || r[metric]! < b[metric]!) best.set(r.budget, r);
  }
  return [...best.values()].sort((a, b) => a.budget - b.budget);
}

function markdown(rows: SweepRow[], floor: PresetFloor): string {
  const head = '| run | budget | size | N | steps | D | C | held-out loss | FID-FMNIST | train loss | seconds |';
  const sep = '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map((r) =>
    `| ${r.run} | ${budgetLabel(r.budget)} | ${r.size} | ${r.N} | ${r.steps} | ${r.D} | ${r.C.toExponential(3)} | ${r.heldout_loss.toFixed(5)} | ${r.fid.toFixed(2)} | ${r.final_train_loss.toFixed(5)} | ${r.train_seconds.toFixed(1)} |`,
  );
  const total = rows.reduce((s, r) => s + r.train_seconds, 0);
  return [head, sep, ...body, '', `${rows.length} runs, ${total.toFixed(0)} s of training loops in total (backend ${rows[0]?.backend}); FID-FMNIST from ${rows[0]?.fid_samples} samples per run.`, '', floorFootnote(floor), ''].join('\n');
}

/**
 * Reads every run of a preset and writes results/<preset>/runs.parquet, frontier.parquet (by loss), frontier-fid.parquet,
 * floor.json (the FID floor at the runs' N, floor.ts) and runs.md.
 */
export async function gatherPreset(def: SweepDefinition, preset: string, layout: SweepLayout, workspaceRoot: string): Promise<SweepRow[]> {
  const runs = planPreset(def, preset);
  const rows = runs.map((run) => gatherRun(def, run, join(workspaceRoot, layout.runDir(run))));
  // Each run's evaluation recorded the floor at its N; gatherRun has checked that table's step, N and weights.
  const samples = 10 * def.presets[preset]!.fidSamplesPerClass;
  const floor = presetFloor(preset, runs.map((run) =>
    readRunFloor(evalTablePath(join(workspaceRoot, layout.runDir(run))), run.id, samples, `npx nx run ${runProjectName(def, run)}:evaluate`),
  ));
  const out = join(workspaceRoot, layout.resultsDir(preset));
  mkdirSync(out, { recursive: true });
  await writeParquet(join(out, 'runs.parquet'), rowsToTable(rows));
  await writeParquet(join(out, 'frontier.parquet'), rowsToTable(frontier(rows)));
  await writeParquet(join(out, 'frontier-fid.parquet'), rowsToTable(frontier(rows, 'fid')));
  await writeFloor(join(out, 'floor.json'), floor);
  await writeFileAtomic(join(out, 'runs.md'), `# ${def.name} — preset ${preset}\n\n${markdown(rows, floor)}`);
  return rows;
}

