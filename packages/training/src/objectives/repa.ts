import { Rng, tf } from '@difflab/core-tensor';
import { fashionMnistManifest } from '@difflab/data';
import { poolTokenGrid, repaAlignmentLoss, spatialNormalizeTokens } from '@difflab/losses';
import type { DiTConfig } from '@difflab/models';
import { ConfigError, type Denoiser, type TrainConfig } from '@difflab/runs';
import type { Objective, ObjectiveContext, ObjectiveValue } from '../objective.js';
import { gatherTokens, readEncoderTokens, type EncoderTokens } from './repa-tokens.js';

export type RepaProjectorKind = 'mlp' | 'conv';

export interface RepaSettings {
  /** Weight λ of the alignment term. */
  lambda: number;
  /** The aligned block, 1-based (block k's output, as the paper's "depth k"). */
  block: number;
  projector: RepaProjectorKind;
  /** mlp only: hidden width. */
  hidden: number;
  /** iREPA's spatial normalisation of the teacher tokens. */
  spatialNorm: boolean;
  /** HASTE: no alignment from this 1-based step on. */
  stopStep?: number;
}

/** The projector h_φ: model tokens [B, N, D] on a g×g grid → [B, N, encoder dim]. Its weights are the objective's trainables. */
export interface RepaProjector {
  readonly params: Record<string, tf.Variable>;
  apply(tokens: tf.Tensor3D, grid: number): tf.Tensor3D;
}

/** Name prefix of the projector's weights in the optimizer state and objective.safetensors. */
const PREFIX = 'repa.projector';

/**
 * PyTorch's default nn.Linear / nn.Conv2d init (what REPA's projector gets): weight and bias ~ U(±1/√fan_in).
 * Weights are stored [in, out] (linear) and [kh, kw, in, out] (conv), as the rest of the repo stores them.
 */
function uniformVariable(rng: Rng, shape: number[], fanIn: number): tf.Variable {
  const bound = 1 / Math.sqrt(fanIn);
  const init = tf.tensor(rng.uniformArray(shape.reduce((a, b) => a * b, 1), -bound, bound), shape, 'float32');
  const v = tf.variable(init, true);
  init.dispose();
  return v;
}

/**
 * REPA's MLP projector, Linear(D→h)–SiLU–Linear(h→h)–SiLU–Linear(h→C), per token (REPA's build_mlp), or
 * iREPA's single 3×3 convolution over the token grid ('same' padding), which lets a target token see its
 * neighbours' hidden states.
 */
export function createRepaProjector(kind: RepaProjectorKind, dims: { model: number; hidden: number; encoder: number }, rng: Rng): RepaProjector {
  const { model: d, hidden: h, encoder: c } = dims;
  const params: Record<string, tf.Variable> = {};
  const add = (name: string, shape: number[], fanIn: number) => {
    params[`${PREFIX}.${name}`] = uniformVariable(rng, shape, fanIn);
  };
  if (kind === 'mlp') {
    const layers: [number, number][] = [[d, h], [h, h], [h, c]];
    layers.forEach(([i, o], k) => {
      add(`${2 * k}.weight`, [i, o], i);
      add(`${2 * k}.bias`, [o], i);
    });
    return {
      params,
      apply: (tokens) =>
        tf.tidy(() => {
          const [b, n] = tokens.shape;
          let x: tf.Tensor2D = tf.reshape(tokens, [b * n, d]);
          for (let k = 0; k < 3; k++) {
            x = tf.add(tf.matMul(x, params[`${PREFIX}.${2 * k}.weight`]!), params[`${PREFIX}.${2 * k}.bias`]!);
            if (k < 2) x = tf.mul(x, tf.sigmoid(x));
          }
          return tf.reshape(x, [b, n, c]) as tf.Tensor3D;
        }),
    };
  }
  add('conv.weight', [3, 3, d, c], 9 * d);
  add('conv.bias', [c], 9 * d);
  return {
    params,
    apply: (tokens, grid) =>
      tf.tidy(() => {
        const [b, n] = tokens.shape;
        if (n !== grid * grid) throw new RangeError(`conv projector: ${n} tokens are not a ${grid}×${grid} grid`);
        const image = tf.reshape(tokens, [b, grid, grid, d]) as tf.Tensor4D;
        const out = tf.add(tf.conv2d(image, params[`${PREFIX}.conv.weight`] as tf.Tensor4D, 1, 'same'), params[`${PREFIX}.conv.bias`]!);
        return tf.reshape(out, [b, n, c]) as tf.Tensor3D;
      }),
  };
}

/**
 * REPA around a base objective: L = L_base + λ·L_REPA, L_REPA = −mean over patch tokens of
 * cos(h_φ(tokens after block k), encoder tokens of the batch's images). The base objective runs unchanged
 * (same draws in the same order) on a model whose forward also hands block k's tokens over, so the
 * alignment sees exactly the x_t, t and labels the denoising loss saw. The DiT grid's tokens are projected,
 * then average-pooled to the encoder's grid when that is coarser. From `stopStep` on (HASTE) only the
 * base loss runs and the projector gets no gradient, so AdamW leaves it and its moments alone.
 */
export function repaObjective(base: Objective, model: Denoiser, teacher: EncoderTokens, settings: RepaSettings, rng: Rng): Objective {
  if (model.architecture !== 'dit') throw new ConfigError(`repa: aligns a DiT's block tokens; this model is a ${model.architecture}`);
  const config = model.config as DiTConfig;
  if (!(Number.isInteger(settings.block) && settings.block >= 1 && settings.block <= config.depth)) {
    throw new ConfigError(`repa.block: ${settings.block} is not a block of this model; blocks count from 1 to model.depth (${config.depth})`);
  }
  const grid = config.inputSize / config.patchSize;
  const teacherGrid = teacher.meta.grid;
  if (grid % teacherGrid !== 0) {
    throw new ConfigError(`repa.encoder: the encoder's ${teacherGrid}×${teacherGrid} token grid does not divide the DiT's ${grid}×${grid} (model.patchSize ${config.patchSize}); use a patch size giving a multiple of ${teacherGrid} tokens per side`);
  }
  const projector = createRepaProjector(settings.projector, { model: config.hiddenSize, hidden: settings.hidden, encoder: teacher.meta.dim }, rng);
  const tap = settings.block - 1;
  const tokensPerImage = teacherGrid * teacherGrid;

  const aligned = (ctx: ObjectiveContext): boolean => {
    if (settings.lambda === 0) return false;
    if (settings.stopStep === undefined) return true;
    if (ctx.step === undefined) throw new Error('repa.stopStep: the objective needs ObjectiveContext.step (trainStep sets it)');
    return ctx.step < settings.stopStep;
  };

  return {
    name: `${base.name}+repa`,
    params: {
      ...base.params,
      'objective.repa.encoder': teacher.meta.encoder,
      'objective.repa.encoderDir': teacher.dir,
      'objective.repa.encoderDim': teacher.meta.dim,
      'objective.repa.lambda': settings.lambda,
      'objective.repa.block': settings.block,
      'objective.repa.projector': settings.projector,
      ...(settings.projector === 'mlp' ? { 'objective.repa.hidden': settings.hidden } : {}),
      'objective.repa.projectorParams': Object.values(projector.params).reduce((s, v) => s + v.size, 0),
      'objective.repa.spatialNorm': settings.spatialNorm,
      ...(settings.stopStep !== undefined ? { 'objective.repa.stopStep': settings.stopStep } : {}),
    },
    trainable: projector.params,
    loss(ctx): ObjectiveValue {
      if (!aligned(ctx)) return base.loss(ctx);
      if (!ctx.indices) throw new Error('repa: the batch has no example indices (FloatBatch.indices), so its encoder tokens cannot be looked up');
      const seen: { hidden?: tf.Tensor3D; forwards: number } = { forwards: 0 };
      const tapped: Denoiser = {
        ...ctx.model,
        forward: (x, t, y, opts) =>
          ctx.model.forward(x, t, y, {
            ...opts,
            onBlock: (i, h) => {
              opts?.onBlock?.(i, h);
              if (i !== tap) return;
              seen.forwards++;
              if (seen.hidden) seen.hidden.dispose();
              // Kept past the forward's tidy; still on the gradient tape.
              seen.hidden = tf.keep(h);
            },
          }),
      };
      const inner = base.loss({ ...ctx, model: tapped });
      const h = seen.hidden;
      if (seen.forwards !== 1 || !h) {
        h?.dispose();
        throw new Error(`repa: the base objective '${base.name}' ran the model ${seen.forwards} times in one loss; REPA aligns the one training forward`);
      }
      const b = ctx.indices.length;
      const target = tf.tidy(() => {
        const t = tf.tensor3d(gatherTokens(teacher, ctx.indices!), [b, tokensPerImage, teacher.meta.dim]);
        return settings.spatialNorm ? spatialNormalizeTokens(t) : t;
      });
      const projected = projector.apply(h, grid);
      const pooled = poolTokenGrid(projected, grid, teacherGrid);
      const alignment = repaAlignmentLoss(pooled, target);
      const loss = tf.add(inner.loss, tf.mul(alignment, settings.lambda)) as tf.Scalar;
      tf.dispose([h, target, projected, pooled]);
      return { loss, terms: { ...inner.terms, base_loss: inner.loss, repa_align: alignment } };
    },
    dispose() {
      tf.dispose(Object.values(projector.params));
      base.dispose();
    },
  };
}

/** Builds REPA from the config's repa section around the base objective `base` (already built from train.objective / diffusion.*). */
export function repaFromConfig(cfg: TrainConfig, model: Denoiser, base: Objective): Objective {
  const r = cfg.repa;
  if (!r) throw new ConfigError('repa: the config has no repa section');
  if (model.architecture !== 'dit') throw new ConfigError(`repa: aligns a DiT's block tokens; model.preset '${cfg.model.preset}' is a ${model.architecture}`);
  const teacher = readEncoderTokens(r.encoder);
  const pad32 = cfg.data.dataset === 'fashion-mnist' ? cfg.data.pad32 : false;
  if (teacher.meta.dataset !== cfg.data.dataset || teacher.meta.pad32 !== pad32) {
    throw new ConfigError(
      `repa.encoder: ${r.encoder} holds tokens of ${teacher.meta.dataset} (pad32 ${teacher.meta.pad32}), but this run trains on ${cfg.data.dataset} (data.pad32 ${pad32}); use a cache of the run's own images`,
    );
  }
  // Refused here, not at the first batch that draws an uncached row: the run sees indices 0..seen−1 of the split.
  const seen = cfg.data.trainExamples ?? (cfg.data.dataset === 'fashion-mnist' ? fashionMnistTrainCount() : undefined);
  if (seen !== undefined && seen > teacher.meta.count) {
    throw new ConfigError(
      `repa.encoder: ${r.encoder} holds the tokens of the first ${teacher.meta.count} training images, but this run trains on ${seen} ` +
        `(data.trainExamples ${cfg.data.trainExamples ?? 'unset: the whole split'}); set data.trainExamples ≤ ${teacher.meta.count} or encode at least ${seen} images into the cache`,
    );
  }
  const d = (model.config as DiTConfig).hiddenSize;
  // A separate stream, so REPA leaves the model's init and the training draws as they are without it.
  const projectorRng = new Rng((cfg.seed + 0x5e9a) >>> 0);
  return repaObjective(
    base,
    model,
    teacher,
    { lambda: r.lambda, block: r.block, projector: r.projector, hidden: r.hidden ?? 4 * d, spatialNorm: r.spatialNorm, ...(r.stopStep !== undefined ? { stopStep: r.stopStep } : {}) },
    projectorRng,
  );
}

function fashionMnistTrainCount(): number {
  const f = fashionMnistManifest.files.find((x) => x.split === 'train' && x.kind === 'images');
  if (!f) throw new Error('datasets/fashion-mnist.json lists no training images file');
  return f.count;
}
