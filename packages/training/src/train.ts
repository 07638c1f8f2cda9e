import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng, backendInfo, bf16Unavailable, initBackend, onednnUnavailable, setMatmulLibrary, setMatmulPrecision, tf, writeFileAtomic } from '@difflab/core-tensor';
import {
  ConfigError,
  type TrainConfig,
  CheckpointError,
  acquireRunLock,
  latestCheckpointDir,
  removeAbandonedCheckpointTemps,
  loadCheckpoint,
  saveCheckpoint,
  type TrainerState,
  DEFAULT_HELDOUT,
  heldOutLoss,
  MetricsTable,
  Progress,
  startPhase,
  type RunSink,
  type RunStatus,
  withWeights,
  writeClassGrid,
  createRunDenoiser,
  ADAPTER_FILE,
  fineTuneMetadata,
  fineTuneParams,
  verifyFineTuneBase,
  writeAdapterFile,
  scheduleFor,
  datasetFor,
  FloatBatchIterator,
  initialWeights,
  samplerConfigFor,
  processFor,
} from '@difflab/runs';
import { flattenParams } from '@difflab/tracking';
import { objectiveFor } from './objectives/index.js';
import { createTrainer, trainStep } from './train-step.js';

export interface TrainOptions {
  /** Run directory (created); holds config, checkpoints, metrics.parquet and samples. */
  runDir: string;
  /** Continue from the run directory's latest checkpoint. */
  resume?: boolean;
  /** Stop early (SIGINT): a checkpoint is written and the run ends KILLED. */
  signal?: AbortSignal;
  sinks?: RunSink[];
  /** Progress output; defaults to stderr. */
  progressStream?: NodeJS.WriteStream;
  /** Stop after this step even if config.train.steps is larger (tests use it to split a run). */
  stopAtStep?: number;
}

export interface TrainResult {
  status: RunStatus;
  step: number;
  runDir: string;
  finalLoss: number;
  heldOutLoss?: number;
  samplePath?: string;
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

const KEEP_CHECKPOINTS = 2;

export function configHash(cfg: TrainConfig): string {
  return createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 16);
}

/** The learning rate of optimizer step `step` (1-based): linear warm-up, then constant or cosine decay to 0 at `steps`. */
export function learningRate(cfg: TrainConfig['train'], step: number): number {
  if (step < cfg.warmupSteps) return (cfg.lr * step) / cfg.warmupSteps;
  if (cfg.lrSchedule === 'constant') return cfg.lr;
  const decaySteps = cfg.steps - cfg.warmupSteps;
  if (decaySteps <= 0) return cfg.lr;
  return 0.5 * cfg.lr * (1 + Math.cos((Math.PI * (step - cfg.warmupSteps)) / decaySteps));
}

/** The EMA decay of update `n` (1-based). */
export function emaDecayAt(cfg: TrainConfig['train'], n: number): number {
  return cfg.emaWarmup ? Math.min(cfg.emaDecay, (1 + n) / (10 + n)) : cfg.emaDecay;
}

/**
 * Trains a diffusion model (DiT or U-Net preset) on `data.dataset` (Fashion-MNIST or spoken-digits log-mel images). Deterministic given the config's seed:
 * model init, batch order, timesteps, noise and label dropout each draw from seeded generators
 * whose states are checkpointed, so a resumed run continues bit-exactly.
 */
export async function train(cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const runDir = resolve(opts.runDir);
  const notice = (line: string) => (opts.progressStream ?? process.stderr).write(`${line}\n`);
  // The run directory is this process's until it ends: a second writer is refused before it writes anything.
  const lock = acquireRunLock(runDir, { warn: notice });
  // Every tensor a run allocates is released when it ends, however it ends (tests run many in one process).
  // Variables outlive scopes, so the model registers its own disposal.
  const cleanup: (() => void)[] = [];
  tf.engine().startScope();
  try {
    removeAbandonedCheckpointTemps(runDir);
    return await trainInScope(cfg, { ...opts, runDir }, cleanup, notice);
  } finally {
    for (const fn of cleanup) fn();
    tf.engine().endScope();
    lock.release();
    // Refused before writing (e.g. --resume of a directory that did not exist): leave no empty directory behind.
    if (lock.createdDir) removeIfEmpty(runDir);
  }
}

async function trainInScope(cfg: TrainConfig, opts: TrainOptions, cleanup: (() => void)[], notice: (line: string) => void): Promise<TrainResult> {
  const runDir = opts.runDir;
  const sinks = opts.sinks ?? [];
  const hash = configHash(cfg);
  const resumeDir = opts.resume ? latestCheckpointDir(runDir) : null;
  if (opts.resume && !resumeDir) throw new CheckpointError(`--resume: ${runDir} has no checkpoint to resume from`);
  if (!opts.resume && existsSync(join(runDir, 'checkpoints', 'latest'))) {
    throw new CheckpointError(`${runDir} already holds a run; pass --resume to continue it or choose another --out`);
  }

  const backend = await initBackend();
  if (cfg.train.precision === 'bf16' && cfg.train.matmul === 'blas') {
    throw new ConfigError("train.matmul: 'blas' cannot compute train.precision 'bf16' (bf16 products always use oneDNN); drop train.matmul or set it to 'onednn'");
  }
  if (cfg.train.precision === 'bf16') {
    const why = bf16Unavailable();
    if (why) throw new ConfigError(`train.precision: 'bf16' is unavailable here: ${why}; use 'fp32' (the default)`);
    setMatmulPrecision('bf16');
    cleanup.push(() => setMatmulPrecision('fp32'));
  }
  if (cfg.train.matmul === 'onednn') {
    const why = onednnUnavailable();
    if (why) throw new ConfigError(`train.matmul: 'onednn' is unavailable here: ${why}; use 'blas' (the default)`);
    setMatmulLibrary('onednn');
    cleanup.push(() => setMatmulLibrary('blas'));
  }
  const schedule = scheduleFor(cfg.diffusion);
  const loading = startPhase(`loading ${cfg.data.dataset}`, opts.progressStream);
  const data = await datasetFor(cfg.data);
  loading.done(data.train.n + data.test.n, 'images');
  const imageSize = data.train.height;

  const root = new Rng(cfg.seed);
  const model = createRunDenoiser(cfg, root.fork());
  cleanup.push(() => model.dispose());
  if (model.inputSize !== imageSize || data.train.width !== imageSize || model.inChannels !== data.train.channels) {
    throw new ConfigError(
      `model.preset '${cfg.model.preset}' expects ${model.inputSize}×${model.inputSize}×${model.inChannels} input, but the data is ${imageSize}×${data.train.width}×${data.train.channels} (data.dataset=${cfg.data.dataset}, data.pad32=${cfg.data.pad32}); pick a matching preset (e.g. UNet-SpokenDigits-S for spoken-digits-mel) or flip data.pad32`,
    );
  }
  // A fine-tune's denoiser holds its base already (createRunDenoiser); a U-Net starts from init.from here.
  if (cfg.init && !cfg.finetune && !resumeDir) {
    const start = await initialWeights(cfg);
    for (const [k, v] of Object.entries(model.params)) v.assign(start[k]!);
    tf.dispose(Object.values(start));
  }
  const objective = await objectiveFor(cfg, model);
  cleanup.push(() => objective.dispose());
  let trainRng = root.fork();
  const dataSeed = root.nextUint32();
  const trainer = createTrainer(model, objective, schedule, cfg.train);
  cleanup.push(() => trainer.dispose());
  const { optimizer, ema } = trainer;
  let iterator: FloatBatchIterator;
  let step = 0;
  const metrics = new MetricsTable(join(runDir, 'metrics.parquet'));

  if (resumeDir) {
    const ckpt = await loadCheckpoint(resumeDir, { warn: notice });
    const release = () => tf.dispose([...Object.values(ckpt.params), ...Object.values(ckpt.ema), ...Object.values(ckpt.optimizer.tensors), ...Object.values(ckpt.objective ?? {})]);
    if (ckpt.state.configHash !== hash) {
      release();
      throw new CheckpointError(`${resumeDir} was written with a different config (hash ${ckpt.state.configHash}, now ${hash}); resume with the run's own config.json`);
    }
    try {
      if (model.fineTune) verifyFineTuneBase(ckpt.metadata ?? {}, model.fineTune.base, join(resumeDir, 'model.safetensors'));
    } catch (e) {
      release();
      throw e;
    }
    for (const [k, v] of Object.entries(ckpt.params)) model.params[k]!.assign(v);
    optimizer.loadState(ckpt.optimizer);
    ema.loadState({ decay: ckpt.emaDecay, tensors: ckpt.ema });
    const objectiveWeights = loadObjectiveWeights(objective.trainable ?? {}, ckpt.objective ?? {}, resumeDir);
    release();
    if (objectiveWeights) throw objectiveWeights;
    trainRng = Rng.fromState(ckpt.state.trainRng);
    iterator = new FloatBatchIterator(data.train, cfg.train.batchSize, { state: ckpt.state.data });
    step = ckpt.state.step;
    await metrics.loadUpTo(step);
  } else {
    iterator = new FloatBatchIterator(data.train, cfg.train.batchSize, { seed: dataSeed });
  }

  // Compute accounting as in the scaling-law papers: forward multiply-adds per example from the
  // analytic counter, ×3 for forward + backward; C = that × examples seen.
  const flopsPerExample = 3 * model.flopsFwdPerExample;
  const params = {
    ...flattenParams(cfg),
    architecture: model.architecture,
    model_params: model.paramCount,
    flops_fwd_per_example: model.flopsFwdPerExample,
    flops_train_per_example: flopsPerExample,
    ...flattenParams({ model: model.config }),
    backend: backend.name,
    backend_detail: backend.detail,
    git_commit: gitCommit(),
    seed: cfg.seed,
    config_hash: hash,
    data_source: data.source,
    ...(cfg.init ? { init_from: cfg.init.from } : {}),
    ...(model.fineTune ? fineTuneParams(model.fineTune) : {}),
    objective: objective.name,
    ...objective.params,
    ...flattenParams({ sampler: samplerConfigFor(cfg.sample, cfg.diffusion, model.numClasses) }),
  };
  await writeFileAtomic(join(runDir, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`);
  await writeFileAtomic(join(runDir, 'params.json'), `${JSON.stringify(params, null, 2)}\n`);
  for (const s of sinks) await s.start(params, { fromStep: step, recorded: metrics.recorded });
  for (const s of sinks) await s.artifact(join(runDir, 'config.json'), 'config');

  const totalSteps = Math.min(cfg.train.steps, opts.stopAtStep ?? Infinity);
  const progress = new Progress(totalSteps, step, cfg.log.every, opts.progressStream);
  const t0 = performance.now() - (metrics.lastWallTime() ?? 0) * 1000;
  let lastLoss = NaN;
  let lastGood: string | null = resumeDir;

  const checkpoint = async () => {
    const state: TrainerState = { step, trainRng: trainRng.getState(), data: iterator.getState(), configHash: hash };
    // Metrics first: killed between the two writes, metrics.parquet holds more rows than the checkpoint
    // (a resume drops them), never fewer.
    await metrics.flush();
    lastGood = await saveCheckpoint(
      runDir,
      {
        state,
        params: model.params,
        ema: ema.weights,
        emaDecay: ema.decay,
        optimizer: optimizer.getState(),
        objective: objective.trainable ?? {},
        ...(model.fineTune ? { metadata: fineTuneMetadata(model.fineTune) } : {}),
      },
      KEEP_CHECKPOINTS,
    );
    for (const s of sinks) await s.artifact(lastGood, 'checkpoint');
  };
  const finish = async (status: RunStatus, extra: Partial<TrainResult> = {}): Promise<TrainResult> => {
    await metrics.flush();
    for (const s of sinks) await s.artifact(metrics.path, 'metrics');
    for (const s of sinks) await s.end(status);
    return { status, step, runDir, finalLoss: lastLoss, ...extra };
  };

  try {
    while (step < totalSteps) {
      // A step is synchronous tfjs work: yield once per step so a SIGINT/SIGTERM handler can run.
      await new Promise<void>((done) => setImmediate(done));
      if (opts.signal?.aborted) {
        await checkpoint();
        return await finish('KILLED');
      }
      const stepStart = performance.now();
      const batch = iterator.next();
      const lr = learningRate(cfg.train, step + 1);
      const { loss: lossValue, gradNorm, terms, updated } = trainStep(trainer, batch, { lr, emaDecay: emaDecayAt(cfg.train, step + 1), rng: trainRng });
      if (!updated) {
        throw new NonFiniteLossError(
          `loss became ${lossValue} (grad norm ${gradNorm}) at step ${step + 1}; weights were not updated. ` +
            `Last good checkpoint: ${lastGood ?? 'none (no checkpoint written yet)'}. Lower train.lr, raise train.warmupSteps or set train.gradClip.`,
        );
      }
      step++;
      lastLoss = lossValue;
      const now = performance.now();
      const row = {
        step,
        loss: lossValue,
        lr,
        grad_norm: gradNorm,
        examples_per_sec: cfg.train.batchSize / ((now - stepStart) / 1000),
        wall_time: (now - t0) / 1000,
        ...terms,
      };
      metrics.add(row);
      const { step: _s, ...values } = row;
      for (const s of sinks) s.metrics(step, values, Date.now());
      progress.update(step, { loss: lossValue, lr });
      if (step % cfg.checkpoint.every === 0 || step === totalSteps) await checkpoint();
      if (cfg.sample.every > 0 && step % cfg.sample.every === 0 && step < totalSteps) {
        await writeSamples(step);
      }
    }
  } catch (e) {
    await finish(e instanceof Error && e.name === 'AbortError' ? 'KILLED' : 'FAILED');
    throw e;
  }

  async function writeSamples(atStep: number): Promise<string> {
    const path = join(runDir, 'samples', `step-${String(atStep).padStart(7, '0')}.png`);
    const run = () => writeClassGrid(path, model, cfg.diffusion, cfg.sample);
    const images = (model.numClasses ?? 10) * cfg.sample.perClass;
    const sampling = startPhase(`sampling the grid at step ${atStep} (${images} images, ${samplerConfigFor(cfg.sample, cfg.diffusion).kind} ${cfg.sample.steps} steps)`, opts.progressStream);
    if (cfg.sample.useEma) withWeights(model, ema.weights, run);
    else run();
    sampling.done(images, 'images');
    for (const s of sinks) await s.artifact(path, 'sample-grid');
    return path;
  }

  const samplePath = await writeSamples(step);
  const heldoutOpts = { ...DEFAULT_HELDOUT, examples: cfg.eval.heldoutExamples };
  const measure = () => heldOutLoss((x, t, y) => model.forward(x, t, y), data.test, processFor(cfg.diffusion), heldoutOpts).mean;
  const heldCount = Math.min(heldoutOpts.examples, data.test.n);
  const heldPhase = startPhase(`held-out loss on ${heldCount} test images`, opts.progressStream);
  const held = cfg.sample.useEma ? withWeights(model, ema.weights, measure) : measure();
  heldPhase.done(heldCount, 'examples');
  for (const s of sinks) s.metrics(step, { heldout_loss: held }, Date.now());
  // What a fine-tune ships on top of its base: the trained tensors the run samples with.
  let adapter: { method: string; trainable_params: number; file: string; bytes: number } | undefined;
  if (model.fineTune) {
    const kind = cfg.sample.useEma ? 'ema' : 'raw';
    const path = join(runDir, ADAPTER_FILE);
    const bytes = await writeAdapterFile(path, kind === 'ema' ? ema.weights : model.params, model.fineTune, { step, kind });
    adapter = { method: model.fineTune.method, trainable_params: model.fineTune.trainableCount, file: ADAPTER_FILE, bytes };
    for (const s of sinks) await s.artifact(path, 'adapter');
  }
  const evalPath = join(runDir, 'eval.json');
  const examplesSeen = step * cfg.train.batchSize;
  const evaluation = {
    step,
    heldout_loss: held,
    heldout: heldoutOpts,
    weights: cfg.sample.useEma ? 'ema' : 'raw',
    examples_seen: examplesSeen,
    train_compute: examplesSeen * flopsPerExample,
    backend: backendInfo()?.name,
    ...(adapter ? { finetune: adapter } : {}),
  };
  await writeFileAtomic(evalPath, `${JSON.stringify(evaluation, null, 2)}\n`);
  for (const s of sinks) await s.artifact(evalPath, 'evaluation');
  return finish('FINISHED', { heldOutLoss: held, samplePath });
}

/** Assigns an objective's saved weights (objective.safetensors); the error, if any, is returned so the caller can free the checkpoint first. */
function loadObjectiveWeights(into: Readonly<Record<string, tf.Variable>>, saved: Record<string, tf.Tensor>, dir: string): CheckpointError | null {
  const want = Object.keys(into).sort(), have = Object.keys(saved).sort();
  if (want.join('\n') !== have.join('\n')) {
    return new CheckpointError(
      `${dir}: the objective trains [${want.join(', ') || 'no weights'}] but the checkpoint's objective.safetensors holds [${have.join(', ') || 'nothing'}]; resume with the run's own config.json`,
    );
  }
  for (const [k, v] of Object.entries(into)) {
    if (!tf.util.arraysEqual(v.shape, saved[k]!.shape)) return new CheckpointError(`${dir}: objective weight '${k}' is [${saved[k]!.shape}] in the checkpoint but [${v.shape}] now`);
  }
  for (const [k, v] of Object.entries(into)) v.assign(saved[k]!);
  return null;
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: the run wrote something, which stays.
  }
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
