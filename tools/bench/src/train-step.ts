import { AdamW, Rng, initBackend, nativeMemoryFootprint, releaseNativeMemory, resetNativePeakMemory, tf, type BackendName } from '@difflab/core-tensor';
import { createDiT, ditConfig, type DiTConfig } from '@difflab/models';
import { runPeer } from './python-peer.js';

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
  /** native: bytes held before a timed step (weights, optimizer moments, inputs, pool): the part that does not grow with the batch. */
  baseBytes?: number;
}

/** The DiT training step the benchmark times: MSE on the predicted noise, backward, AdamW. */
export interface DiTTrainer {
  params: number;
  /** One forward + backward + AdamW update; returns the loss. */
  step(): number;
  dispose(): void;
}

/** Builds a DiT with fixed random inputs on the current tfjs backend. */
export function createDiTTrainer(config: DiTConfig, batch: number, seed = 0): DiTTrainer {
  const rng = new Rng(seed);
  const dit = createDiT(config, rng);
  const shape = [batch, config.inputSize, config.inputSize, config.inChannels];
  const x = rng.normalTensor(shape, 0, 1) as tf.Tensor4D;
  const eps = rng.normalTensor(shape, 0, 1) as tf.Tensor4D;
  const t = tf.tensor1d(Array.from({ length: batch }, () => rng.int(1000)), 'float32');
  const y = tf.tensor1d(Array.from({ length: batch }, () => rng.int(config.numClasses)), 'int32');
  const opt = new AdamW({ lr: 1e-4, weightDecay: 0 });
  const names = Object.keys(dit.params);
  const vars = names.map((k) => dit.params[k]!);
  return {
    params: vars.reduce((s, v) => s + v.size, 0),
    step() {
      const { value, grads } = tf.variableGrads(() => {
        const out = dit.forward(x, t, y);
        const pred = config.learnSigma ? tf.slice(out, [0, 0, 0, 0], [-1, -1, -1, config.inChannels]) : out;
        return tf.mean(tf.squaredDifference(pred, eps)) as tf.Scalar;
      }, vars);
      const named: Record<string, tf.Tensor> = {};
      names.forEach((k, i) => (named[k] = grads[vars[i]!.name]!));
      opt.step(dit.params, named);
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      return loss;
    },
    dispose() {
      opt.dispose();
      dit.dispose();
      tf.dispose([x, eps, t, y]);
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
export async function tfjsTrainStep(backend: BackendName, c: TrainStepCase, budget: StepBudget): Promise<EngineResult> {
  const info = await initBackend({ backend, log: () => {} });
  const trainer = createDiTTrainer(ditConfig(c.config), c.batch);
  try {
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
      engine: `${backend} (${info.detail})`,
      params: trainer.params,
      steps: r.steps,
      stepMs: (1000 * r.seconds) / r.steps,
      examplesPerSec: (c.batch * r.steps) / r.seconds,
      loss: r.loss,
    };
  } finally {
    trainer.dispose();
    // The peer runs next in its own process and needs the memory this step kept for reuse.
    releaseNativeMemory();
  }
}

/** The same step in PyTorch (tools/bench/peers/dit_train_step.py, Debian's python3-torch). */
export function torchTrainStep(c: TrainStepCase, budget: StepBudget, threads: number): EngineResult {
  const r = runPeer<{ engine: string; threads: number; params: number; steps: number; stepMs: number; examplesPerSec: number; loss: number }>(
    'dit_train_step.py',
    { ...ditConfig(c.config), batch: c.batch, threads, ...budget },
  );
  return { engine: `${r.engine}, ${r.threads} threads`, params: r.params, steps: r.steps, stepMs: r.stepMs, examplesPerSec: r.examplesPerSec, loss: r.loss };
}
