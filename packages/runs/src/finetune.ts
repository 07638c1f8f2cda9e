import { Rng, encodeSafetensors, tensorsToEntries, tf, writeFileAtomic } from '@difflab/core-tensor';
import {
  type DiT,
  type DiTAdaptation,
  type DiTConfig,
  type FineTuneMethod,
  type FineTuneSpec,
  type HoulsbyAdapter,
  type LoraAdapter,
  type PeftAdapter,
  type PrefixAdapter,
  type SvdiffAdapter,
  PeftConfigError,
  countDiT,
  createAdapter,
  createDiT,
} from '@difflab/models';
import { CheckpointError } from './checkpoint.js';
import { ConfigError, type TrainConfig } from './config.js';
import { canonical, openSourceRun, readSourceWeights, weightsFileName, type SourceRun } from './init.js';
import { ditForwardOptions, resolveModelConfig, type Denoiser } from './model.js';

// A fine-tune run (config section `finetune`): the DiT of the run init.from names, plus one method's trained
// tensors. For an adapter method the base weights stay as loaded and only the adapter is the Denoiser's
// `params`, so AdamW, the EMA, checkpoints and resume handle the adapter alone, unchanged; 'full' trains the
// base weights themselves (init.from's plain path).

export type FineTuneSection = NonNullable<TrainConfig['finetune']>;

/** The checkpoint a fine-tune's base weights came from; recorded in params.json and in every file the run saves. */
export interface FineTuneBase {
  runDir: string;
  step: number;
  weights: 'ema' | 'raw';
  /** SHA-256 (hex) of that checkpoint's weights file, as verified when it was read. */
  sha256: string;
}

export interface FineTuneInfo {
  method: FineTuneMethod;
  /** The method's options as the config gives them (@difflab/models' defaults fill the rest). */
  options: Record<string, unknown>;
  /** What the options came to: rank and alpha, bottleneck, prefix length, number of adapted layers. */
  resolved: Record<string, number>;
  /** The class whose label embedding trains as an adapter tensor (finetune.newClass), or null. */
  newClass: number | null;
  /** Σ size of the trained tensors (the Denoiser's params). */
  trainableCount: number;
  base: FineTuneBase;
  /** The DiT's own weights as loaded from the base: never trained by an adapter method; for 'full' they are `params`. */
  baseParams: Readonly<Record<string, tf.Variable>>;
}

/** Name of the adapter tensor that replaces row `c` of the label embedding table. */
export const newClassParamName = (c: number): string => `y_embedder.new_class_embedding.${c}`;

/** The models package's spec for a config's finetune section (newClass is handled here, not by a method). */
export function fineTuneSpec(section: FineTuneSection): FineTuneSpec {
  const { newClass: _newClass, ...spec } = section;
  return spec as FineTuneSpec;
}

function requireFineTune(cfg: TrainConfig): { ft: FineTuneSection; init: NonNullable<TrainConfig['init']>; config: DiTConfig } {
  if (!cfg.finetune || !cfg.init) throw new ConfigError('finetune: a fine-tune needs both the finetune section and init.from (the base run)');
  const resolved = resolveModelConfig(cfg.model);
  if (resolved.architecture !== 'dit') throw new ConfigError(`finetune: adapts a DiT; model '${cfg.model.preset}' is a U-Net`);
  return { ft: cfg.finetune, init: cfg.init, config: resolved.config };
}

/** The base run must have trained every weight of exactly this config's DiT. */
function checkBase(runDir: string, base: TrainConfig, config: DiTConfig, preset: string): void {
  if (base.finetune && base.finetune.method !== 'full') {
    throw new ConfigError(
      `init.from: ${runDir} is itself a '${base.finetune.method}' fine-tune, whose checkpoints hold only its adapter; ` +
        "fine-tune from a run that trained every weight (that run's own base, or a 'full' fine-tune)",
    );
  }
  const trained = resolveModelConfig(base.model);
  if (trained.architecture !== 'dit') throw new ConfigError(`init.from: ${runDir} trained the U-Net '${base.model.preset}'; finetune adapts a DiT`);
  if (canonical(trained.config) === canonical(config)) return;
  const theirs = trained.config as unknown as Record<string, unknown>;
  const ours = config as unknown as Record<string, unknown>;
  const differ = [...new Set([...Object.keys(theirs), ...Object.keys(ours)])]
    .sort()
    .filter((k) => canonical(theirs[k]) !== canonical(ours[k]))
    .map((k) => `${k}: base ${JSON.stringify(theirs[k])}, model ${JSON.stringify(ours[k])}`);
  throw new ConfigError(
    `init.from: ${runDir} trained DiT '${base.model.preset}' with another architecture than this config's model '${preset}' (${differ.join('; ')}); ` +
      `a fine-tune keeps its base's architecture: set model to that run's model section ${JSON.stringify(base.model)}`,
  );
}

/** The base run's weights, once its config is checked against this one (architecture, not itself an adapter run). */
function readFineTuneBase(init: NonNullable<TrainConfig['init']>, config: DiTConfig, preset: string): SourceRun {
  const opened = openSourceRun(init.from, 'init.from');
  checkBase(opened.runDir, opened.config, config, preset);
  return readSourceWeights(opened, init.weights);
}

/** The base checkpoint init.from names now, without reading its tensors. */
export function fineTuneBaseNow(cfg: TrainConfig): FineTuneBase {
  const { init } = requireFineTune(cfg);
  const { runDir, files } = openSourceRun(init.from, 'init.from');
  return { runDir, step: files.step(), weights: init.weights, sha256: files.digest(weightsFileName(init.weights)) };
}

/**
 * The Denoiser of a config with a finetune section: a DiT holding the base run's weights (init.from, verified
 * like a resume, architecture checked) and, for an adapter method, the method's adapter (drawn from `rng`) plus,
 * with finetune.newClass, one trained row of the label table. `params` are exactly the trained tensors; the
 * forward applies the adaptation. With an esd section ('full' only) `params` are every base weight and those
 * esd.train leaves out are `frozen`. Synchronous, so sampling code can build it from a config alone.
 */
export function createFineTuneDenoiser(cfg: TrainConfig, rng: Rng): Denoiser {
  const { ft, init, config: c } = requireFineTune(cfg);
  const source = readFineTuneBase(init, c, cfg.model.preset);
  let dit: DiT | undefined;
  let adapter: PeftAdapter | null = null;
  let row: tf.Variable | null = null;
  try {
    // Its random init is overwritten by the base weights at once; a generator of its own keeps `rng` for the adapter.
    dit = createDiT(c, new Rng(0));
    assignBase(dit, source);
    const model = dit;
    adapter = withFieldNames(() => createAdapter(model, fineTuneSpec(ft), rng));
    if (adapter && ft.newClass !== undefined) row = newClassRow(dit, ft.newClass);
  } catch (e) {
    adapter?.dispose();
    dit?.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(source.params));
  }
  const base = dit;

  const params: Record<string, tf.Variable> = adapter ? { ...adapter.params, ...(row ? { [newClassParamName(ft.newClass!)]: row } : {}) } : base.params;
  const adaptation: DiTAdaptation | undefined = adapter ? (row ? { ...adapter.adaptation, labelEmbedding: replaceRow(ft.newClass!, row) } : adapter.adaptation) : undefined;
  // ESD trains a subset of the base's own weights: the rest are the Denoiser's `frozen`, which get no gradient.
  const esdTrained = !adapter && cfg.esd ? esdTrainedNames(c, Object.keys(params), cfg.esd.train) : null;
  const frozen = esdTrained ? Object.keys(params).filter((k) => !esdTrained.has(k)) : [];
  const count = countDiT(c);
  const trained = adapter ? Object.values(params) : esdTrained ? [...esdTrained].map((k) => params[k]!) : null;
  const trainableCount = trained ? trained.reduce((n, v) => n + v.size, 0) : count.params;
  const { method: _m, newClass: _n, ...options } = ft;
  const fineTune: FineTuneInfo = {
    method: ft.method,
    options,
    resolved: adapter ? resolvedOptions(adapter) : {},
    newClass: ft.newClass ?? null,
    trainableCount,
    base: { runDir: source.runDir, step: source.step, weights: init.weights, sha256: source.weightsSha256 },
    baseParams: base.params,
  };
  return {
    architecture: 'dit',
    config: c,
    params,
    inputSize: c.inputSize,
    inChannels: c.inChannels,
    numClasses: c.numClasses,
    paramCount: trainableCount,
    // The base DiT's forward; an adapter's own multiply-adds are not counted.
    flopsFwdPerExample: count.gflops * 1e9,
    unet: null,
    frozen,
    fineTune,
    forward: (x, t, y, opts) => base.forward(x, t, y, ditForwardOptions(opts, adaptation)),
    dispose: () => {
      adapter?.dispose();
      row?.dispose();
      base.dispose();
    },
  };
}

/**
 * Which of a DiT's weights (`names`) ESD trains (esd.train). 'conditioning', our ESD-x: the label embedding table
 * and where the label enters the image tokens — each adaLN modulation linear (blocks and final layer) in the adaLN
 * designs, the cross-attention layers (q, kv, proj: ESD-x's attn2) in the cross-attention design. 'unconditioning',
 * our ESD-u: every other weight. The in-context design has no such path (the label is a token every self-attention reads).
 */
export function esdTrainedNames(config: DiTConfig, names: readonly string[], train: NonNullable<TrainConfig['esd']>['train']): Set<string> {
  const path =
    config.block === 'cross-attention'
      ? /^blocks\.\d+\.cross_attn\.(q|kv|proj)\.(weight|bias)$/
      : config.block === 'in-context'
        ? null
        : /^(blocks\.\d+|final_layer)\.adaLN_modulation\.1\.(weight|bias)$/;
  if (!path) throw new ConfigError("model.block: 'in-context' has no conditioning path apart from the label table to split esd.train by; erase from an adaLN-Zero, adaLN or cross-attention base");
  const conditioning = (k: string) => k === 'y_embedder.embedding_table.weight' || path.test(k);
  return new Set(names.filter((k) => conditioning(k) === (train === 'conditioning')));
}

function assignBase(dit: DiT, source: SourceRun): void {
  const extra = Object.keys(source.params).filter((k) => !(k in dit.params));
  if (extra.length > 0) throw new ConfigError(`init.from: ${source.weightsFile} holds tensors this DiT does not have (${extra.slice(0, 3).join(', ')}); is it a DiT run's checkpoint?`);
  for (const [name, v] of Object.entries(dit.params)) {
    const w = source.params[name];
    if (!w || !tf.util.arraysEqual(w.shape, v.shape)) {
      throw new ConfigError(`init.from: ${source.weightsFile}: tensor '${name}' is ${w ? `[${w.shape}]` : 'missing'}, the model needs [${v.shape}]; was that run's config.json edited after training?`);
    }
    v.assign(w);
  }
}

/** A PeftConfigError ('LoRA option targets: …') as a ConfigError naming the config field ('finetune.targets: …'). */
function withFieldNames<T>(make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof PeftConfigError) throw new ConfigError(e.message.replace(/^\S+ option (\w+)/, 'finetune.$1'));
    throw e;
  }
}

/** A trained copy of row c of the label table: the adapted model starts equal to the base (for the identity-at-init methods). */
function newClassRow(dit: DiT, c: number): tf.Variable {
  const d = dit.config.hiddenSize;
  const initial = tf.tidy(() => tf.reshape(tf.slice(dit.params['y_embedder.embedding_table.weight']!, [c, 0], [1, d]), [d]));
  const v = tf.variable(initial, true);
  initial.dispose();
  return v;
}

/** The label table with row c replaced by `row` (slices and a concat: the other rows keep their bits; differentiable in `row`). */
export function replaceRow(c: number, row: tf.Tensor): (table: tf.Tensor2D) => tf.Tensor2D {
  return (table) => {
    const [rows, d] = table.shape;
    const parts: tf.Tensor2D[] = [];
    if (c > 0) parts.push(tf.slice(table, [0, 0], [c, d]));
    parts.push(tf.reshape(row, [1, d]) as tf.Tensor2D);
    if (c + 1 < rows) parts.push(tf.slice(table, [c + 1, 0], [rows - c - 1, d]));
    return tf.concat(parts, 0);
  };
}

function resolvedOptions(adapter: PeftAdapter): Record<string, number> {
  switch (adapter.method) {
    case 'lora': {
      const a = adapter as LoraAdapter;
      return { rank: a.rank, alpha: a.alpha, layers: a.layers.length };
    }
    case 'houlsby':
      return { bottleneck: (adapter as HoulsbyAdapter).bottleneck };
    case 'prefix':
      return { length: (adapter as PrefixAdapter).length };
    case 'svdiff':
      return { layers: (adapter as SvdiffAdapter).layers.length };
  }
}

/** The run's params (params.json, tracker) a fine-tune adds to its config's own. */
export function fineTuneParams(info: FineTuneInfo): Record<string, string | number> {
  return {
    'finetune.trainable_params': info.trainableCount,
    ...Object.fromEntries(Object.entries(info.resolved).map(([k, v]) => [`finetune.resolved.${k}`, v])),
    'finetune.base_run': info.base.runDir,
    'finetune.base_step': info.base.step,
    'finetune.base_weights': info.base.weights,
    'finetune.base_sha256': info.base.sha256,
  };
}

/** safetensors metadata of every weights file a fine-tune writes: the method and the base it fits. */
export function fineTuneMetadata(info: FineTuneInfo): Record<string, string> {
  return {
    'finetune.method': info.method,
    'finetune.options': JSON.stringify(info.options),
    ...(info.newClass === null ? {} : { 'finetune.new_class': String(info.newClass) }),
    'finetune.trainable_params': String(info.trainableCount),
    'finetune.base_run': info.base.runDir,
    'finetune.base_step': String(info.base.step),
    'finetune.base_weights': info.base.weights,
    'finetune.base_sha256': info.base.sha256,
  };
}

/**
 * Refuses weights trained on another base than the one init.from holds now (that run trained on, or its
 * `latest` moved): an adapter fits only the base it was trained on. `metadata` is the weights file's.
 */
export function verifyFineTuneBase(metadata: Readonly<Record<string, string>>, now: FineTuneBase, file: string): void {
  const then = metadata['finetune.base_sha256'];
  if (then === undefined || then === now.sha256) return;
  throw new CheckpointError(
    `${file} was fine-tuned on ${metadata['finetune.base_run']} at step ${metadata['finetune.base_step']} (${metadata['finetune.base_weights']} weights, SHA-256 ${then.slice(0, 12)}…), ` +
      `but init.from now holds step ${now.step} (SHA-256 ${now.sha256.slice(0, 12)}…); the adapter fits only its own base: point that run's checkpoints/latest back at step ${metadata['finetune.base_step']}, or fine-tune again`,
  );
}

/** The file a fine-tune leaves for use on its base. */
export const ADAPTER_FILE = 'adapter.safetensors';

/**
 * Writes the trained tensors (`weights`: the EMA or the raw ones, as `kind` says) with fineTuneMetadata, atomically;
 * returns the file's size in bytes. For 'full' these are every weight of the model.
 */
export async function writeAdapterFile(path: string, weights: Record<string, tf.Tensor>, info: FineTuneInfo, at: { step: number; kind: 'ema' | 'raw' }): Promise<number> {
  const bytes = encodeSafetensors(tensorsToEntries(weights), { ...fineTuneMetadata(info), format: 'difflab-adapter', step: String(at.step), weights: at.kind }, path);
  await writeFileAtomic(path, bytes);
  return bytes.byteLength;
}
