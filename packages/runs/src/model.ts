import { type Rng, tf } from '@difflab/core-tensor';
import {
  AUDIO_UNET_CONFIGS,
  applyPruning,
  audioUNetConfig,
  pruneNameMap,
  sdStyleUNetConfig,
  unetParamSpecs,
  type UNet,
  type UNetPruningSpec,
  countDiT,
  countUNet,
  createDiT,
  createUNet,
  ditConfig,
  unetConfig,
  type DiTAdaptation,
  type DiTConfig,
  type DiTForwardOptions,
  type UNetConfig,
  ModelInputError,
} from '@difflab/models';
import { z } from 'zod';
import { ConfigError, parseConfig } from './config-file.js';
import { modelConfigSchema, type ModelConfig, type ModelConfigInput, type UNetModelConfig } from './model-config.js';
import type { FineTuneInfo } from './finetune.js';

/** What the training loop needs from a denoiser, whatever its architecture. */
export interface DenoiserForwardOptions {
  labelDropout?: Rng;
  onBlock?: (index: number, h: tf.Tensor3D) => void;
  /**
   * DiT only: the label table [numClasses + 1, hiddenSize] as this forward uses it, from the stored one (after a
   * fine-tune run's own new-class row), e.g. one row replaced by a vector an attack optimises. Differentiable.
   */
  labelEmbedding?: (table: tf.Tensor2D) => tf.Tensor2D;
}

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
  /** The U-Net itself (distillation needs its stage features); null for a DiT. */
  readonly unet: UNet | null;
  /** Parameters left out of training, held at their values: model.zero's zeroed operators (renamed into the pruned model), or what ESD keeps of the base. */
  readonly frozen: readonly string[];
  /** A fine-tune run's method, base and trained-tensor count (createRunDenoiser with a finetune section); absent otherwise. */
  readonly fineTune?: FineTuneInfo;
  /**
   * `onBlock` (DiT only; a U-Net ignores it): called after each transformer block with its image tokens
   * [B, numPatches, hiddenSize], as DiT's forward option of that name (representation alignment taps it).
   */
  forward(x: tf.Tensor4D, t: tf.Tensor1D, y: tf.Tensor1D, opts?: DenoiserForwardOptions): tf.Tensor4D;
  dispose(): void;
}

/** U-Net fields that rebuild the preset's layout through sdStyleUNetConfig. */
const UNET_LAYOUT = ['channels', 'layersPerLevel', 'attention', 'mid', 'numHeads', 'groups'] as const;

export interface ResolvedUNet {
  architecture: 'unet';
  /** The preset with its layout overrides, before pruning: what init.from and distill.teacher runs must have. */
  base: UNetConfig;
  /** What is trained: base with model.prune applied. */
  config: UNetConfig;
  spec: UNetPruningSpec;
  /** model.zero renamed into `config`'s parameter names. */
  frozen: string[];
}

const unetPreset = (name: string): UNetConfig => (name in AUDIO_UNET_CONFIGS ? audioUNetConfig(name) : unetConfig(name));

/**
 * The architecture config a training config's model section asks for: a named preset plus field
 * overrides (and, for a U-Net, pruning). Takes the section as written or as parsed; the
 * discriminated union (./model-config.ts) has already rejected fields of the other architecture.
 */
export function resolveModelConfig(section: ModelConfigInput | ModelConfig): { architecture: 'dit'; config: DiTConfig } | ResolvedUNet {
  const model = parseModelConfig(section);
  if (model.architecture === 'dit') {
    const { architecture: _a, preset, ...overrides } = model;
    const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
    return { architecture: 'dit', config: { ...ditConfig(preset), ...given } };
  }
  const base = unetLayout(model);
  const spec: UNetPruningSpec = model.prune ?? { remove: [] };
  let config: UNetConfig;
  try {
    config = applyPruning(base, spec);
  } catch (e) {
    throw new ConfigError(`model.prune: ${(e as Error).message}`);
  }
  return { architecture: 'unet', base, config, spec, frozen: frozenNames(base, spec, model.zero ?? []) };
}

/** Validates a model section on its own (errors read `model.<field>`). */
export function parseModelConfig(section: ModelConfigInput | ModelConfig): ModelConfig {
  return parseConfig(z.object({ model: modelConfigSchema }), { model: section }, 'model config', 'model').model;
}

/** The preset rebuilt through sdStyleUNetConfig when a layout field is overridden (SD's regular layout). */
function unetLayout(model: UNetModelConfig): UNetConfig {
  const p = unetPreset(model.preset);
  if (UNET_LAYOUT.every((k) => model[k] === undefined)) return p;
  try {
    return sdStyleUNetConfig({
      sampleSize: p.sampleSize,
      inChannels: p.inChannels,
      outChannels: p.outChannels,
      conditioning: p.conditioning,
      channels: model.channels ?? p.channels,
      layersPerLevel: model.layersPerLevel ?? p.downLayers[0]!.length,
      attention: model.attention ?? p.downLayers.map((blocks) => blocks.some(Boolean)),
      mid: model.mid ?? p.mid,
      numHeads: model.numHeads ?? p.numHeads,
      groups: model.groups ?? p.groups,
    });
  } catch (e) {
    throw new ConfigError(`model (${UNET_LAYOUT.join(', ')}): ${(e as Error).message}`);
  }
}

function frozenNames(base: UNetConfig, spec: UNetPruningSpec, zero: readonly string[]): string[] {
  const known = new Set(unetParamSpecs(base).map((s) => s.name));
  const newName = new Map([...pruneNameMap(base, spec)].map(([n, o]) => [o, n]));
  return zero.map((name) => {
    if (!known.has(name)) throw new ConfigError(`model.zero: '${name}' is not a parameter of the unpruned model (use its names before model.prune, e.g. 'mid_block.resnets.0.conv2.weight')`);
    const renamed = newName.get(name);
    if (renamed === undefined) throw new ConfigError(`model.zero: '${name}' belongs to a block model.prune removes; drop it from model.zero`);
    return renamed;
  });
}

export function createDenoiser(model: ModelConfigInput | ModelConfig, rng: Rng): Denoiser {
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
      unet: null,
      frozen: [],
      forward: (x, t, y, opts) => dit.forward(x, t, y, ditForwardOptions(opts)),
      dispose: () => dit.dispose(),
    };
  }
  const c = resolved.config;
  const unet = createUNet(c, rng);
  for (const name of resolved.frozen) tf.tidy(() => unet.params[name]!.assign(tf.zerosLike(unet.params[name]!)));
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
    unet,
    frozen: resolved.frozen,
    forward: (x, t, y, opts) => {
      if (opts?.labelEmbedding) throw new ModelInputError('labelEmbedding: the U-Net has no label table to replace (DiT only)');
      return conditional ? unet.forward(x, t, y, opts) : unet.forward(x, t);
    },
    dispose: () => unet.dispose(),
  };
}

/** A Denoiser's forward options as the DiT's: the label table hook enters through its adaptation. */
export function ditForwardOptions(opts: DenoiserForwardOptions | undefined, adaptation?: DiTAdaptation): DiTForwardOptions | undefined {
  if (!opts?.labelEmbedding) return adaptation ? { ...opts, adaptation } : opts;
  const { labelEmbedding: outer, ...rest } = opts;
  const inner = adaptation?.labelEmbedding;
  return { ...rest, adaptation: { ...adaptation, labelEmbedding: inner ? (table) => outer(inner(table)) : outer } };
}
