import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { initBackend, tf, writeFileAtomic } from '@difflab/core-tensor';
import { tableFromRows, writeParquet } from '@difflab/data';
import { agreement, classifyImages, generateSamples, requireFeatureNet, samplesOfClasses, scoreClassSubset, sha256File } from '@difflab/evaluation';
import { FmnistFeatureNet } from '@difflab/metrics';
import { loadRun, parseTrainConfig, runDenoiserWithWeights, writeImageGrid } from '@difflab/runs';
import { train } from '@difflab/training';
import { fingerprint, machineLine } from '@difflab/studies';
import type { EraseStudyDefinition } from './definition.js';
import { baseConfig, baseRunPath, keptClasses, presetOf, type EraseUnit } from './plan.js';
import { attackClass, type AttackKind } from './attack.js';
import { erasedClassScores, logitsOf } from './erasure-scores.js';
import { unitsMarkdown, type ModelScores, type UnitScores } from './table.js';

const PIXELS = 784;
/** Images per sampling and feature batch. */
const BATCH = 100;
/** Seed of the attacks' x_T: every model of a preset is attacked from the same noise. */
const ATTACK_SEED = 20260101;
const quiet = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;

export interface PresetContext {
  def: EraseStudyDefinition;
  preset: string;
  workspaceRoot: string;
  featureNet: string;
  /** The second scoring network; null when the preset does not score with it. */
  secondNet: string | null;
  log: (line: string) => void;
}

/** What the base stage leaves: the unerased model's scores, and the settings they were made with. */
interface BaseRecord {
  fingerprint: string;
  scores: ModelScores;
}

const baseDir = (c: PresetContext) => resolve(c.workspaceRoot, baseRunPath(c.preset));
const BASE_RECORD = 'study-base.json';
const EVAL_DIR = 'study-eval';
/** Images kept for the grids: the erased label's samples, and each attack's images. */
const IMAGE_FILES = { erased: 'erased-class.f32', embedding: 'attack-embedding.f32', noise: 'attack-noise.f32' } as const;

/** The base's settings and the scoring networks' bytes: a retrained network rescores the base. */
const baseFingerprint = (c: PresetContext) => {
  const p = presetOf(c.def, c.preset);
  const networks = [c.featureNet, ...(c.secondNet ? [c.secondNet] : [])].map((f) => sha256File(requireFeatureNet(f)));
  return fingerprint({ config: baseConfig(c.def, c.preset), samplesPerClass: p.samplesPerClass, attack: p.attack, erased: c.def.erasedClass, networks });
};

/**
 * Trains the preset's ten-class base and scores it as every erased model is scored, unless a finished base with
 * the same settings is there. The erase and evaluate stages call it too (`difflab study … all` runs the units before
 * the preset stages; under Nx the base task has run first, so this is then a check).
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
  const cfg = parseTrainConfig(baseConfig(c.def, c.preset), `erase.json (preset ${c.preset}, base)`);
  const t0 = performance.now();
  const result = await train(cfg, { runDir: dir, progressStream: quiet });
  c.log(`base: ${result.step} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s, held-out loss ${result.heldOutLoss?.toFixed(4)}`);
  const scores = await scoreModel(dir, join(dir, EVAL_DIR), c);
  const rec: BaseRecord = { fingerprint: fp, scores };
  await writeFileAtomic(recordPath, `${JSON.stringify(rec, null, 2)}\n`);
  c.log(`base (unerased): ${describe(scores)}`);
  return rec;
}

function describe(s: ModelScores): string {
  return (
    `erased-label samples: p(erased) ${s.erased_probability.toFixed(3)}, entropy ${s.erased_entropy.toFixed(3)} nats, accuracy ${s.erased_accuracy.toFixed(3)}; ` +
    `other nine: accuracy ${s.kept_class_accuracy.toFixed(3)}, FID ${s.kept_fid.toFixed(2)} (floor ${s.kept_fid_floor.toFixed(2)} at N = ${s.n_kept}); ` +
    `attacks (success by the ${s.attack_scorer}): embedding ${s.attack_embedding_before.toFixed(3)} → ${s.attack_embedding_success.toFixed(3)}, noise ${s.attack_noise_before.toFixed(3)} → ${s.attack_noise_success.toFixed(3)}`
  );
}

/** Fraction of images (in [0, 1]) the network classifies as `c`. */
function rateOf(net: FmnistFeatureNet, images: Float32Array, count: number, c: number): number {
  return classifyImages(net, images, count, BATCH).filter((p) => p === c).length / count;
}

/**
 * Scores one model (a run directory, EMA weights): samples of every class from the evaluation seed (the same x_T for
 * the base and every erased model), the erased label's read by the FID network (probability, entropy, accuracy) and
 * the other nine's (accuracy; FID against their test images with its floor at the same N); then both attacks against
 * the FID network, their success read by the second network when the preset has it. Images for the grids → `outDir`.
 */
async function scoreModel(runDir: string, outDir: string, c: PresetContext): Promise<ModelScores> {
  await initBackend();
  const p = presetOf(c.def, c.preset);
  const erased = c.def.erasedClass;
  const run = await loadRun(runDir, 'ema');
  const model = runDenoiserWithWeights(run.config, run.weights);
  tf.dispose(Object.values(run.weights));
  const netA = await FmnistFeatureNet.load(c.featureNet);
  const netB = c.secondNet ? await FmnistFeatureNet.load(c.secondNet) : null;
  try {
    const all = generateSamples(run.config, model.params, p.samplesPerClass, BATCH);
    const gone = samplesOfClasses(all, [erased]);
    const kept = samplesOfClasses(all, keptClasses(c.def));
    const a = erasedClassScores(logitsOf(netA, gone.images, gone.count, BATCH), 10, erased);
    const s = await scoreClassSubset(kept, c.featureNet, keptClasses(c.def), { batchSize: BATCH, log: c.log });
    const scorer = netB ?? netA;
    const b = netB ? erasedClassScores(logitsOf(netB, gone.images, gone.count, BATCH), 10, erased) : null;
    const attack = (kind: AttackKind) => {
      const t0 = performance.now();
      const settings = { steps: p.attack.steps, batch: p.attack.batch, lr: kind === 'embedding' ? p.attack.embeddingLr : p.attack.noiseLr, evalImages: p.attack.evalImages, seed: ATTACK_SEED };
      const r = attackClass(kind, model, run.config, netA, erased, settings);
      return { r, seconds: (performance.now() - t0) / 1000 };
    };
    const emb = attack('embedding');
    const noise = attack('noise');
    mkdirSync(outDir, { recursive: true });
    await writeFileAtomic(join(outDir, IMAGE_FILES.erased), new Uint8Array(gone.images.buffer));
    await writeFileAtomic(join(outDir, IMAGE_FILES.embedding), new Uint8Array(emb.r.images.buffer));
    await writeFileAtomic(join(outDir, IMAGE_FILES.noise), new Uint8Array(noise.r.images.buffer));
    return {
      n_erased: a.n,
      erased_probability: a.probability,
      erased_entropy: a.entropy,
      erased_accuracy: a.accuracy,
      erased_probability_b: b?.probability ?? null,
      erased_accuracy_b: b?.accuracy ?? null,
      n_kept: s.n,
      kept_class_accuracy: s.classAccuracy,
      kept_class_accuracy_b: netB ? agreement(classifyImages(netB, kept.images, kept.count, BATCH), kept.labels) : null,
      kept_fid: s.fid,
      kept_fid_floor: s.fidFloor,
      kept_precision: s.precision,
      kept_recall: s.recall,
      attack_scorer: netB ? 'second network' : 'attacked network',
      attack_embedding_before: rateOf(scorer, emb.r.before, emb.r.count, erased),
      attack_embedding_success: rateOf(scorer, emb.r.images, emb.r.count, erased),
      attack_embedding_success_attacked_net: rateOf(netA, emb.r.images, emb.r.count, erased),
      attack_embedding_final_loss: emb.r.losses.at(-1)!,
      attack_embedding_seconds: emb.seconds,
      attack_noise_before: rateOf(scorer, noise.r.before, noise.r.count, erased),
      attack_noise_success: rateOf(scorer, noise.r.images, noise.r.count, erased),
      attack_noise_success_attacked_net: rateOf(netA, noise.r.images, noise.r.count, erased),
      attack_noise_final_loss: noise.r.losses.at(-1)!,
      attack_noise_seconds: noise.seconds,
    };
  } finally {
    model.dispose();
    netA.dispose();
    netB?.dispose();
  }
}

export interface UnitContext extends PresetContext {
  unit: EraseUnit;
  runDir: string;
}

const ERASE_RECORD = 'study-erase.json';

/** Erases the class from the base with ESD (the unit's variant, η and seed); records the wall time. */
export async function eraseUnit(c: UnitContext): Promise<void> {
  await ensureBase(c);
  rmSync(c.runDir, { recursive: true, force: true });
  const raw = structuredClone(c.unit.config);
  (raw.init as { from: string }).from = baseDir(c);
  const cfg = parseTrainConfig(raw, `erase.json (preset ${c.preset}, unit ${c.unit.id})`);
  const t0 = performance.now();
  const result = await train(cfg, { runDir: c.runDir, progressStream: quiet });
  const seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(join(c.runDir, ERASE_RECORD), `${JSON.stringify({ wall_seconds: seconds, steps: result.step }, null, 2)}\n`);
  c.log(`${c.unit.id}: ${result.step} ESD steps in ${seconds.toFixed(1)} s`);
}

const readJson = <T>(path: string, fix: string): T => {
  if (!existsSync(path)) throw new Error(`${path} not found; ${fix}`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
};

/** The erased model's scores and attacks → <run>/study-eval/{scores.json, *.f32}. */
export async function evaluateUnit(c: UnitContext): Promise<UnitScores> {
  const base = await ensureBase(c);
  const erase = readJson<{ wall_seconds: number; steps: number }>(join(c.runDir, ERASE_RECORD), "run the unit's erase stage first");
  const evalJson = readJson<{ finetune?: { trainable_params: number } }>(join(c.runDir, 'eval.json'), "run the unit's erase stage first");
  const dir = join(c.runDir, EVAL_DIR);
  const s = await scoreModel(c.runDir, dir, c);
  const scores: UnitScores = {
    unit: c.unit.id,
    variant: c.unit.variant,
    eta: c.unit.eta,
    seed: c.unit.seed,
    steps: erase.steps,
    esd_seconds: erase.wall_seconds,
    trainable_params: evalJson.finetune?.trainable_params ?? null,
    ...s,
    base_erased_probability: base.scores.erased_probability,
    base_kept_class_accuracy: base.scores.kept_class_accuracy,
    base_kept_fid: base.scores.kept_fid,
  };
  await writeFileAtomic(join(dir, 'scores.json'), `${JSON.stringify(scores, null, 2)}\n`);
  c.log(`${c.unit.id}: ${describe(s)}`);
  return scores;
}

export function readUnitScores(runDir: string): UnitScores {
  return readJson<UnitScores>(join(runDir, EVAL_DIR, 'scores.json'), "run the unit's evaluate stage first");
}

const readImages = (dir: string, file: string) => new Float32Array(new Uint8Array(readFileSync(join(dir, EVAL_DIR, file))).buffer);

/**
 * results/<preset>/: table.md, units.parquet, grids (rows: the base, then each unit of the first seed) of the erased
 * label's samples and of each attack's images, and plots of the erased class's probability and the other nine's
 * accuracy against η per variant.
 */
export async function writeResults(c: PresetContext, dir: string, units: { unit: EraseUnit; runDir: string }[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const base = await ensureBase(c);
  const rows = units.map((u) => readUnitScores(u.runDir));
  // Columns null in every row (the second network's, in a preset without it) are left out: they have no type.
  const empty = Object.keys(rows[0] ?? {}).filter((k) => rows.every((r) => r[k as keyof UnitScores] === null));
  const columns = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !empty.includes(k))));
  await writeParquet(join(dir, 'units.parquet'), tableFromRows(columns));
  await writeFileAtomic(join(dir, 'table.md'), unitsMarkdown(c.def, c.preset, base.scores, rows, machineLine(), new Date().toISOString().slice(0, 10)));
  const firstSeed = presetOf(c.def, c.preset).seeds[0];
  const shown = units.filter((u) => u.unit.seed === firstSeed);
  const width = 10;
  for (const [name, file] of Object.entries(IMAGE_FILES)) {
    const sources = [baseDir(c), ...shown.map((u) => u.runDir)];
    const data = new Float32Array(sources.length * width * PIXELS).fill(1);
    sources.forEach((src, r) => {
      const images = readImages(src, file);
      const n = Math.min(width, images.length / PIXELS);
      data.set(images.subarray(0, n * PIXELS), r * width * PIXELS);
    });
    writeImageGrid(join(dir, `grid-${name}.png`), { data: data.map((v) => 2 * v - 1), n: sources.length * width, height: 28, width: 28, channels: 1 }, width);
  }
  const { writePlot } = await import('@difflab/scaling-laws');
  const plot = (field: keyof UnitScores, title: string, baseValue: number) =>
    writePlot(dir, `${field.replaceAll('_', '-')}-vs-eta`, {
      width: 360,
      height: 260,
      title: `${title} (${c.preset}; dashed: the unerased base)`,
      layer: [
        { data: { values: rows }, mark: { type: 'line', point: true }, encoding: { x: { field: 'eta', type: 'quantitative', title: 'η (ESD negative guidance)' }, y: { aggregate: 'mean', field, type: 'quantitative', title, scale: { domain: [0, 1] } }, color: { field: 'variant', type: 'nominal', title: null } } },
        { data: { values: rows }, mark: { type: 'point', opacity: 0.5 }, encoding: { x: { field: 'eta', type: 'quantitative' }, y: { field, type: 'quantitative' }, color: { field: 'variant', type: 'nominal' } } },
        { data: { values: [{ y: baseValue }] }, mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { field: 'y', type: 'quantitative' } } },
      ],
      config: { font: 'DejaVu Sans' },
    } as never);
  await plot('erased_probability', `p(class ${c.def.erasedClass}) on its own samples`, base.scores.erased_probability);
  await plot('kept_class_accuracy', 'class accuracy of the other nine', base.scores.kept_class_accuracy);
  await plot('attack_embedding_success', 'embedding attack success', base.scores.attack_embedding_success);
}
