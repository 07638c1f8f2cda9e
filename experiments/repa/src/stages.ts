import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { readParquet, tableFromRows, tableToRows, writeParquet } from '@difflab/data';
import { evaluate } from '@difflab/evaluation';
import { TrackerSink, parseTrainConfig } from '@difflab/runs';
import { train } from '@difflab/training';
import type { Tracker } from '@difflab/tracking';
import type { RepaStudyDefinition } from './definition.js';
import type { RepaUnit } from './plan.js';

export interface UnitContext {
  def: RepaStudyDefinition;
  preset: string;
  unit: RepaUnit;
  runDir: string;
  workspaceRoot: string;
  tracker?: Tracker;
  log: (line: string) => void;
}

/** The unit's trainer config, its teacher's directory resolved against the workspace root. */
function unitConfig(c: UnitContext) {
  const raw = structuredClone(c.unit.config);
  const repa = raw.repa as { encoder: string } | undefined;
  if (repa) repa.encoder = resolve(c.workspaceRoot, repa.encoder);
  return parseTrainConfig(raw, `repa.json (preset ${c.preset}, arm ${c.unit.arm})`);
}

export async function trainUnit(c: UnitContext): Promise<void> {
  const cfg = unitConfig(c);
  const sinks = c.tracker ? [new TrackerSink(c.tracker, `${c.def.name}-${c.preset}`, c.unit.id, c.runDir)] : [];
  const result = await train(cfg, { runDir: c.runDir, sinks });
  c.log(`${c.unit.id}: ${result.step} steps, held-out loss ${result.heldOutLoss?.toFixed(4)} → ${c.runDir}`);
}

export async function evaluateUnit(c: UnitContext): Promise<void> {
  const r = await evaluate(c.runDir, {
    weights: 'ema',
    samplesPerClass: c.def.presets[c.preset]!.fidSamplesPerClass,
    ...(c.tracker ? { tracker: c.tracker } : {}),
    log: c.log,
  });
  c.log(`${c.unit.id}: fid_fmnist ${r.fid.toFixed(2)} (floor ${r.fidFloor.toFixed(2)} at N = ${r.n}), class accuracy ${r.classAccuracy?.toFixed(3)}`);
}

/** One run's numbers, as results/<preset>/runs.parquet holds them. */
export interface UnitResult {
  unit: string;
  arm: string;
  seed: number;
  steps: number;
  wall_seconds: number;
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

export function readUnit(unit: RepaUnit, runDir: string): UnitResult {
  const evalFile = join(runDir, 'eval', 'metrics.parquet');
  const trainFile = join(runDir, 'metrics.parquet');
  for (const f of [evalFile, trainFile]) if (!existsSync(f)) throw new Error(`${f} not found; run the unit's train and evaluate stages first`);
  const ev = tableToRows(readParquet(evalFile));
  const last = tableToRows(readParquet(trainFile)).at(-1)!;
  return {
    unit: unit.id,
    arm: unit.arm,
    seed: unit.seed,
    steps: last.step as number,
    wall_seconds: last.wall_time as number,
    n_samples: ev.find((x) => x.name === 'fid_fmnist')!.n_samples as number,
    fid: metricOf(ev, 'fid_fmnist', evalFile),
    fid_floor: metricOf(ev, 'fid_fmnist_floor', evalFile),
    class_accuracy: metricOf(ev, 'class_accuracy', evalFile),
    precision: metricOf(ev, 'precision', evalFile),
    recall: metricOf(ev, 'recall', evalFile),
  };
}

const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const sd = (v: number[]) => (v.length < 2 ? 0 : Math.sqrt(v.reduce((s, x) => s + (x - mean(v)) ** 2, 0) / (v.length - 1)));
const pm = (v: number[], digits: number) => `${mean(v).toFixed(digits)} ± ${sd(v).toFixed(digits)}`;

/** The final-checkpoint table, one line per arm (mean ± sd over seeds). Not yet: FID over training and the steps-to-vanilla speed-up (issue #17 parts 3–4). */
export function armsMarkdown(def: RepaStudyDefinition, preset: string, results: UnitResult[]): string {
  const p = def.presets[preset]!;
  const n = results[0]?.n_samples ?? 10 * p.fidSamplesPerClass;
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)} at table time, Node ${process.version}`;
  const lines = [
    `# REPA — preset ${preset}`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${machine}. Seeds ${p.seeds.join(', ')} per arm; block ${p.repa.block}, λ = ${p.repa.lambda}; teachers from ${p.encoders}.`,
    `FID-FMNIST from N = ${n} samples (EMA weights); the real-vs-real floor at the same N is ${mean(results.map((r) => r.fid_floor)).toFixed(2)}.`,
    '',
    '| arm | change | steps | FID-FMNIST | class acc. | precision | recall | train s |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const arm of def.arms) {
    const rs = results.filter((r) => r.arm === arm.id);
    if (rs.length === 0) continue;
    const col = (k: keyof UnitResult) => rs.map((r) => r[k] as number);
    lines.push(`| ${arm.id} | ${arm.change} | ${Math.round(mean(col('steps')))} | ${pm(col('fid'), 2)} | ${pm(col('class_accuracy'), 3)} | ${pm(col('precision'), 3)} | ${pm(col('recall'), 3)} | ${mean(col('wall_seconds')).toFixed(0)} |`);
  }
  lines.push('');
  return lines.join('\n');
}

export async function writeResults(dir: string, def: RepaStudyDefinition, preset: string, results: UnitResult[]): Promise<void> {
  await writeParquet(join(dir, 'runs.parquet'), tableFromRows(results as unknown as Record<string, unknown>[]));
  await writeFileAtomic(join(dir, 'table.md'), armsMarkdown(def, preset, results));
}
