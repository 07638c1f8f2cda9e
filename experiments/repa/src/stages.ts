import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '@difflab/core-tensor';
import { readParquet, tableFromRows, tableToRows, writeParquet } from '@difflab/data';
import { evaluate, logEvaluation, scoreSamples } from '@difflab/evaluation';
import { FMNIST_FEATURE_NET_S1, mean, meanPlusMinus as pm, machineLine } from '@difflab/studies';
import { TrackerSink, parseTrainConfig } from '@difflab/runs';
import { train } from '@difflab/training';
import type { Tracker } from '@difflab/tracking';
import type { RepaStudyDefinition } from './definition.js';
import type { RepaUnit } from './plan.js';
import { armSpeedUps, type ArmSpeedUp } from './speedup.js';
import { PROBE_FILE, type ProbeRow } from './probe.js';

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

/** checkpoints/step-0000250 and the like: the trainer's directory names, kept by the study under snapshots/. */
export const stepName = (step: number) => `step-${String(step).padStart(7, '0')}`;
const snapshotsDir = (runDir: string) => join(runDir, 'snapshots');

/**
 * Trains to each of the preset's evalSteps in turn (the trainer's bit-exact resume between them) and keeps the
 * checkpoint of each as snapshots/step-N/: a run directory of its own (config.json + that one checkpoint), which
 * `evaluate()` scores as it scores any run. The trainer keeps only its last two checkpoints, hence the copies.
 */
export async function trainUnit(c: UnitContext): Promise<void> {
  const cfg = unitConfig(c);
  const evalSteps = c.def.presets[c.preset]!.evalSteps;
  let last = 0;
  for (const [i, stopAt] of evalSteps.entries()) {
    const sinks = c.tracker ? [new TrackerSink(c.tracker, `${c.def.name}-${c.preset}`, c.unit.id, c.runDir)] : [];
    const result = await train(cfg, { runDir: c.runDir, resume: i > 0, stopAtStep: stopAt, sinks });
    if (result.step !== stopAt) throw new Error(`${c.runDir}: training stopped at step ${result.step}, expected ${stopAt} (evalSteps); see the run's log`);
    const name = stepName(stopAt);
    const snap = join(snapshotsDir(c.runDir), name);
    rmSync(snap, { recursive: true, force: true });
    cpSync(join(c.runDir, 'checkpoints', name), join(snap, 'checkpoints', name), { recursive: true });
    await writeFileAtomic(join(snap, 'checkpoints', 'latest'), `${name}\n`);
    cpSync(join(c.runDir, 'config.json'), join(snap, 'config.json'));
    c.log(`${c.unit.id}: step ${stopAt} (${stopAt - last} more), held-out loss ${result.heldOutLoss?.toFixed(4)} → ${snap}`);
    last = stopAt;
  }
}

/** One scored checkpoint, as <run>/eval/curve.parquet holds them. */
export interface CurveRow {
  step: number;
  n_samples: number;
  fid: number;
  fid_floor: number;
  class_accuracy: number;
  precision: number;
  recall: number;
  /** The same samples scored by the second FID network (FMNIST_FEATURE_NET_S1); NaN where the preset has no second scorer. */
  fid_s1: number;
  fid_floor_s1: number;
  class_accuracy_s1: number;
}

/**
 * Scores every kept checkpoint (snapshots/step-N) with FID-FMNIST and its floor, class accuracy, precision and
 * recall (EMA weights, the preset's N, the same x_T draws for each) → eval/step-N/ and eval/curve.parquet, and
 * logs each to the training run's tracker run at its step, so the tracker shows the curve.
 */
export async function evaluateUnit(c: UnitContext): Promise<void> {
  const p = c.def.presets[c.preset]!;
  const evalDir = join(c.runDir, 'eval');
  rmSync(evalDir, { recursive: true, force: true });
  mkdirSync(evalDir, { recursive: true });
  const rows: CurveRow[] = [];
  for (const step of p.evalSteps) {
    const snap = join(snapshotsDir(c.runDir), stepName(step));
    if (!existsSync(join(snap, 'checkpoints', 'latest'))) throw new Error(`${snap} not found; the train stage keeps a checkpoint at each of presets.${c.preset}.evalSteps — re-run it`);
    rmSync(join(snap, 'eval'), { recursive: true, force: true });
    const r = await evaluate(snap, { weights: 'ema', samplesPerClass: p.fidSamplesPerClass, log: c.log });
    if (r.step !== step) throw new Error(`${snap}: holds step ${r.step}, expected ${step}`);
    const out = join(evalDir, stepName(step));
    renameSync(join(snap, 'eval'), out);
    const s1 = p.secondScorer ? await scoreSamples(r.samples, resolve(c.workspaceRoot, FMNIST_FEATURE_NET_S1.file), { log: c.log }) : null;
    const second = { fid_s1: s1?.fid ?? Number.NaN, fid_floor_s1: s1?.fidFloor ?? Number.NaN, class_accuracy_s1: s1?.classAccuracy ?? Number.NaN };
    rows.push({ step, n_samples: r.n, fid: r.fid, fid_floor: r.fidFloor, class_accuracy: r.classAccuracy ?? Number.NaN, precision: r.precision, recall: r.recall, ...second });
    if (c.tracker) {
      const metrics = {
        fid_fmnist: r.fid, fid_fmnist_floor: r.fidFloor, precision: r.precision, recall: r.recall,
        ...(r.classAccuracy === null ? {} : { class_accuracy: r.classAccuracy }),
        ...(s1 ? { fid_fmnist_s1: s1.fid, fid_fmnist_floor_s1: s1.fidFloor, ...(s1.classAccuracy === null ? {} : { class_accuracy_s1: s1.classAccuracy }) } : {}),
      };
      await logEvaluation(c.tracker, { runDir: c.runDir, experimentName: `${c.def.name}-${c.preset}`, step, metrics, tablePath: join(out, 'metrics.parquet') });
    }
    c.log(`${c.unit.id} @ ${step}: fid_fmnist ${r.fid.toFixed(2)} (floor ${r.fidFloor.toFixed(2)} at N = ${r.n}), class accuracy ${r.classAccuracy?.toFixed(3)}${s1 ? `; second network: fid ${s1.fid.toFixed(2)} (floor ${s1.fidFloor.toFixed(2)}), class accuracy ${s1.classAccuracy?.toFixed(3)}` : ''}`);
  }
  await writeParquet(join(evalDir, CURVE_FILE), tableFromRows(rows as unknown as Record<string, unknown>[]));
}

export const CURVE_FILE = 'curve.parquet';

/** The teachers every run is probed against: all three, so vanilla's alignment to each is measured too. */
export const TEACHERS = ['mae', 'classifier', 'random'] as const;

/** Per kept checkpoint: every block's probe top-1 and CKNNA to each teacher → probe/probe.parquet. */
export async function probeUnit(c: UnitContext): Promise<void> {
  const p = c.def.presets[c.preset]!;
  const dir = join(c.runDir, 'probe');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { probeSnapshots } = await import('./probe.js');
  const snapshots = p.evalSteps.map((step) => join(snapshotsDir(c.runDir), stepName(step)));
  const teachers = Object.fromEntries(TEACHERS.map((t) => [t, resolve(c.workspaceRoot, p.encoders, t)]));
  await probeSnapshots(snapshots, teachers, p.probe, join(dir, PROBE_FILE), (line) => c.log(`${c.unit.id}: ${line}`));
}

/** One run's numbers at its final checkpoint, with its whole curve; results/<preset>/runs.parquet holds the former. */
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
  fid_s1: number;
  class_accuracy_s1: number;
}

export interface UnitCurve {
  final: UnitResult;
  curve: CurveRow[];
  probe: ProbeRow[];
}

export function readUnit(unit: RepaUnit, runDir: string): UnitCurve {
  const curveFile = join(runDir, 'eval', CURVE_FILE);
  const trainFile = join(runDir, 'metrics.parquet');
  for (const f of [curveFile, trainFile]) if (!existsSync(f)) throw new Error(`${f} not found; run the unit's train and evaluate stages first`);
  const curve = (tableToRows(readParquet(curveFile)) as unknown as CurveRow[]).map((r) => ({ ...r, step: Number(r.step) })).sort((a, b) => a.step - b.step);
  const last = tableToRows(readParquet(trainFile)).at(-1)!;
  const end = curve.at(-1);
  if (!end || end.step !== Number(last.step)) throw new Error(`${curveFile}: the last scored step (${end?.step}) is not the run's last step (${String(last.step)}); re-run the evaluate stage`);
  const probeFile = join(runDir, 'probe', PROBE_FILE);
  if (!existsSync(probeFile)) throw new Error(`${probeFile} not found; run the unit's probe stage first`);
  const probe = (tableToRows(readParquet(probeFile)) as unknown as ProbeRow[]).map((r) => ({ ...r, step: Number(r.step), block: Number(r.block) }));
  return {
    curve,
    probe,
    final: {
      unit: unit.id,
      arm: unit.arm,
      seed: unit.seed,
      steps: Number(last.step),
      wall_seconds: last.wall_time as number,
      n_samples: end.n_samples,
      fid: end.fid,
      fid_floor: end.fid_floor,
      class_accuracy: end.class_accuracy,
      precision: end.precision,
      recall: end.recall,
      fid_s1: end.fid_s1,
      class_accuracy_s1: end.class_accuracy_s1,
    },
  };
}


/** The vanilla arm's id: the arm without alignment, whose final FID is every arm's target. */
export const VANILLA = 'vanilla';
/** The bootstrap's seed and size: fixed, so the table's intervals are the same on every run. */
export const BOOTSTRAP = { seed: 17, resamples: 10_000 } as const;

function speedUpCell(a: ArmSpeedUp): string {
  if (a.reachedShare === 0) return 'not reached';
  const share = a.reachedShare < 1 ? `; ${(100 * a.reachedShare).toFixed(0)} % of resamples reach it` : '';
  return `${a.speedUp === null ? 'not reached' : `${a.speedUp.toFixed(2)}×`} [${a.low.toFixed(2)}, ${a.high.toFixed(2)}]${share}`;
}

/** The table: the speed-up to vanilla's final FID, FID at each scored step, and the final checkpoint's numbers. */
export function armsMarkdown(def: RepaStudyDefinition, preset: string, units: UnitCurve[], machine: string, date: string): string {
  const p = def.presets[preset]!;
  const results = units.map((u) => u.final);
  const n = results[0]?.n_samples ?? 10 * p.fidSamplesPerClass;
  const floor = mean(units.flatMap((u) => u.curve.map((r) => r.fid_floor)));
  const arms = def.arms.filter((a) => results.some((r) => r.arm === a.id));
  const lines = [
    `# REPA — preset ${preset}`,
    '',
    `${date}, ${machine}. Seeds ${p.seeds.join(', ')} per arm; block ${p.repa.block}, λ = ${p.repa.lambda}; teachers from ${p.encoders}.`,
    `FID-FMNIST from N = ${n} samples (EMA weights, the same x_T draws at every checkpoint); the real-vs-real floor at the same N is ${floor.toFixed(2)}. Scored at steps ${p.evalSteps.join(', ')}.`,
    '',
  ];
  const second = hasSecondScorer(units);
  if (results.some((r) => r.arm === VANILLA)) {
    lines.push(...speedUpMarkdown(units, arms, (r) => r.fid, ''));
    if (second) lines.push(...speedUpMarkdown(units, arms, (r) => r.fid_s1, ', by the second FID network'));
  }
  lines.push('## FID-FMNIST over training (mean ± sd over seeds)', '', `| arm | ${p.evalSteps.map((x) => `step ${x}`).join(' | ')} |`, `|---|${p.evalSteps.map(() => '---:').join('|')}|`);
  for (const arm of arms) {
    const cells = p.evalSteps.map((step) => {
      const v = units.filter((u) => u.final.arm === arm.id).flatMap((u) => u.curve.filter((r) => r.step === step).map((r) => r.fid));
      return v.length ? pm(v, 2) : '—';
    });
    lines.push(`| ${arm.id} | ${cells.join(' | ')} |`);
  }
  const secondHead = second ? ' FID (2nd net) | class acc. (2nd net) |' : '';
  lines.push('', '## Final checkpoint', '', `| arm | change | steps | FID-FMNIST | class acc. | precision | recall |${secondHead} train s |`, `|---|---|---:|---:|---:|---:|---:|${second ? '---:|---:|' : ''}---:|`);
  for (const arm of arms) {
    const rs = results.filter((r) => r.arm === arm.id);
    const col = (k: keyof UnitResult) => rs.map((r) => r[k] as number);
    const secondCells = second ? ` ${pm(col('fid_s1'), 2)} | ${pm(col('class_accuracy_s1'), 3)} |` : '';
    lines.push(`| ${arm.id} | ${arm.change} | ${Math.round(mean(col('steps')))} | ${pm(col('fid'), 2)} | ${pm(col('class_accuracy'), 3)} | ${pm(col('precision'), 3)} | ${pm(col('recall'), 3)} |${secondCells} ${mean(col('wall_seconds')).toFixed(0)} |`);
  }
  if (second) {
    const floor1 = mean(units.flatMap((u) => u.curve.map((r) => r.fid_floor_s1)));
    lines.push('', `2nd net: the same samples scored by a second FID network (same architecture and recipe, trained from another seed: initialisation and data order); its floor at N = ${n} is ${floor1.toFixed(2)}. A gain that shows on one network only is a gain in that network's features, not in the images.`);
  }
  lines.push('', ...probeMarkdown(def, preset, units));
  lines.push('train s: the run\'s own wall time (all segments), under whatever else ran on the machine. Plot: fid-vs-steps.svg / .png (line: mean over seeds; points: each seed; dashed: vanilla\'s final FID).', '');
  return lines.join('\n');
}

/** Whether the runs' curves carry the second FID network's scores. */
const hasSecondScorer = (units: UnitCurve[]) => units.length > 0 && units.every((u) => u.curve.every((r) => Number.isFinite(r.fid_s1)));

/** Steps to vanilla's final FID per arm, its speed-up and interval, with FID read by `fidOf` (either network). */
function speedUpMarkdown(units: UnitCurve[], arms: { id: string }[], fidOf: (r: CurveRow) => number, which: string): string[] {
  const s = armSpeedUps(
    units.map((u) => ({ arm: u.final.arm, seed: u.final.seed, curve: u.curve.map((r) => ({ step: r.step, fid: fidOf(r) })) })),
    VANILLA,
    BOOTSTRAP,
  );
  const lines = [
    `## Steps to vanilla's final FID${which}`,
    '',
    `Target: vanilla's final FID-FMNIST${which}, ${s.target.toFixed(2)} (mean over its seeds at step ${s.vanillaFinalStep}). Steps to it: the first step the arm's mean FID-vs-steps curve (over its seeds) reaches it, by linear`,
    `interpolation between the scored steps (at the first scored step: that step, an upper bound); speed-up = ${s.vanillaFinalStep} / that step, so vanilla's own is 1× unless its mean curve dips below its end earlier.`,
    `95 % interval: percentile bootstrap over seeds (${BOOTSTRAP.resamples.toLocaleString('en')} resamples, seed ${BOOTSTRAP.seed}; vanilla's and the arm's seeds drawn independently, target and mean curve recomputed; a resample that never reaches the target counts as 0×).`,
    'Each seed\'s own crossing is shown for reference; averaging those would be biased upward (a seed ending below the mean always gets there, one above it never does).',
    '',
    '| arm | steps to target (each seed) | speed-up of the mean curve [95 % CI] |',
    '|---|---|---:|',
  ];
  for (const arm of arms) {
    const a = s.arms.find((x) => x.arm === arm.id)!;
    const each = a.perSeed.map((x) => `s${x.seed}: ${x.stepsToTarget === null ? 'not reached' : x.stepsToTarget.toFixed(0)}`).join(', ');
    lines.push(`| ${arm.id} | ${each} | ${speedUpCell(a)} |`);
  }
  lines.push('');
  return lines;
}

/** The probe section: at the aligned block, probe top-1 and CKNNA to each teacher over the scored steps; probe top-1 by depth at the last step. */
function probeMarkdown(def: RepaStudyDefinition, preset: string, units: UnitCurve[]): string[] {
  const p = def.presets[preset]!;
  const arms = def.arms.filter((a) => units.some((u) => u.final.arm === a.id));
  const k = p.repa.block;
  const last = p.evalSteps.at(-1)!;
  const cell = (arm: string, pick: (r: ProbeRow) => boolean, field: keyof ProbeRow, digits: number) => {
    const v = units.filter((u) => u.final.arm === arm).flatMap((u) => u.probe.filter(pick).map((r) => Number(r[field])));
    return v.length ? pm(v, digits) : '—';
  };
  const timestep = units[0]?.probe[0]?.timestep;
  const depth = Math.max(0, ...units.flatMap((u) => u.probe.map((r) => r.block)));
  const lines = [
    `## Representations (REPA's Figure 2 in miniature)`,
    '',
    `Each block's tokens, mean-pooled, on the first ${p.probe.images} training images noised to t = ${timestep} (null-class label, noise seed 0): linear-probe top-1 for the class (60 % fit, 20 % choose C, 20 % scored)`,
    `and CKNNA (top-k ${p.probe.topk}) to each teacher's cached tokens of the scored images. Mean ± sd over seeds. The aligned block is ${k}; an arm's own teacher is in its row of the "change" column above.`,
    '',
    `| arm | step | probe top-1 (block ${k}) | ${TEACHERS.map((t) => `CKNNA to ${t} (block ${k})`).join(' | ')} |`,
    `|---|---:|---:|${TEACHERS.map(() => '---:').join('|')}|`,
  ];
  for (const arm of arms)
    for (const step of p.evalSteps) {
      const at = (r: ProbeRow) => r.step === step && r.block === k;
      lines.push(`| ${arm.id} | ${step} | ${cell(arm.id, at, 'probe_top1', 3)} | ${TEACHERS.map((t) => cell(arm.id, at, `cknna_${t}`, 3)).join(' | ')} |`);
    }
  lines.push('', `Probe top-1 by block at step ${last}:`, '', `| arm | ${Array.from({ length: depth }, (_, i) => `block ${i + 1}`).join(' | ')} |`, `|---|${Array.from({ length: depth }, () => '---:').join('|')}|`);
  for (const arm of arms) lines.push(`| ${arm.id} | ${Array.from({ length: depth }, (_, i) => cell(arm.id, (r) => r.step === last && r.block === i + 1, 'probe_top1', 3)).join(' | ')} |`);
  lines.push('');
  return lines;
}

export async function writeResults(dir: string, def: RepaStudyDefinition, preset: string, units: UnitCurve[]): Promise<void> {
  await writeParquet(join(dir, 'runs.parquet'), tableFromRows(units.map((u) => u.final) as unknown as Record<string, unknown>[]));
  const curveRows = units.flatMap((u) => u.curve.map((r) => ({ unit: u.final.unit, arm: u.final.arm, seed: u.final.seed, ...r })));
  await writeParquet(join(dir, 'curve.parquet'), tableFromRows(curveRows as unknown as Record<string, unknown>[]));
  const probeRows = units.flatMap((u) => u.probe.map((r) => ({ unit: u.final.unit, arm: u.final.arm, seed: u.final.seed, ...r })));
  await writeParquet(join(dir, 'probe.parquet'), tableFromRows(probeRows as unknown as Record<string, unknown>[]));
  await writeFileAtomic(join(dir, 'table.md'), armsMarkdown(def, preset, units, machineLine(), new Date().toISOString().slice(0, 10)));
  const vanillaFinal = units.filter((u) => u.final.arm === VANILLA).map((u) => u.final.fid);
  const { writePlot } = await import('@difflab/scaling-laws');
  const order = def.arms.map((a) => a.id).filter((id) => units.some((u) => u.final.arm === id));
  const x = { field: 'step', type: 'quantitative', title: 'training step' };
  const color = { field: 'arm', type: 'nominal', sort: order, title: null };
  await writePlot(dir, 'fid-vs-steps', {
    width: 480,
    height: 300,
    title: `REPA ${preset}: FID-FMNIST vs training steps`,
    layer: [
      { data: { values: curveRows }, mark: { type: 'line' }, encoding: { x, y: { aggregate: 'mean', field: 'fid', type: 'quantitative', title: 'FID-FMNIST (log)', scale: { type: 'log' } }, color } },
      { data: { values: curveRows }, mark: { type: 'point', filled: true, size: 30, opacity: 0.6 }, encoding: { x, y: { field: 'fid', type: 'quantitative' }, color } },
      ...(vanillaFinal.length ? [{ data: { values: [{ target: mean(vanillaFinal) }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'grey' }, encoding: { y: { field: 'target', type: 'quantitative' } } }] : []),
    ],
    config: { font: 'DejaVu Sans' },
  } as never);
  // REPA's Figure 2 in miniature: probe accuracy by depth at the last step, CKNNA to each teacher over training at the aligned block.
  const p = def.presets[preset]!;
  const last = p.evalSteps.at(-1)!;
  await writePlot(dir, 'probe-vs-depth', {
    width: 360,
    height: 260,
    title: `REPA ${preset}: linear-probe top-1 by block at step ${last}`,
    data: { values: probeRows.filter((r) => r.step === last) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'block', type: 'ordinal', title: 'block' },
      y: { aggregate: 'mean', field: 'probe_top1', type: 'quantitative', title: 'probe top-1 (mean over seeds)', scale: { zero: false } },
      color,
    },
    config: { font: 'DejaVu Sans' },
  } as never);
  await writePlot(dir, 'cknna-vs-steps', {
    title: `REPA ${preset}: CKNNA to each teacher at block ${p.repa.block}`,
    data: { values: probeRows.filter((r) => r.block === p.repa.block) },
    transform: [{ fold: TEACHERS.map((t) => `cknna_${t}`), as: ['teacher', 'cknna'] }],
    mark: { type: 'line', point: true },
    encoding: {
      x,
      y: { aggregate: 'mean', field: 'cknna', type: 'quantitative', title: 'CKNNA (mean over seeds)' },
      color,
      column: { field: 'teacher', type: 'nominal', title: null },
    },
    width: 220,
    height: 220,
    config: { font: 'DejaVu Sans' },
  } as never);
}
