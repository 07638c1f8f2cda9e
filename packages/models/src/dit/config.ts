import { ModelConfigError } from '../errors.js';

/**
 * How timestep and class conditioning enter each transformer block (DiT paper, Section 3.2):
 * - `in-context`: t and y embeddings are two extra tokens, dropped before the final layer;
 * - `cross-attention`: a cross-attention over the two tokens (t, y) after self-attention;
 * - `adaLN`: LayerNorm shift/scale regressed from t+y;
 * - `adaLN-Zero`: adaLN plus zero-initialised residual gates, so every block starts as the identity.
 */
export type DiTBlock = 'in-context' | 'cross-attention' | 'adaLN' | 'adaLN-Zero';

export const DIT_BLOCKS: readonly DiTBlock[] = ['in-context', 'cross-attention', 'adaLN', 'adaLN-Zero'];

/**
 * The MLP of each block: DiT's `fc1 → GELU(tanh) → fc2`, or LightningDiT's SwiGLU
 * `w3(silu(w1·x) ⊙ w2·x)` at (about) equal parameters, hidden width `swigluHidden` (see ditShape).
 */
export type DiTMlp = 'gelu' | 'swiglu';
export const DIT_MLPS: readonly DiTMlp[] = ['gelu', 'swiglu'];

/** The normalisation in each block and the final layer: LayerNorm, or RMSNorm (no centring, no bias). */
export type DiTNorm = 'layernorm' | 'rmsnorm';
export const DIT_NORMS: readonly DiTNorm[] = ['layernorm', 'rmsnorm'];

export interface DiTConfig {
  /** Spatial side of the (latent) input; square inputs only. */
  inputSize: number;
  patchSize: number;
  inChannels: number;
  hiddenSize: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  /** Real classes; index `numClasses` is the null class when classDropoutProb > 0. */
  numClasses: number;
  /** Label dropout probability for classifier-free guidance training. */
  classDropoutProb: number;
  /** Output 2·inChannels channels: ε and the interpolation v of the variance (improved DDPM). */
  learnSigma: boolean;
  block: DiTBlock;
  // Architecture options of LightningDiT (Yao et al. 2025). Optional so that every existing config,
  // its parameter names, initialisation and forward pass stay exactly as they were when they are absent.
  /** Block MLP; default 'gelu' (DiT). */
  mlp?: DiTMlp;
  /** Block and final-layer normalisation; default 'layernorm' (DiT). */
  norm?: DiTNorm;
  /** 2-D axial rotary position embedding on self-attention queries and keys (EVA-02 layout); default false. */
  rope?: boolean;
}

const SIZES = {
  S: { depth: 12, hiddenSize: 384, numHeads: 6 },
  B: { depth: 12, hiddenSize: 768, numHeads: 12 },
  L: { depth: 24, hiddenSize: 1024, numHeads: 16 },
  XL: { depth: 28, hiddenSize: 1152, numHeads: 16 },
} as const;

function paperConfig(size: keyof typeof SIZES, patchSize: number): DiTConfig {
  return {
    inputSize: 32,
    patchSize,
    inChannels: 4,
    ...SIZES[size],
    mlpRatio: 4,
    numClasses: 1000,
    classDropoutProb: 0.1,
    learnSigma: true,
    block: 'adaLN-Zero',
  };
}

function grayscaleConfig(inputSize: number, patchSize: number): DiTConfig {
  return {
    inputSize,
    patchSize,
    inChannels: 1,
    hiddenSize: 192,
    depth: 6,
    numHeads: 3,
    mlpRatio: 4,
    numClasses: 10,
    classDropoutProb: 0.1,
    learnSigma: false,
    block: 'adaLN-Zero',
  };
}

/** The paper's twelve models (ImageNet 256², 32×32×4 latents) plus small grayscale (Fashion-MNIST) models. */
export const DIT_CONFIGS: Readonly<Record<string, DiTConfig>> = Object.freeze({
  'DiT-S/2': paperConfig('S', 2),
  'DiT-S/4': paperConfig('S', 4),
  'DiT-S/8': paperConfig('S', 8),
  'DiT-B/2': paperConfig('B', 2),
  'DiT-B/4': paperConfig('B', 4),
  'DiT-B/8': paperConfig('B', 8),
  'DiT-L/2': paperConfig('L', 2),
  'DiT-L/4': paperConfig('L', 4),
  'DiT-L/8': paperConfig('L', 8),
  'DiT-XL/2': paperConfig('XL', 2),
  'DiT-XL/4': paperConfig('XL', 4),
  'DiT-XL/8': paperConfig('XL', 8),
  'DiT-FMNIST-S/2': grayscaleConfig(32, 2),
  'DiT-FMNIST-S/4': grayscaleConfig(32, 4),
  'DiT-FMNIST28-S/2': grayscaleConfig(28, 2),
  'DiT-FMNIST28-S/4': grayscaleConfig(28, 4),
});

/** A copy of a named config; unknown names throw with the list of valid ones. */
export function ditConfig(name: string): DiTConfig {
  const c = DIT_CONFIGS[name];
  if (!c) {
    throw new ModelConfigError(`unknown DiT config '${name}'; valid names: ${Object.keys(DIT_CONFIGS).join(', ')}`);
  }
  return { ...c };
}

function positiveInt(config: DiTConfig, field: keyof DiTConfig): number {
  const v = config[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelConfigError(`DiTConfig.${field} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

/** Throws ModelConfigError naming the first inconsistent field. */
export function validateDiTConfig(config: DiTConfig): void {
  for (const f of ['inputSize', 'patchSize', 'inChannels', 'hiddenSize', 'depth', 'numHeads', 'numClasses'] as const) {
    positiveInt(config, f);
  }
  if (config.inputSize % config.patchSize !== 0) {
    throw new ModelConfigError(
      `DiTConfig.inputSize (${config.inputSize}) must be divisible by patchSize (${config.patchSize})`,
    );
  }
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new ModelConfigError(
      `DiTConfig.hiddenSize (${config.hiddenSize}) must be divisible by numHeads (${config.numHeads})`,
    );
  }
  if (config.hiddenSize % 4 !== 0) {
    throw new ModelConfigError(
      `DiTConfig.hiddenSize (${config.hiddenSize}) must be divisible by 4 for the 2-D sin-cos positional embedding`,
    );
  }
  if (!(config.mlpRatio > 0) || !Number.isInteger(config.mlpRatio * config.hiddenSize)) {
    throw new ModelConfigError(`DiTConfig.mlpRatio must make mlpRatio·hiddenSize a positive integer, got ${config.mlpRatio}`);
  }
  if (!(config.classDropoutProb >= 0 && config.classDropoutProb < 1)) {
    throw new ModelConfigError(`DiTConfig.classDropoutProb must be in [0, 1), got ${config.classDropoutProb}`);
  }
  if (!DIT_BLOCKS.includes(config.block)) {
    throw new ModelConfigError(`DiTConfig.block must be one of ${DIT_BLOCKS.join(', ')}, got '${String(config.block)}'`);
  }
  if (config.mlp !== undefined && !DIT_MLPS.includes(config.mlp)) {
    throw new ModelConfigError(`DiTConfig.mlp must be one of ${DIT_MLPS.join(', ')}, got '${String(config.mlp)}'`);
  }
  if (config.norm !== undefined && !DIT_NORMS.includes(config.norm)) {
    throw new ModelConfigError(`DiTConfig.norm must be one of ${DIT_NORMS.join(', ')}, got '${String(config.norm)}'`);
  }
  if (config.rope !== undefined && typeof config.rope !== 'boolean') {
    throw new ModelConfigError(`DiTConfig.rope must be true or false, got ${String(config.rope)}`);
  }
  if (config.rope && (config.hiddenSize / config.numHeads) % 4 !== 0) {
    throw new ModelConfigError(
      `DiTConfig.rope needs a head width (hiddenSize / numHeads = ${config.hiddenSize / config.numHeads}) divisible by 4: ` +
        'half of each head rotates by row and half by column, in channel pairs',
    );
  }
  if (config.mlp === 'swiglu' && ditShape(config).swigluHidden < 1) {
    throw new ModelConfigError(`DiTConfig.mlp 'swiglu' needs floor(2/3 · mlpRatio · hiddenSize) ≥ 1; raise mlpRatio`);
  }
}

/** Derived sizes used by the model and the counters. */
export function ditShape(config: DiTConfig) {
  const gridSize = config.inputSize / config.patchSize;
  return {
    gridSize,
    numPatches: gridSize * gridSize,
    patchDim: config.patchSize * config.patchSize * config.inChannels,
    outChannels: config.learnSigma ? 2 * config.inChannels : config.inChannels,
    mlpHidden: Math.round(config.hiddenSize * config.mlpRatio),
    /**
     * SwiGLU hidden width: LightningDiT's `int(2/3 · mlp_hidden_dim)`, i.e. the floor, without LLaMA's
     * further rounding up to a multiple of `multiple_of` (256), which would break the equal-parameter
     * match at small widths. Three d×h matrices then hold 3dh ≤ 2dm weights, equal when 3 divides 2m
     * (every named config). Evaluated as Python does (2/3 first, in float64) so widths agree with LightningDiT's.
     */
    swigluHidden: Math.trunc((2 / 3) * Math.round(config.hiddenSize * config.mlpRatio)),
    /** Rows of the label table: one extra (null) class when label dropout is used for CFG. */
    labelRows: config.numClasses + (config.classDropoutProb > 0 ? 1 : 0),
  };
}

/** Width of the sinusoidal timestep features fed to the timestep MLP. */
export const TIMESTEP_FREQ_DIM = 256;
