import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Rng, backendInfo, initBackend, tf, writeFileAtomic, writeSafetensors, type BackendInfo } from '@difflab/core-tensor';
import {
  type LatentStats,
  type LdPrunerRanking,
  type PruningOperator,
  blockImportance,
  countUNet,
  createUNet,
  denoisingProxy,
  ldPrunerRanking,
  pruneLowest,
  rescoreLdPruner,
  type UNet,
  type UNetConfig,
  type UNetPruningSpec,
  unetOperators,
} from '@difflab/models';
import type { Tracker } from '@difflab/tracking';
import { TrackerSink, datasetFor, initialWeights, loadSourceRun, makeSampler, parseTrainConfig, resolveModelConfig, scheduleFor, type ResolvedUNet, type TrainConfig } from '@difflab/runs';
import { train } from '@difflab/training';
import { measureLatency } from './latency.js';
import { modalityOf, openQualityScorer, type QualityScorer } from './quality.js';
import {
  StudyError,
  loadBaselineConfig,
  loadEvalSettings,
  loadScoreSettings,
  loadVariantSettings,
  samplingWeights,
  type StudyLayout,
  type Variant,
} from './study.js';
import { pruningRowRecord, type PruningRow } from './table.js';

export interface StageOptions {
  tracker?: Tracker;
  log?: (line: string) => void;
  /** Training progress output; defaults to stderr. */
  progressStream?: NodeJS.WriteStream;
}

const COMBINES = ['sum', 'product', 'mean', 'std'] as const;

function unetOf(cfg: TrainConfig, where: string): ResolvedUNet {
  const r = resolveModelConfig(cfg.model);
  if (r.architecture !== 'unet') throw new StudyError(`${where}: model.preset '${cfg.model.preset}' is a DiT; the pruning study needs a U-Net preset`);
  return r;
}

/**
 * Tracker tags of a run of the study; `modality` tells image and audio studies apart. `study`, `preset` and
 * `stage` are not set here: the tracker @difflab/studies hands each stage adds them to every run.
 */
const tags = (cfg: TrainConfig, method: string, variant: string, extra: Record<string, string> = {}) => ({
  modality: modalityOf(cfg),
  method,
  variant,
  ...extra,
});

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

function readJsonFile<T>(path: string, hint: string): T {
  if (!existsSync(path)) throw new StudyError(`${path} not found; ${hint}`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Stage 1: trains the unpruned model from presets/<preset>/baseline.json. */
export async function baselineStage(l: StudyLayout, opts: StageOptions = {}): Promise<void> {
  const cfg = { ...loadBaselineConfig(l), name: l.name };
  unetOf(cfg, 'baseline.json');
  rmSync(l.baselineRun, { recursive: true, force: true });
  const sinks = opts.tracker ? [new TrackerSink(opts.tracker, l.name, 'baseline', l.baselineRun, tags(cfg, 'none', 'baseline'))] : [];
  await train(cfg, { runDir: l.baselineRun, sinks, progressStream: opts.progressStream });
}

/** The baseline run's U-Net with the weights it samples with; the caller disposes it. */
async function loadBaselineUNet(l: StudyLayout, cfg: TrainConfig): Promise<UNet> {
  const src = await loadSourceRun(l.baselineRun, samplingWeights(cfg), 'baseline run');
  try {
    return createUNet(unetOf(src.config, `${l.baselineRun}/config.json`).config, src.params);
  } finally {
    tf.dispose(Object.values(src.params));
  }
}

export interface ScoredOperator extends PruningOperator {
  rank: number;
  score: number;
  /** The operator's score under each way of combining the mean and std changes. */
  scores: Record<(typeof COMBINES)[number], number>;
}

export interface LdPrunerScores {
  combine: (typeof COMBINES)[number];
  distance: string;
  operatorSet: 'blocks' | 'all';
  noises: number;
  samplerSteps: number;
  /** Least significant first under `combine`. */
  operators: ScoredOperator[];
}

/** Stage 2: LD-Pruner operator scores (all four combinations) and BK-SDM block importance of the baseline. */
export async function scoreStage(l: StudyLayout, opts: StageOptions = {}): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const cfg = loadBaselineConfig(l);
  const s = loadScoreSettings(l);
  await initBackend();
  mkdirSync(l.scoresDir, { recursive: true });
  const unet = await loadBaselineUNet(l, cfg);
  try {
    const { sampleSize: n, inChannels: c } = unet.config;
    const sampler = makeSampler({ ...cfg.sample, steps: s.ldPruner.samplerSteps }, cfg.diffusion);
    const noise = new Rng(s.ldPruner.seed).normalTensor([s.ldPruner.noises, n, n, c]) as tf.Tensor4D;
    let ranking: LdPrunerRanking;
    try {
      log(`LD-Pruner: sampling ${s.ldPruner.noises} latents with every operator replaced`);
      const operators = unetOperators(unet.config).filter((o) => s.ldPruner.operators === 'all' || o.kind === 'resnet' || o.kind === 'transformer');
      ranking = await ldPrunerRanking(unet, { sampler, noise, seed: s.ldPruner.seed, operators, score: { combine: s.ldPruner.combine, distance: s.ldPruner.distance } });
    } finally {
      noise.dispose();
    }
    const byCombine = Object.fromEntries(
      COMBINES.map((combine) => [combine, new Map(rescoreLdPruner(ranking, { combine, distance: s.ldPruner.distance }).rows.map((r) => [r.operator.id, r.score]))]),
    );
    const scores: LdPrunerScores = {
      combine: s.ldPruner.combine,
      distance: s.ldPruner.distance,
      operatorSet: s.ldPruner.operators,
      noises: s.ldPruner.noises,
      samplerSteps: s.ldPruner.samplerSteps,
      operators: ranking.rows.map((r, i) => ({
        ...r.operator,
        rank: i + 1,
        score: r.score,
        scores: Object.fromEntries(COMBINES.map((k) => [k, byCombine[k]!.get(r.operator.id)!])) as ScoredOperator['scores'],
      })),
    };
    await writeJson(join(l.scoresDir, 'ld-pruner.json'), scores);
    await writeFileAtomic(join(l.scoresDir, 'ld-pruner.md'), ldPrunerMarkdown(scores));

    log(`BK-SDM block importance: ε-MSE proxy on ${s.blockImportance.images} test images`);
    const test = (await datasetFor(cfg.data, log)).test;
    const count = Math.min(s.blockImportance.images, test.n);
    const size = test.height * test.width * test.channels;
    const images = tf.tensor4d(test.images.subarray(0, count * size), [count, test.height, test.width, test.channels]);
    const proxy = denoisingProxy({ images, schedule: scheduleFor(cfg.diffusion), timesteps: s.blockImportance.timesteps, seed: s.blockImportance.seed });
    try {
      const importance = await blockImportance(unet, proxy.quality);
      const rows = importance.rows.map((r) => ({ label: r.label, group: r.group, quality: r.quality, degradation: r.degradation, params: r.params }));
      await writeJson(join(l.scoresDir, 'block-importance.json'), { baseline: importance.baseline, baselineParams: importance.baselineParams, rows });
      await writeFileAtomic(join(l.scoresDir, 'block-importance.md'), blockImportanceMarkdown(importance.baseline, rows));
    } finally {
      proxy.dispose();
      images.dispose();
    }
  } finally {
    unet.dispose();
  }
  if (opts.tracker) {
    const run = await opts.tracker.startRun({ experimentName: l.name, runName: 'score', tags: tags(cfg, 'ld-pruner+bk-sdm', 'baseline') });
    try {
      await run.logParams({ ...flat('ld_pruner', s.ldPruner), ...flat('block_importance', s.blockImportance) });
      for (const f of readdirSync(l.scoresDir)) await run.logArtifact(join(l.scoresDir, f), 'scores');
      await run.end('FINISHED');
    } catch (e) {
      await run.end('FAILED');
      throw e;
    }
  }
}

const flat = (prefix: string, o: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [`${prefix}.${k}`, typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v)]));

const g = (x: number) => (Math.abs(x) >= 1e-3 || x === 0 ? x.toFixed(4) : x.toExponential(2));

function ldPrunerMarkdown(s: LdPrunerScores): string {
  const head = `# LD-Pruner operator scores\n\nRanked by \`${s.combine}\` (distance \`${s.distance}\`) over ${s.noises} latents, ${s.samplerSteps} sampler steps, operators: ${s.operatorSet}; lowest = least significant.\n\n`;
  const cols = `| rank | operator | kind | exact | ${COMBINES.join(' | ')} |\n|---|---|---|---|${COMBINES.map(() => '---').join('|')}|\n`;
  return head + cols + s.operators.map((o) => `| ${o.rank} | \`${o.id}\` | ${o.kind} | ${o.exact ? 'yes' : 'no'} | ${COMBINES.map((k) => g(o.scores[k])).join(' | ')} |`).join('\n') + '\n';
}

function blockImportanceMarkdown(baseline: number, rows: { label: string; group: string; quality: number; degradation: number; params: number }[]): string {
  return (
    `# BK-SDM block importance (no retraining)\n\nε-MSE proxy of the unmodified model: ${g(baseline)}. Degradation = proxy − that; least important first.\n\n` +
    '| block | group | proxy | degradation | params |\n|---|---|---|---|---|\n' +
    rows.map((r) => `| ${r.label} | ${r.group} | ${g(r.quality)} | ${g(r.degradation)} | ${r.params.toLocaleString('en-US')} |`).join('\n') +
    '\n'
  );
}

/** What the prune stage decided for a variant: recorded beside its retraining config. */
export interface VariantMeta {
  id: string;
  method: Variant['method'];
  init: 'preserved' | 'scratch';
  retrain: 'distill' | 'finetune';
  spec: UNetPruningSpec;
  /** Parameters zeroed (operators replaced by the identity), names in the baseline model. */
  zeroed: string[];
  /** LD-Pruner: the pruned operators, least significant first. */
  operators: string[];
  k: number | null;
}

/** A ranking as pruneLowest reads it (order and operators; the latent statistics are not needed to prune). */
function rankingFromScores(s: LdPrunerScores): LdPrunerRanking {
  const none: LatentStats = { mean: new Float64Array(0), std: new Float64Array(0) };
  const op = ({ rank: _r, score: _s, scores: _c, ...o }: ScoredOperator): PruningOperator => o;
  return { original: none, rows: s.operators.map((o) => ({ operator: op(o), score: o.score, stats: none })) };
}

function variantPlan(baseline: UNet, scores: LdPrunerScores | null, v: Variant, where: string): Omit<VariantMeta, 'id'> {
  if (v.method === 'bk-sdm') return { method: v.method, init: 'preserved', retrain: 'distill', spec: v.spec, zeroed: [], operators: [], k: null };
  if (!scores) throw new StudyError(`${where}: LD-Pruner variants need the score stage's ld-pruner.json`);
  if (v.k > scores.operators.length) throw new StudyError(`${where}.k: ${v.k} exceeds the ${scores.operators.length} scored operators`);
  const pruned = pruneLowest(baseline, rankingFromScores(scores), v.k);
  pruned.unet.dispose();
  return { method: v.method, init: v.init, retrain: 'finetune', spec: pruned.spec, zeroed: pruned.zeroed, operators: pruned.operators.map((o) => o.id), k: v.k };
}

/** The trainer config that retrains a variant; validated, so a bad spec fails here naming the variant. */
function retrainConfig(l: StudyLayout, cfg: TrainConfig, settings: ReturnType<typeof loadVariantSettings>, meta: VariantMeta, where: string): TrainConfig {
  const weights = samplingWeights(cfg);
  const { steps, batchSize, lr, warmupSteps, heldoutExamples } = settings.retrain;
  const raw = {
    ...cfg,
    name: l.name,
    model: { ...cfg.model, prune: meta.spec, ...(meta.zeroed.length ? { zero: meta.zeroed } : {}) },
    train: { ...cfg.train, steps, batchSize, lr, warmupSteps },
    eval: { ...cfg.eval, heldoutExamples: heldoutExamples ?? cfg.eval.heldoutExamples },
    ...(meta.init === 'preserved' ? { init: { from: l.baselineRun, weights } } : {}),
    ...(meta.retrain === 'distill' ? { distill: { teacher: l.baselineRun, weights, ...settings.distill } } : {}),
  };
  try {
    const parsed = parseTrainConfig(raw, where);
    unetOf(parsed, where);
    return parsed;
  } catch (e) {
    throw new StudyError(`${where}: ${(e as Error).message}`);
  }
}

/** A run directory holding only weights (step 0, model = ema): what `evaluate` reads. Not resumable. */
async function writeWeightsRun(dir: string, cfg: TrainConfig, weights: Record<string, tf.Tensor>, meta: VariantMeta): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  const ckpt = join(dir, 'checkpoints', 'step-0000000');
  mkdirSync(ckpt, { recursive: true });
  const metadata = { format: 'difflab-weights', step: '0', variant: meta.id };
  await writeSafetensors(join(ckpt, 'model.safetensors'), weights, metadata);
  await writeSafetensors(join(ckpt, 'ema.safetensors'), weights, metadata);
  await writeJson(join(ckpt, 'state.json'), { step: 0, weightsOnly: true });
  await writeFileAtomic(join(dir, 'checkpoints', 'latest'), 'step-0000000\n');
  await writeJson(join(dir, 'config.json'), cfg);
  await writeJson(join(dir, 'variant.json'), meta);
}

/**
 * Stage 3: turns variants.json into one retraining config per variant (configs/<id>.json + <id>.meta.json) and,
 * for variants that keep the baseline's weights, the pruned model before retraining (pruned/<id>/).
 */
export async function applyStage(l: StudyLayout, opts: StageOptions = {}): Promise<VariantMeta[]> {
  const cfg = loadBaselineConfig(l);
  const settings = loadVariantSettings(l);
  await initBackend();
  const needScores = settings.variants.some((v) => v.method === 'ld-pruner');
  const scores = needScores
    ? readJsonFile<LdPrunerScores>(join(l.scoresDir, 'ld-pruner.json'), `run the score stage first (difflab study unet-pruning score --preset ${l.preset})`)
    : null;
  rmSync(l.configsDir, { recursive: true, force: true });
  rmSync(l.prunedDir, { recursive: true, force: true });
  mkdirSync(l.configsDir, { recursive: true });
  const baseline = await loadBaselineUNet(l, cfg);
  const metas: VariantMeta[] = [];
  try {
    for (const [i, v] of settings.variants.entries()) {
      const where = `variants.json variants[${i}] '${v.id}'`;
      const meta: VariantMeta = { id: v.id, ...variantPlan(baseline, scores, v, where) };
      const rc = retrainConfig(l, cfg, settings, meta, where);
      await writeJson(join(l.configsDir, `${v.id}.json`), rc);
      await writeJson(join(l.configsDir, `${v.id}.meta.json`), meta);
      metas.push(meta);
      if (meta.init !== 'preserved') continue;
      const weights = await initialWeights(rc);
      try {
        const dir = join(l.prunedDir, v.id);
        await writeWeightsRun(dir, { ...rc, init: undefined, distill: undefined }, weights, meta);
        if (opts.tracker) {
          const count = countUNet(unetOf(rc, where).config);
          const run = await opts.tracker.startRun({ experimentName: l.name, runName: `${v.id}-pruned`, tags: { ...tags(cfg, v.method, v.id), 'difflab.run_dir': dir } });
          await run.logParams({ model_params: count.params, macs_per_step: count.macs, spec: JSON.stringify(meta.spec), zeroed: meta.zeroed.length, k: meta.k ?? 0 });
          await run.end('FINISHED');
        }
      } finally {
        tf.dispose(Object.values(weights));
      }
    }
  } finally {
    baseline.dispose();
  }
  await writeJson(join(l.configsDir, 'order.json'), metas.map((m) => m.id));
  return metas;
}

function variantIds(l: StudyLayout): string[] {
  return readJsonFile<string[]>(join(l.configsDir, 'order.json'), `run the apply stage first (difflab study unet-pruning apply --preset ${l.preset})`);
}

function readMeta(l: StudyLayout, id: string): VariantMeta {
  return readJsonFile<VariantMeta>(join(l.configsDir, `${id}.meta.json`), `unknown variant '${id}'; valid: ${variantIds(l).join(', ')}`);
}

/** Stage 4: retrains every variant (or only `only`) from its config: distillation (BK-SDM) or finetuning / scratch (LD-Pruner). */
export async function retrainStage(l: StudyLayout, opts: StageOptions & { only?: string } = {}): Promise<void> {
  const ids = variantIds(l);
  if (opts.only !== undefined && !ids.includes(opts.only)) throw new StudyError(`--variant: unknown variant '${opts.only}'; valid: ${ids.join(', ')}`);
  for (const id of opts.only !== undefined ? [opts.only] : ids) {
    const meta = readMeta(l, id);
    const path = join(l.configsDir, `${id}.json`);
    const cfg = parseTrainConfig(readJsonFile(path, 'run the apply stage first'), path);
    const runDir = join(l.retrainedDir, id);
    rmSync(runDir, { recursive: true, force: true });
    opts.log?.(`retraining ${id} (${meta.method}, ${meta.retrain}, ${meta.init} weights)`);
    const sinks = opts.tracker ? [new TrackerSink(opts.tracker, l.name, `${id}-retrain`, runDir, tags(cfg, meta.method, id, { init: meta.init, retrain: meta.retrain }))] : [];
    await train(cfg, { runDir, sinks, progressStream: opts.progressStream });
  }
}

/**
 * Stage 5: the quality metric before/after retraining (FID-FMNIST for an image study, FAD for an audio one: see
 * quality.ts), params, MACs and measured latency of the baseline and every variant.
 */
export async function evalStage(l: StudyLayout, opts: StageOptions & { featureNet?: string; embedder?: string } = {}): Promise<PruningRow[]> {
  const ev = loadEvalSettings(l);
  const log = opts.log ?? (() => undefined);
  const backend = await initBackend();
  const scorer = await openQualityScorer(loadBaselineConfig(l), {
    samplesPerClass: ev.samplesPerClass,
    batchSize: ev.batchSize,
    experimentName: l.name,
    log,
    ...(opts.tracker ? { tracker: opts.tracker } : {}),
    ...(opts.featureNet !== undefined ? { featureNet: opts.featureNet } : {}),
    ...(opts.embedder !== undefined ? { embedder: opts.embedder } : {}),
  });
  try {
    return await evalRows(l, ev, scorer, backend, log);
  } finally {
    scorer.dispose();
  }
}

async function evalRows(l: StudyLayout, ev: ReturnType<typeof loadEvalSettings>, scorer: QualityScorer, backend: BackendInfo, log: (line: string) => void): Promise<PruningRow[]> {
  rmSync(l.evalDir, { recursive: true, force: true });
  mkdirSync(l.evalDir, { recursive: true });
  const heldout = (runDir: string) => readJsonFile<{ heldout_loss: number }>(join(runDir, 'eval.json'), 'the training run did not finish').heldout_loss;
  type Measured = Omit<PruningRow, 'latency_ms' | 'load_avg'> & { arch: UNetConfig };
  const row = (variant: string, cfg: TrainConfig, fields: Pick<PruningRow, 'method' | 'init' | 'retrain' | 'spec' | 'zeroed' | 'k'>, pruned: number | null, retrained: number | null, loss: number | null, samples: number, order: number): Measured => {
    const arch = unetOf(cfg, variant).config;
    const count = countUNet(arch);
    return { order, variant, ...fields, params: count.params, macs: count.macs, thop_macs: count.thopMacs, metric: scorer.metric.key, quality_pruned: pruned, quality_retrained: retrained, heldout_loss: loss, quality_samples: samples, backend: backend.name, arch };
  };
  const measured: Measured[] = [];
  const baseCfg = parseTrainConfig(readJsonFile(join(l.baselineRun, 'config.json'), 'run the baseline stage first'), l.baselineRun);
  const base = await scorer.score(l.baselineRun, samplingWeights(baseCfg));
  measured.push(row('baseline', baseCfg, { method: 'baseline', init: 'trained', retrain: 'none', spec: '', zeroed: 0, k: null }, base.value, null, heldout(l.baselineRun), base.samples, 0));
  for (const [i, id] of variantIds(l).entries()) {
    const meta = readMeta(l, id);
    const runDir = join(l.retrainedDir, id);
    const cfg = parseTrainConfig(readJsonFile(join(runDir, 'config.json'), `run the retrain stage first (difflab study unet-pruning retrain --preset ${l.preset})`), runDir);
    const prunedDir = join(l.prunedDir, id);
    const before = existsSync(prunedDir) ? (await scorer.score(prunedDir, 'ema')).value : null;
    const after = await scorer.score(runDir, samplingWeights(cfg));
    const fields = { method: meta.method, init: meta.init, retrain: meta.retrain, spec: JSON.stringify(meta.spec), zeroed: meta.zeroed.length, k: meta.k };
    measured.push(row(id, cfg, fields, before, after.value, heldout(runDir), after.samples, i + 1));
  }
  // Latency last and back to back, after one untimed pass over the first model, so every model is timed in a warm process.
  measureLatency(measured[0]!.arch, { ...ev.latency, repeats: 1 });
  const rows: PruningRow[] = measured.map(({ arch, ...r }) => {
    log(`latency of ${r.variant}`);
    const latency = measureLatency(arch, ev.latency);
    return {
      ...r,
      latency_ms: Object.fromEntries(latency.map((x) => [String(x.batch), x.medianMs])),
      load_avg: Math.max(...latency.map((x) => Math.max(x.loadBefore, x.loadAfter))),
    };
  });
  for (const r of rows) await writeJson(join(l.evalDir, `${r.variant}.json`), pruningRowRecord(r));
  await writeJson(join(l.evalDir, 'machine.json'), {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    backend: backendInfo()?.name ?? backend.name,
    backend_detail: backend.detail,
  });
  return rows;
}
