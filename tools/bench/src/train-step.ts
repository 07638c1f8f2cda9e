import { Rng, initBackend, nativeMemoryFootprint, releaseNativeMemory, resetNativePeakMemory, setMatmulLibrary, setMatmulPrecision, tf, type BackendName, type MatmulLibrary } from '@difflab/core-tensor';
import { countDiT, linearSchedule, type DiTConfig } from '@difflab/models';
import { createDenoiser, resolveModelConfig, type FloatBatch, type ModelConfigInput } from '@difflab/runs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTrainer, epsilonObjective, flowObjective, trainStep, type FlowObjectiveOptions } from '@difflab/training';
import { runPeer } from './python-peer.js';

/** The precision of the step's matrix products: fp32, or bf16 operands with fp32 accumulation on both sides. */
export type Precision = 'fp32' | 'bf16';

/** One benchmark row: a named DiT config at a batch size. */
export interface TrainStepCase {
  config: string;
  batch: number;
}

export interface StepBudget {
  /** Untimed steps first (kernel set-up, wasm compilation, allocator warm-up). */
  warmup: number;
  /** Timed steps: at least minSteps, and keep going until minSeconds have passed. */
  minSteps: number;
  minSeconds: number;
}

export interface EngineResult {
  engine: string;
  /** Trainable parameters of the model the engine trained. */
  params: number;
  steps: number;
  stepMs: number;
  examplesPerSec: number;
  /** Mean training loss over the timed steps (a sanity check that engines train the same thing). */
  loss?: number;
  /**
   * tfjs engines: peak tensor bytes during a step. native: distinct buffers plus its buffer pool over
   * the timed steps; wasm/cpu: tf.profile's peakBytes of the first step (which counts views and
   * reshapes again, so overstates).
   */
  peakBytes?: number;
  /** PyTorch: the thread count reported (the fastest tried) and examples/s at each count tried. */
  threads?: number;
  byThreads?: Record<number, number>;
  /** native fp32: the library of the products reported (the faster tried) and examples/s with each library tried. */
  matmul?: MatmulLibrary;
  byMatmul?: Partial<Record<MatmulLibrary, number>>;
  /** native: bytes held before a timed step (weights, optimizer moments, inputs, pool): the part that does not grow with the batch. */
  baseBytes?: number;
}

/** The preset the dit-scaling sweep sizes (`w<width>-d<depth>`) vary: the small Fashion-MNIST DiT. */
export const SWEEP_BASE_PRESET = 'DiT-FMNIST-S/4';

/** The benchmark config name of the README's main job: experiments/dit-fmnist/config.json's model and objective. */
export const MAIN_JOB = 'main-job';
const MAIN_JOB_FILE = fileURLToPath(new URL('../../../experiments/dit-fmnist/config.json', import.meta.url));

function mainJobConfig(): { model: ModelConfigInput; diffusion?: { process?: string }; train: FlowObjectiveOptions } {
  return JSON.parse(readFileSync(MAIN_JOB_FILE, 'utf8'));
}

/**
 * The objective a benchmark config trains: the main job's rectified flow (its t sampling and velocity-direction
 * weight), else ε-prediction (DiT's hybrid loss when the model learns σ). The peer receives the same description.
 */
export function benchObjective(config: string): { kind: 'epsilon' } | ({ kind: 'flow' } & Required<FlowObjectiveOptions>) {
  if (config !== MAIN_JOB) return { kind: 'epsilon' };
  const cfg = mainJobConfig();
  if (cfg.diffusion?.process !== 'flow') throw new Error(`${MAIN_JOB_FILE}: the benchmark expects diffusion.process 'flow', got '${cfg.diffusion?.process}'`);
  const t = cfg.train;
  return { kind: 'flow', timeSampling: t.timeSampling ?? 'uniform', timeMean: t.timeMean ?? 0, timeStd: t.timeStd ?? 1, velocityDirectionWeight: t.velocityDirectionWeight ?? 0 };
}

/**
 * The model section of a benchmark config name: `main-job` (the README's main job's model), a DiT preset
 * (`DiT-FMNIST-S/4`, `DiT-S/2`), or a model size as the dit-scaling sweep names them, `w<width>-d<depth>[-h<heads>]`: DiT-FMNIST-S/4 at that
 * width and depth with `heads` heads (default width/32, so head dim 32), e.g. `w64-d2`.
 */
export function benchModelSection(config: string): ModelConfigInput {
  if (config === MAIN_JOB) return mainJobConfig().model;
  const size = /^w(\d+)-d(\d+)(?:-h(\d+))?$/.exec(config);
  if (!size) return { preset: config };
  const hiddenSize = Number(size[1]), depth = Number(size[2]);
  const numHeads = size[3] ? Number(size[3]) : Math.max(1, Math.round(hiddenSize / 32));
  return { preset: SWEEP_BASE_PRESET, hiddenSize, depth, numHeads };
}

/** The product's training step (@difflab/training's trainStep) on a DiT, as the benchmark times it. */
export interface DiTTrainer {
  params: number;
  /** Multiply-accumulates of one example's forward pass (countDiT): a training step is ≈ 3× that per example. */
  macsPerExample: number;
  /** One trainStep: random t and noise, label dropout, forward, backward, clipping, AdamW, EMA; returns the loss. */
  step(): number;
  dispose(): void;
}

/** The train.* settings of the benchmarked step (DiT's recipe: AdamW 1e-4, no decay, EMA 0.9999, plus clipping at 1). */
export const BENCH_TRAIN = { lr: 1e-4, beta1: 0.9, beta2: 0.999, weightDecay: 0, gradClip: 1, emaDecay: 0.9999 } as const;

/**
 * A DiT from a training config's model section with `objective` (default ε-prediction, DiT's hybrid loss with
 * L_vlb when it learns σ; or rectified flow with the given options), on one fixed random batch.
 * Everything else is the trainer's own step.
 */
export function createDiTTrainer(section: ModelConfigInput, batch: number, seed = 0, objectiveSpec: ReturnType<typeof benchObjective> = { kind: 'epsilon' }): DiTTrainer {
  const rng = new Rng(seed);
  const model = createDenoiser(section, rng.fork());
  if (model.architecture !== 'dit') throw new Error(`train-step benchmarks a DiT; '${section.preset}' is a ${model.architecture}`);
  const { kind: _kind, ...flow } = objectiveSpec as { kind: string } & FlowObjectiveOptions;
  const objective = objectiveSpec.kind === 'flow' ? flowObjective(flow) : epsilonObjective({ vlbWeight: (model.config as DiTConfig).learnSigma ? 1 : 0 });
  const trainer = createTrainer(model, objective, linearSchedule(1000), BENCH_TRAIN);
  const shape: [number, number, number, number] = [batch, model.inputSize, model.inputSize, model.inChannels];
  const x = rng.normalTensor(shape, 0, 1);
  const data: FloatBatch = {
    x: x.dataSync() as Float32Array,
    y: Int32Array.from({ length: batch }, () => rng.int(model.numClasses ?? 1)),
    shape,
  };
  x.dispose();
  const stepRng = rng.fork();
  return {
    params: model.paramCount,
    macsPerExample: countDiT(model.config as DiTConfig).macs,
    step: () => trainStep(trainer, data, { lr: BENCH_TRAIN.lr, emaDecay: BENCH_TRAIN.emaDecay, rng: stepRng }).loss,
    dispose() {
      trainer.dispose();
      objective.dispose();
      model.dispose();
    },
  };
}

function timeSteps(step: () => number, budget: StepBudget): { steps: number; seconds: number; loss: number } {
  for (let i = 0; i < budget.warmup; i++) step();
  let steps = 0, loss = 0;
  const start = performance.now();
  while (steps < budget.minSteps || performance.now() - start < budget.minSeconds * 1000) {
    loss += step();
    steps++;
  }
  return { steps, seconds: (performance.now() - start) / 1000, loss: loss / steps };
}

/** Times the DiT training step on one tfjs backend (selected through core-tensor's initBackend). */
export async function tfjsTrainStep(
  backend: BackendName,
  c: TrainStepCase,
  budget: StepBudget,
  precision: Precision = 'fp32',
  matmul: MatmulLibrary = 'blas',
): Promise<EngineResult> {
  const info = await initBackend({ backend, log: () => {} });
  const trainer = createDiTTrainer(benchModelSection(c.config), c.batch, 0, benchObjective(c.config));
  try {
    setMatmulPrecision(precision);
    setMatmulLibrary(matmul);
    const native = backend === 'native';
    // Elsewhere the first warm-up step runs under tf.profile for its peak memory.
    const first = !native && budget.warmup > 0 ? await tf.profile(() => void trainer.step()) : null;
    for (let i = first ? 1 : 0; i < budget.warmup; i++) trainer.step();
    resetNativePeakMemory();
    const base = nativeMemoryFootprint()?.bytes;
    const r = timeSteps(() => trainer.step(), { ...budget, warmup: 0 });
    const peak = native ? nativeMemoryFootprint()?.peakBytes : first?.peakBytes;
    return {
      ...(peak !== undefined ? { peakBytes: peak } : {}),
      ...(native && base !== undefined ? { baseBytes: base } : {}),
      engine: `${backend} (${info.detail})${matmul === 'onednn' ? ', products by oneDNN' : ''}`,
      ...(native ? { matmul } : {}),
      params: trainer.params,
      steps: r.steps,
      stepMs: (1000 * r.seconds) / r.steps,
      examplesPerSec: (c.batch * r.steps) / r.seconds,
      loss: r.loss,
    };
  } finally {
    if (precision === 'bf16') setMatmulPrecision('fp32');
    if (matmul === 'onednn') setMatmulLibrary('blas');
    trainer.dispose();
    // The peer runs next in its own process and needs the memory this step kept for reuse.
    releaseNativeMemory();
  }
}

/**
 * The same step in PyTorch (tools/bench/peers/dit_train_step.py, Debian's python3-torch) at each
 * thread count; the fastest is reported, since PyTorch on 2 cores is sometimes faster on one thread.
 */
export function torchTrainStep(c: TrainStepCase, budget: StepBudget, threadCounts: readonly number[], precision: Precision = 'fp32'): EngineResult {
  const resolved = resolveModelConfig(benchModelSection(c.config));
  if (resolved.architecture !== 'dit') throw new Error(`train-step benchmarks a DiT; '${c.config}' is a U-Net`);
  const runs = threadCounts.map((threads) =>
    runPeer<{ engine: string; threads: number; params: number; steps: number; stepMs: number; examplesPerSec: number; loss: number }>('dit_train_step.py', {
      ...resolved.config,
      ...BENCH_TRAIN,
      objective: benchObjective(c.config),
      batch: c.batch,
      threads,
      precision,
      ...budget,
    }),
  );
  const best = runs.reduce((a, b) => (b.examplesPerSec > a.examplesPerSec ? b : a));
  const tried = runs.map((r) => `${r.threads}: ${r.examplesPerSec.toFixed(2)}`).join(', ');
  return {
    engine: `${best.engine}, ${best.threads} thread${best.threads === 1 ? '' : 's'} (best of examples/s by threads ${tried})`,
    params: best.params,
    steps: best.steps,
    stepMs: best.stepMs,
    examplesPerSec: best.examplesPerSec,
    loss: best.loss,
    threads: best.threads,
    byThreads: Object.fromEntries(runs.map((r) => [r.threads, r.examplesPerSec])),
  };
}
