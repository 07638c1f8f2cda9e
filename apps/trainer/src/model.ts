import type { Rng, tf } from '@difflab/core-tensor';
import {
  DIT_CONFIGS,
  UNET_CONFIGS,
  countDiT,
  countUNet,
  createDiT,
  createUNet,
  ditConfig,
  unetConfig,
  type DiTConfig,
  type UNetConfig,
} from '@difflab/models';
import { ConfigError, type TrainConfig } from './config.js';

/** What the training loop needs from a denoiser, whatever its architecture. */
export interface Denoiser {
  readonly architecture: 'dit' | 'unet';
  /** The fully resolved architecture config, recorded in the run's params. */
  readonly config: DiTConfig | UNetConfig;
  readonly params: Record<string, tf.Variable>;
  readonly inputSize: number;
  readonly inChannels: number;
  /** Number of classes; null for an unconditional model (labels are ignored). */
  readonly numClasses: number | null;
  /** Trainable parameters and forward multiply-adds per example, from the analytic counters. */
  readonly paramCount: number;
  readonly flopsFwdPerExample: number;
  forward(x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D, opts?: { labelDropout?: Rng }): tf.Tensor4D;
  dispose(): void;
}

const DIT_OVERRIDES = ['hiddenSize', 'depth', 'numHeads', 'patchSize', 'mlpRatio', 'classDropoutProb', 'learnSigma', 'block'] as const;

/** The architecture config a training config asks for: a named preset plus field overrides. */
export function resolveModelConfig(model: TrainConfig['model']): { architecture: 'dit'; config: DiTConfig } | { architecture: 'unet'; config: UNetConfig } {
  const { preset, ...overrides } = model;
  const given = Object.entries(overrides).filter(([, v]) => v !== undefined);
  if (preset in DIT_CONFIGS) return { architecture: 'dit', config: { ...ditConfig(preset), ...Object.fromEntries(given) } };
  if (preset in UNET_CONFIGS) {
    if (given.length) {
      throw new ConfigError(`model: ${given.map(([k]) => k).join(', ')} override DiT presets only; '${preset}' is a U-Net preset`);
    }
    return { architecture: 'unet', config: unetConfig(preset) };
  }
  throw new ConfigError(
    `model.preset: unknown preset '${preset}'; DiT presets: ${Object.keys(DIT_CONFIGS).join(', ')}; U-Net presets: ${Object.keys(UNET_CONFIGS).join(', ')}`,
  );
}

export function createDenoiser(model: TrainConfig['model'], rng: Rng): Denoiser {
  const resolved = resolveModelConfig(model);
  if (resolved.architecture === 'dit') {
    const c = resolved.config;
    const dit = createDiT(c, rng);
    const count = countDiT(c);
    return {
      architecture: 'dit',
      config: c,
      params: dit.params,
      inputSize: c.inputSize,
      inChannels: c.inChannels,
      numClasses: c.numClasses,
      paramCount: count.params,
      // The DiT paper's "Gflops": multiply-adds plus LayerNorm elements.
      flopsFwdPerExample: count.gflops * 1e9,
      forward: (x, t, y, opts) => dit.forward(x, t, y, opts),
      dispose: () => dit.dispose(),
    };
  }
  const c = resolved.config;
  const unet = createUNet(c, rng);
  const count = countUNet(c);
  const conditional = c.conditioning.kind === 'class';
  if (c.conditioning.kind === 'text') throw new ConfigError(`model.preset '${model.preset}' needs a text context; the trainer has class labels only`);
  return {
    architecture: 'unet',
    config: c,
    params: unet.params,
    inputSize: c.sampleSize,
    inChannels: c.inChannels,
    numClasses: c.conditioning.kind === 'class' ? c.conditioning.numClasses : null,
    paramCount: count.params,
    flopsFwdPerExample: count.macs,
    forward: (x, t, y, opts) => (conditional ? unet.forward(x, t, y, opts) : unet.forward(x, t)),
    dispose: () => unet.dispose(),
  };
}
