import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, tf, writeFileAtomic } from '@difflab/core-tensor';
import { loadFashionMnist, tableFromRows, writeParquet } from '@difflab/data';
import { classifyImages, featuresOf, generateSamples, samplesOfClasses, scoreClassSubset, splitImagesOfClasses } from '@difflab/evaluation';
import { FmnistFeatureNet } from '@difflab/metrics';
import { loadRun, parseTrainConfig, writeImageGrid } from '@difflab/runs';
import { train } from '@difflab/training';
import { fingerprint, machineLine } from '@difflab/studies';
import type { AdaptStudyDefinition } from './definition.js';
import { baseConfig, baseRunPath, oldClasses, type AdaptUnit } from './plan.js';
import { copyingScores } from './copying.js';
import { unitsMarkdown, type UnitScores } from './table.js';

const PIXELS = 784;
/** Images per sampling and feature batch. */
const BATCH = 100;
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

export interface PresetContext {
  def: AdaptStudyDefinition;
  preset: string;
  workspaceRoot: string;
  featureNet: string;
  log: (line: string) => void;
}

/** What the base stage leaves: the base's old-class scores and samples, and the settings they were made with. */
interface BaseRecord {
  fingerprint: string;
  n_old: number;
  old_class_accuracy: number;
  old_fid: number;
  old_fid_floor: number;
}

const baseDir = (c: PresetContext) => resolve(c.workspaceRoot, baseRunPath(c.preset));
const BASE_RECORD = 'study-base.json';
const BASE_OLD_SAMPLES = 'study-base-old-samples.f32';

const baseFingerprint = (c: PresetContext) => fingerprint({ config: baseConfig(c.def, c.preset), samplesPerClass: c.def.presets[c.preset]!.samplesPerClass });

/**
 * Trains the preset's 9-class base and scores its old-class samples, unless a finished base with the same settings
 * is there. The adapt stage calls it too: `difflab study … all` runs every unit before the preset stages, and under
 * Nx the base task has run first (the adapt tasks need it), so this is then a check.
 */
export async function ensureBase(c: PresetContext): Promise<BaseRecord> {
  const dir = baseDir(c);
  const fp = baseFingerprint(c);
  const recordPath = join(dir, BASE_RECORD);
  if (existsSync(recordPath)) {
    const rec = JSON.parse(readFileSync(recordPath, 'utf8')) as BaseRecord;
    if (rec.fingerprint === fp) return rec;
    c.log(`base ${dir} was made with other settings; retraining it`);
  }
  rmSync(dir, { recursive: true, force: true });
  await initBackend();
  const cfg = parseTrainConfig(baseConfig(c.def, c.preset), `adapt.json (preset ${c.preset}, base)`);
  const t0 = performance.now();
  const result = await train(cfg, { runDir: dir, progressStream: quiet });
  c.log(`base: ${result.step} steps on classes [${oldClasses(c.def).join(', ')}] in ${((performance.now() - t0) / 1000).toFixed(1)} s, held-out loss ${result.heldOutLoss?.toFixed(4)}`);
  const old = await sampleOldClasses(dir, c);
  const s = await scoreClassSubset(old, c.featureNet, oldClasses(c.def), { batchSize: BATCH });
  await writeFileAtomic(join(dir, BASE_OLD_SAMPLES), new Uint8Array(old.images.buffer));
  const rec: BaseRecord = { fingerprint: fp, n_old: s.n, old_class_accuracy: s.classAccuracy, old_fid: s.fid, old_fid_floor: s.fidFloor };
  await writeFileAtomic(recordPath, `${JSON.stringify(rec, null, 2)}\n`);
  c.log(`base old classes: FID ${s.fid.toFixed(2)} (floor ${s.fidFloor.toFixed(2)} at N = ${s.n}), class accuracy ${s.classAccuracy.toFixed(3)}`);
  return rec;
}

/** Samples of every class from a run (EMA weights, the evaluation seed: the same x_T for every run of the preset). */
async function sampleRun(runDir: string, c: PresetContext) {
  await initBackend();
  const run = await loadRun(runDir, 'ema');
  try {
    return generateSamples(run.config, run.weights, c.def.presets[c.preset]!.samplesPerClass, BATCH);
  } finally {
    tf.dispose(Object.values(run.weights));
  }
}

async function sampleOldClasses(runDir: string, c: PresetContext) {
  return samplesOfClasses(await sampleRun(runDir, c), oldClasses(c.def));
}

export interface UnitContext extends PresetContext {
  unit: AdaptUnit;
  runDir: string;
}

const ADAPT_RECORD = 'study-adapt.json';
const EVAL_DIR = 'study-eval';
const NEW_SAMPLES = 'new-class.f32';

/** Fine-tunes the base on the held-out class from k images; records the wall time. */
export async function adaptUnit(c: UnitContext): Promise<void> {
  await ensureBase(c);
  rmSync(c.runDir, { recursive: true, force: true });
  const raw = structuredClone(c.unit.config);
  (raw.init as { from: string }).from = baseDir(c);
  const cfg = parseTrainConfig(raw, `adapt.json (preset ${c.preset}, unit ${c.unit.id})`);
  const t0 = performance.now();
  const result = await train(cfg, { runDir: c.runDir, progressStream: quiet });
  const seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(join(c.runDir, ADAPT_RECORD), `${JSON.stringify({ wall_seconds: seconds, steps: result.step, heldout_loss: result.heldOutLoss ?? null }, null, 2)}\n`);
  c.log(`${c.unit.id}: ${result.step} steps in ${seconds.toFixed(1)} s, held-out loss (class ${c.def.heldOutClass}) ${result.heldOutLoss?.toFixed(4)}`);
}

const readJson = <T>(path: string, fix: string): T => {
  if (!existsSync(path)) throw new Error(`${path} not found; ${fix}`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
};

/** Root-mean-square difference of each image pair, averaged over the pairs. */
export function meanRmsChange(a: Float32Array, b: Float32Array, pixels = PIXELS): number {
  if (a.length !== b.length || a.length % pixels !== 0) throw new RangeError(`meanRmsChange: image sets differ in size (${a.length} vs ${b.length} values)`);
  const n = a.length / pixels;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let p = i * pixels; p < (i + 1) * pixels; p++) s += (a[p]! - b[p]!) ** 2;
    total += Math.sqrt(s / pixels);
  }
  return total / n;
}

/** New-class accuracy, copying, drift on the old classes → <run>/study-eval/{scores.json, new-class.png, new-class.f32}. */
export async function evaluateUnit(c: UnitContext): Promise<UnitScores> {
  const base = await ensureBase(c);
  const adapt = readJson<{ wall_seconds: number; steps: number }>(join(c.runDir, ADAPT_RECORD), 'run the unit\'s adapt stage first');
  const evalJson = readJson<{ finetune?: { trainable_params: number; bytes: number } }>(join(c.runDir, 'eval.json'), 'run the unit\'s adapt stage first');
  if (!evalJson.finetune) throw new Error(`${c.runDir}/eval.json has no finetune section; is it a fine-tune run?`);
  const held = c.def.heldOutClass;
  const all = await sampleRun(c.runDir, c);
  const fresh = samplesOfClasses(all, [held]);
  const old = samplesOfClasses(all, oldClasses(c.def));
  const baseOld = new Float32Array(new Uint8Array(readFileSync(join(baseDir(c), BASE_OLD_SAMPLES))).buffer);

  const data = loadFashionMnist();
  const k = c.unit.k;
  // The k images the adaptation saw (data.perClass: the first k of the class in split order) and as many unseen ones.
  const seen = splitImagesOfClasses(data.train, [held], k);
  const unseen = splitImagesOfClasses(data.test, [held], k);
  const net = await FmnistFeatureNet.load(c.featureNet);
  let scores: UnitScores;
  try {
    const predicted = classifyImages(net, fresh.images, fresh.count, BATCH);
    const newAcc = predicted.filter((p) => p === held).length / fresh.count;
    const [fs, ft, fh] = [await featuresOf(net, fresh.images, fresh.count), await featuresOf(net, seen.images, seen.count), await featuresOf(net, unseen.images, unseen.count)];
    const inFeatures = copyingScores(fs, ft, fh);
    const px = (x: { images: Float32Array; count: number }) => ({ rows: x.count, dim: PIXELS, data: x.images });
    const inPixels = copyingScores(px(fresh), px(seen), px(unseen));
    const s = await scoreClassSubset(old, c.featureNet, oldClasses(c.def), { batchSize: BATCH });
    scores = {
      unit: c.unit.id,
      method: c.unit.method,
      k,
      seed: c.unit.seed,
      steps: adapt.steps,
      trainable_params: evalJson.finetune.trainable_params,
      adapter_bytes: evalJson.finetune.bytes,
      adapt_seconds: adapt.wall_seconds,
      n_new: fresh.count,
      new_class_accuracy: newAcc,
      copy_ratio_features: inFeatures.meanRatio,
      copy_closer_features: inFeatures.closerToTrain,
      copy_ratio_pixels: inPixels.meanRatio,
      copy_closer_pixels: inPixels.closerToTrain,
      n_old: s.n,
      old_class_accuracy: s.classAccuracy,
      old_fid: s.fid,
      old_fid_floor: s.fidFloor,
      old_precision: s.precision,
      old_recall: s.recall,
      base_old_class_accuracy: base.old_class_accuracy,
      base_old_fid: base.old_fid,
      old_rms_change: meanRmsChange(old.images, baseOld),
    };
  } finally {
    net.dispose();
  }
  const dir = join(c.runDir, EVAL_DIR);
  mkdirSync(dir, { recursive: true });
  await writeFileAtomic(join(dir, NEW_SAMPLES), new Uint8Array(fresh.images.buffer));
  const shown = Math.min(fresh.count, 10);
  writeImageGrid(join(dir, 'new-class.png'), { data: fresh.images.slice(0, shown * PIXELS).map((v) => 2 * v - 1), n: shown, height: 28, width: 28, channels: 1 }, shown);
  await writeFileAtomic(join(dir, 'scores.json'), `${JSON.stringify(scores, null, 2)}\n`);
  c.log(
    `${c.unit.id}: new-class accuracy ${scores.new_class_accuracy.toFixed(3)} (N = ${scores.n_new}); old classes FID ${base.old_fid.toFixed(2)} → ${scores.old_fid.toFixed(2)} (floor ${scores.old_fid_floor.toFixed(2)} at N = ${scores.n_old}), accuracy ${base.old_class_accuracy.toFixed(3)} → ${scores.old_class_accuracy.toFixed(3)}; copy ratio ${scores.copy_ratio_features.toFixed(3)}`,
  );
  return scores;
}

export function readUnitScores(runDir: string): UnitScores {
  return readJson<UnitScores>(join(runDir, EVAL_DIR, 'scores.json'), 'run the unit\'s evaluate stage first');
}

function readNewSamples(runDir: string): Float32Array {
  return new Float32Array(new Uint8Array(readFileSync(join(runDir, EVAL_DIR, NEW_SAMPLES))).buffer);
}

/** results/<preset>/: table.md, units.parquet, grid-<method>-k<k>.png (a row per seed), new-class-accuracy-vs-k.svg/png. */
export async function writeResults(dir: string, def: AdaptStudyDefinition, preset: string, units: { unit: AdaptUnit; runDir: string }[], log: (l: string) => void): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rows = units.map((u) => readUnitScores(u.runDir));
  await writeParquet(join(dir, 'units.parquet'), tableFromRows(rows as unknown as Record<string, unknown>[]));
  await writeFileAtomic(join(dir, 'table.md'), unitsMarkdown(def, preset, rows, machineLine(), new Date().toISOString().slice(0, 10)));
  const columns = 10;
  for (const method of def.presets[preset]!.methods)
    for (const k of def.presets[preset]!.ks) {
      const cell = units.filter((u) => u.unit.method === method && u.unit.k === k);
      if (!cell.length) continue;
      const shown = Math.min(columns, def.presets[preset]!.samplesPerClass);
      const data = new Float32Array(cell.length * shown * PIXELS);
      cell.forEach((u, r) => data.set(readNewSamples(u.runDir).subarray(0, shown * PIXELS).map((v) => 2 * v - 1), r * shown * PIXELS));
      writeImageGrid(join(dir, `grid-${method}-k${k}.png`), { data, n: cell.length * shown, height: 28, width: 28, channels: 1 }, shown);
    }
  try {
    const { writePlot } = await import('@difflab/scaling-laws');
    await writePlot(dir, 'new-class-accuracy-vs-k', {
      width: 360,
      height: 260,
      title: `class ${def.heldOutClass} from k images (${preset}): new-class accuracy`,
      layer: [
        { data: { values: rows }, mark: { type: 'line', point: true }, encoding: { x: { field: 'k', type: 'quantitative', scale: { type: 'log' }, title: 'k (training images)' }, y: { aggregate: 'mean', field: 'new_class_accuracy', type: 'quantitative', title: 'new-class accuracy (mean over seeds)', scale: { domain: [0, 1] } }, color: { field: 'method', type: 'nominal', title: null } } },
        { data: { values: rows }, mark: { type: 'point', opacity: 0.5 }, encoding: { x: { field: 'k', type: 'quantitative' }, y: { field: 'new_class_accuracy', type: 'quantitative' }, color: { field: 'method', type: 'nominal' } } },
      ],
      config: { font: 'DejaVu Sans' },
    } as never);
  } catch (e) {
    log(`plot not written: ${(e as Error).message}`);
  }
}
