import { z } from 'zod';
import { ConfigError, loadConfigFile, parseConfig } from './config-file.js';
import { FINE_TUNE_METHODS, ditConfig, type FineTuneMethod } from '@difflab/models';
import { modelConfigSchema, type ModelConfigInput } from './model-config.js';
import { resolveModelConfig } from './model.js';

export { ConfigError } from './config-file.js';
export { pruningSpecSchema } from './model-config.js';

/**
 * A training config as the user writes it. Every field has a default except where a choice
 * matters for the result, so a config file names what the experiment is about.
 */
const trainConfigObject = z
  .object({
    // The run directory defaults to runs/<name>: a name must be one path segment that stays inside runs/.
    name: z
      .string()
      .regex(/^[\w.-]+$/, 'use letters, digits, ".", "_" or "-" (the name is one directory under runs/, so no "/", "\\" or spaces)')
      .refine((n) => !/^\.+$/.test(n), 'a name of only dots would put the run outside runs/; use letters, digits, ".", "_" or "-", e.g. "dit-small"')
      .default('dit'),
    seed: z.number().int().nonnegative().default(0),
    data: z
      .object({
        /**
         * Resolved to arrays by datasetFor (src/dataset.ts). spoken-digits-mel: the spoken-digits corpus as
         * 64 × 64 × 1 log-mel images (@difflab/metrics' loadSpokenDigitsMel), labelled by digit.
         */
        dataset: z.enum(['fashion-mnist', 'spoken-digits-mel']).default('fashion-mnist'),
        /** fashion-mnist: pad 28×28 to 32×32 so patch sizes 2, 4 and 8 divide the image. Ignored by spoken-digits-mel. */
        pad32: z.boolean().default(true),
        /** spoken-digits-mel: the corpus directory (manifest.jsonl + wav/); default experiments/spoken-digits/data. */
        dir: z.string().min(1).optional(),
        /**
         * Train on the first this many training images only (split order; the test split is untouched): a smoke
         * run whose per-example caches (REPA's encoder tokens) cover only those. Default: the whole split.
         */
        trainExamples: z.number().int().positive().optional(),
        /**
         * Train only on images of these labels (e.g. the 9 classes of a held-out-class base run, or the new class
         * of a few-shot fine-tune); the held-out loss then uses the test images of these labels. Default: all.
         */
        classes: z.array(z.number().int().nonnegative()).nonempty().optional(),
        /** Train on the first this many training images of each selected class, in split order (deterministic). Default: all. */
        perClass: z.number().int().positive().optional(),
      })
      .strict()
      .default({ dataset: 'fashion-mnist', pad32: true }),
    model: modelConfigSchema,
    /** Start from a trained run's weights instead of a random init; with model.prune they are pruned first. */
    init: z
      .object({
        /** Run directory of the source run (its config.json must give the unpruned architecture of this one). */
        from: z.string().min(1),
        weights: z.enum(['ema', 'raw']).default('ema'),
      })
      .strict()
      .optional(),
    /**
     * Fine-tune the DiT of the run init.from names with one method: 'full' trains every weight (init.from's plain
     * path), the others train a small adapter on the frozen base (@difflab/models' PEFT methods; options as there).
     * Checkpoints then hold the trained tensors only; see the runs README, "Fine-tuning runs".
     */
    finetune: z
      .object({
        method: z.enum(FINE_TUNE_METHODS),
        /** lora: rank r of every update (default 8). */
        rank: z.number().int().positive().optional(),
        /** lora: the update is scaled by alpha / rank (default alpha = rank). */
        alpha: z.number().positive().optional(),
        /** lora, svdiff: linear layers to adapt, by name or '.'-suffix ('attn.qkv'); default lora ['attn.qkv', 'attn.proj'], svdiff every linear layer in the blocks. */
        targets: z.array(z.string().min(1)).nonempty().optional(),
        /** houlsby: bottleneck width m (default 64). */
        bottleneck: z.number().int().positive().optional(),
        /** prefix: prefix tokens per layer L (default 10). */
        length: z.number().int().nonnegative().optional(),
        /** houlsby, prefix: standard deviation of the random initial values (default 0.02). */
        initStd: z.number().positive().optional(),
        /**
         * A class the base never trained on (held out of its data.classes): its row of the label embedding table
         * trains too, as one more adapter tensor (every method; 'full' trains the whole table anyway).
         */
        newClass: z.number().int().nonnegative().optional(),
      })
      .strict()
      .optional(),
    /**
     * BK-SDM distillation (U-Net only): L = task·‖ε − ε_S‖² + output·‖ε_T − ε_S‖² + feature·Σ‖f_T − f_S‖²
     * with the frozen teacher from a trained run whose architecture, pruned by model.prune, is this model's.
     */
    distill: z
      .object({
        teacher: z.string().min(1),
        weights: z.enum(['ema', 'raw']).default('ema'),
        task: z.number().nonnegative().default(1),
        output: z.number().nonnegative().default(1),
        feature: z.number().nonnegative().default(1),
        /** Also distil the mid block's output when both models have one (BK-SDM does not). */
        includeMid: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * REPA (Yu et al. 2024): L = L_base + lambda·L_REPA, L_REPA = −mean over patch tokens of cos(h_φ(tokens after
     * block `block`), encoder token), the encoder's tokens read from a cached artifact; h_φ trains with the model
     * (same AdamW), is saved in the checkpoint's objective.safetensors and never used at sampling. The base loss
     * is train.objective's (or the one diffusion.* implies). DiT models only.
     */
    repa: z
      .object({
        /** Directory of an encoder's cached training-set tokens (tokens.npy + tokens.json, e.g. experiments/repa-encoders/artifacts/mae). */
        encoder: z.string().min(1),
        /** Weight λ of the alignment term; REPA uses 0.5. */
        lambda: z.number().nonnegative().default(0.5),
        /** Which block's output is aligned, 1-based as in the paper's "depth 8" (after block 8 of SiT-XL's 28): 1..model.depth. */
        block: z.number().int().positive(),
        /** 'mlp': Linear(D→hidden)–SiLU–Linear(hidden→hidden)–SiLU–Linear(hidden→encoder dim) per token (REPA). 'conv': one 3×3 convolution on the token grid (iREPA). */
        projector: z.enum(['mlp', 'conv']).default('mlp'),
        /** mlp only: the projector's hidden width; default 4 × the model's hidden size (REPA: 2048 for SiT's 1152). */
        hidden: z.number().int().positive().optional(),
        /** iREPA: normalise each teacher channel over the token grid per image ((x − mean) / (std + 1e-6)) before the cosine. */
        spatialNorm: z.boolean().default(false),
        /** HASTE: the alignment term is off from this optimizer step (1-based) on; the projector then stops changing. */
        stopStep: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    /**
     * ESD (Gandikota et al. 2023, "Erasing Concepts from Diffusion Models"): fine-tune the base DiT of init.from
     * (finetune: { method: 'full' }) so that its prediction for class `concept` becomes the frozen base's
     * ε*(c) − eta·(ε*(c) − ε*(∅)), at x_t drawn by sampling the frozen base with that label partway from noise;
     * `train` picks which of the base's weights move. Implies train.objective 'esd'. See docs/adapt-erase.md.
     */
    esd: z
      .object({
        /** The class to erase: a label of the model, 0..numClasses − 1 (numClasses is the null class ∅). */
        concept: z.number().int().nonnegative(),
        /** Negative-guidance scale η; 1 (the paper's) makes ε_θ(c) the frozen model's unconditional prediction. */
        eta: z.number().min(0, 'the negative-guidance scale η must be ≥ 0 (1 is the paper’s; 0 trains toward the unchanged model)').default(1),
        /** Steps of the sampler that draws x_t (DDIM, η = 0, for ddpm; Euler for flow); default 50 (ddpm, the reference's) or 25 (flow). */
        samplerSteps: z.number().int().positive().optional(),
        /** Classifier-free guidance scale of that sampling; default sample.cfgScale (how the run and its evaluation sample). */
        guidance: z.number().nonnegative().optional(),
        /**
         * 'conditioning' (our ESD-x): the label embedding table and the conditioning path (adaLN designs: every adaLN
         * modulation linear; cross-attention design: the cross-attention layers). 'unconditioning' (our ESD-u): every other weight.
         */
        train: z.enum(['conditioning', 'unconditioning']),
      })
      .strict()
      .optional(),
    diffusion: z
      .object({
        /**
         * 'ddpm': the discrete variance-preserving process x_t = √ᾱ_t·x + √(1−ᾱ_t)·ε over `timesteps` steps of
         * `schedule`. 'flow': rectified flow, x_t = (1−t)·x + t·ε with continuous t ∈ [0, 1], the model
         * predicting the velocity ε − x (SiT, LightningDiT); schedule and timesteps do not apply.
         */
        process: z.enum(['ddpm', 'flow']).default('ddpm'),
        /** ddpm only: what the model outputs, ε (DDPM, DiT) or v = √ᾱ·ε − √(1−ᾱ)·x (Salimans & Ho). Default 'epsilon'. */
        prediction: z.enum(['epsilon', 'v']).optional(),
        schedule: z.enum(['linear', 'cosine']).default('linear'),
        timesteps: z.number().int().min(2).default(1000),
      })
      .strict()
      .default({ process: 'ddpm', schedule: 'linear', timesteps: 1000 }),
    train: z
      .object({
        steps: z.number().int().positive(),
        batchSize: z.number().int().positive(),
        lr: z.number().positive(),
        warmupSteps: z.number().int().nonnegative().default(0),
        /** After warm-up: 'constant' (DiT) or 'cosine' decay to 0 at the last step (better samples from short runs). */
        lrSchedule: z.enum(['constant', 'cosine']).default('constant'),
        weightDecay: z.number().nonnegative().default(0),
        beta1: z.number().min(0).lt(1).default(0.9),
        beta2: z.number().min(0).lt(1).default(0.999),
        /** Global-norm gradient clipping; 0 turns it off. */
        gradClip: z.number().nonnegative().default(1),
        emaDecay: z.number().min(0).max(1).default(0.9999),
        /**
         * Update n uses min(emaDecay, (1 + n) / (10 + n)), as diffusers' EMAModel does by default, so the
         * average forgets the random init in short runs; false = emaDecay from the first step (DiT).
         */
        emaWarmup: z.boolean().default(false),
        /**
         * What the model is trained to minimise: a name from @difflab/training's objectives ('epsilon', 'distillation', …).
         * Default: 'distillation' when a distill section is given, 'esd' with an esd section, else as diffusion.* says.
         */
        objective: z.string().min(1).optional(),
        /**
         * Weight λ of improved DDPM's L_vlb (bits/dim) in DiT's hybrid loss L_simple + λ·L_vlb, which trains the
         * variance channels of a model.learnSigma model. Default 1 (DiT) with learnSigma, else 0; needs learnSigma when > 0.
         */
        vlbWeight: z.number().nonnegative().optional(),
        /**
         * flow only: how training draws t. 'uniform' on [0, 1], or 'logit-normal': t = sigmoid(n), n ~ N(timeMean, timeStd²)
         * (SD3, LightningDiT), which spends the steps on intermediate noise levels. Default 'uniform'.
         */
        timeSampling: z.enum(['uniform', 'logit-normal']).optional(),
        timeMean: z.number().optional(),
        timeStd: z.number().positive().optional(),
        /** flow only: weight of FasterDiT's velocity-direction term 1 − cos(v̂, v) added to the MSE (LightningDiT uses 1). Default 0. */
        velocityDirectionWeight: z.number().nonnegative().optional(),
        /**
         * Precision of the matrix products while training (native backend): 'fp32' (default), or 'bf16' — both operands
         * of every dense layer, convolution and batched matmul rounded to bfloat16, fp32 accumulation, with fp32
         * weights, gradients, optimizer state and EMA (as PyTorch's CPU autocast). Needs AVX512-BF16; refused elsewhere.
         * Absent = 'fp32' (kept optional so that existing configs hash as before).
         */
        precision: z.enum(['fp32', 'bf16']).optional(),
        /**
         * Library of the fp32 matrix products while training (native backend): 'blas' (default; OpenBLAS, the arithmetic
         * of every result committed before the choice existed) or 'onednn' — oneDNN's JIT matmul, faster on the DiT's shapes
         * (docs/benchmarks.md), the same products up to fp32 rounding in another summation order. Needs the addon built with
         * oneDNN (Debian libdnnl-dev; tools/setup.sh installs it); refused elsewhere. bf16 products always use oneDNN.
         * Absent = 'blas' (optional so that existing configs hash as before).
         */
        matmul: z.enum(['blas', 'onednn']).optional(),
      })
      .strict(),
    checkpoint: z
      .object({ every: z.number().int().positive().default(500) })
      .strict()
      .default({ every: 500 }),
    log: z
      .object({ every: z.number().int().positive().default(10) })
      .strict()
      .default({ every: 10 }),
    eval: z
      .object({
        /** Test images used for the held-out denoising loss at the end of the run. */
        heldoutExamples: z.number().int().positive().default(1000),
      })
      .strict()
      .default({ heldoutExamples: 1000 }),
    sample: z
      .object({
        /** Write a grid every this many steps (and always at the end); 0 = only at the end. */
        every: z.number().int().nonnegative().default(0),
        /**
         * ddpm process: 'ddim' (default) or 'ddpm' (ancestral). flow process: 'euler' (default) or 'heun' (ODE),
         * or 'sde' (Euler–Maruyama on the reverse SDE with the same marginals).
         */
        sampler: z.enum(['ddim', 'ddpm', 'euler', 'heun', 'sde']).optional(),
        /** Model evaluations per image without guidance (heun: two per step but the last, so steps counts evaluations too). */
        steps: z.number().int().positive().default(50),
        cfgScale: z.number().nonnegative().default(2),
        /** DDIM's η (0 = deterministic); ddim only. */
        eta: z.number().nonnegative().optional(),
        /** Clip the predicted x_0 to [−1, 1]; default true (pixel-space data). */
        clipDenoised: z.boolean().optional(),
        perClass: z.number().int().positive().default(8),
        /** Sample with the EMA weights (as DiT does) rather than the raw weights. */
        useEma: z.boolean().default(true),
      })
      .strict()
      .default({ every: 0, steps: 50, cfgScale: 2, perClass: 8, useEma: true }),
  })
  .strict();

export const trainConfigSchema = trainConfigObject
  .superRefine(checkProcessFields)
  .superRefine(checkDataSelection)
  .superRefine(checkFineTune)
  .superRefine(checkEsd);

/** Labels of each dataset (data.classes must be among them). */
export const DATASET_CLASSES: Readonly<Record<TrainConfig['data']['dataset'], number>> = { 'fashion-mnist': 10, 'spoken-digits-mel': 10 };

function checkDataSelection(cfg: z.output<typeof trainConfigObject>, ctx: z.RefinementCtx): void {
  const classes = cfg.data.classes;
  if (!classes) return;
  const count = DATASET_CLASSES[cfg.data.dataset];
  const outside = classes.filter((c) => c >= count);
  if (outside.length > 0) {
    ctx.addIssue({ code: 'custom', path: ['data', 'classes'], message: `${outside.join(', ')} ${outside.length > 1 ? 'are' : 'is'} not a label of ${cfg.data.dataset}, whose labels are 0..${count - 1}` });
  }
  const repeated = classes.filter((c, i) => classes.indexOf(c) !== i);
  if (repeated.length > 0) ctx.addIssue({ code: 'custom', path: ['data', 'classes'], message: `lists ${[...new Set(repeated)].join(', ')} more than once; list each class once` });
}

/** The options each fine-tuning method takes (newClass goes with every method). */
const FINETUNE_OPTIONS: Readonly<Record<FineTuneMethod, readonly string[]>> = {
  full: [],
  lora: ['rank', 'alpha', 'targets'],
  houlsby: ['bottleneck', 'initStd'],
  prefix: ['length', 'initStd'],
  svdiff: ['targets'],
};

function checkFineTune(cfg: z.output<typeof trainConfigObject>, ctx: z.RefinementCtx): void {
  const ft = cfg.finetune;
  const refuse = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (!ft) {
    if (cfg.init && cfg.model.architecture === 'dit') {
      refuse(['init'], "a DiT starts from a trained run as a fine-tune: add finetune: { method: 'full' } to train every weight, or a parameter-efficient method (lora, houlsby, prefix, svdiff)");
    }
    return;
  }
  const own = FINETUNE_OPTIONS[ft.method];
  for (const [option, value] of Object.entries(ft)) {
    if (value === undefined || option === 'method' || option === 'newClass' || own.includes(option)) continue;
    const takers = FINE_TUNE_METHODS.filter((m) => FINETUNE_OPTIONS[m].includes(option));
    refuse(['finetune', option], `is an option of method ${takers.map((m) => `'${m}'`).join(' and ')}; method '${ft.method}' takes ${own.length ? own.join(', ') : 'no options'} (and newClass); remove it or change finetune.method`);
  }
  if (!cfg.init) refuse(['finetune'], "needs the base run to fine-tune: set init.from to its run directory (e.g. init: { from: 'runs/base' })");
  if (cfg.model.architecture !== 'dit') {
    refuse(['finetune'], `adapts a DiT; model '${cfg.model.preset}' is a U-Net (a U-Net starts from a trained run through init.from alone, without finetune)`);
    return;
  }
  if (ft.newClass !== undefined) {
    const { numClasses } = ditConfig(cfg.model.preset); // not a model field: the preset decides it
    if (ft.newClass >= numClasses) refuse(['finetune', 'newClass'], `${ft.newClass} is not a class of the model, whose labels are 0..${numClasses - 1}`);
    else if (cfg.data.classes && !cfg.data.classes.includes(ft.newClass)) {
      refuse(['finetune', 'newClass'], `class ${ft.newClass} is not in data.classes [${cfg.data.classes.join(', ')}], so it would never be trained; add it there`);
    }
  }
}

/** ESD fine-tunes a class-conditional DiT's own weights from its base run; what it cannot erase from is refused here. */
function checkEsd(cfg: z.output<typeof trainConfigObject>, ctx: z.RefinementCtx): void {
  const esd = cfg.esd;
  if (!esd) return;
  const refuse = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (cfg.model.architecture !== 'dit') {
    refuse(['esd'], `erases a class from a class-conditional DiT; model '${cfg.model.preset}' is a U-Net; use a DiT base run`);
    return;
  }
  if (!cfg.init || !cfg.finetune) {
    refuse(['esd'], "fine-tunes a trained base: set init.from to the base run and finetune: { method: 'full' } (esd.train picks the weights that move)");
  } else if (cfg.finetune.method !== 'full') {
    refuse(['finetune', 'method'], `'${cfg.finetune.method}' trains an adapter, but esd trains a subset of the base's own weights (esd.train); set finetune.method: 'full'`);
  }
  if (cfg.finetune?.newClass !== undefined) refuse(['finetune', 'newClass'], 'teaches a new class, esd erases one; remove finetune.newClass');
  if (cfg.repa) refuse(['repa'], "ESD's x_t are sampled from the frozen model, not data, so there are no encoder tokens to align; remove repa or esd");
  if (cfg.distill) refuse(['distill'], 'ESD and BK-SDM distillation are different objectives; remove distill or esd');
  if (cfg.train.objective !== undefined && cfg.train.objective !== 'esd') {
    refuse(['train', 'objective'], `is '${cfg.train.objective}', but an esd section trains the 'esd' objective; remove train.objective or the esd section`);
  }
  const resolved = resolveModelConfig(cfg.model);
  if (resolved.architecture !== 'dit') return;
  const model = resolved.config;
  if (esd.concept === model.numClasses) {
    refuse(['esd', 'concept'], `${esd.concept} is the null class ∅ (label numClasses = ${model.numClasses}), the unconditional prediction ESD steers toward; erase a class 0..${model.numClasses - 1}`);
  } else if (esd.concept > model.numClasses) {
    refuse(['esd', 'concept'], `${esd.concept} is not a class of the model, whose labels are 0..${model.numClasses - 1}`);
  }
  if (!(model.classDropoutProb > 0)) {
    refuse(['model', 'classDropoutProb'], "is 0, so the base never learned the null class ∅ that ESD's target needs (ε*(∅)); erase from a base trained with label dropout (classDropoutProb > 0)");
  }
  if (model.block === 'in-context') {
    refuse(['model', 'block'], "'in-context' feeds the label as a token that every self-attention reads, so it has no conditioning path apart from the label table to split esd.train by; erase from an adaLN-Zero, adaLN or cross-attention base");
  }
  if (esd.samplerSteps !== undefined) {
    const flow = cfg.diffusion.process === 'flow';
    const [low, high] = flow ? [1, Infinity] : [2, cfg.diffusion.timesteps];
    if (esd.samplerSteps < low || esd.samplerSteps > high) {
      refuse(['esd', 'samplerSteps'], `${esd.samplerSteps} is outside ${flow ? 'the Euler sampler’s ≥ 1' : `DDIM's [2, diffusion.timesteps = ${high}]`}; the reference uses 50`);
    }
  }
}

const DDPM_SAMPLERS = ['ddim', 'ddpm'];
const FLOW_SAMPLERS = ['euler', 'heun', 'sde'];

/** Fields that belong to one diffusion process are refused under the other, naming the field and the fix. */
function checkProcessFields(cfg: z.output<typeof trainConfigObject>, ctx: z.RefinementCtx): void {
  const flow = cfg.diffusion.process === 'flow';
  const refuse = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (flow) {
    if (cfg.diffusion.prediction !== undefined) refuse(['diffusion', 'prediction'], "a flow model always predicts the velocity ε − x; remove diffusion.prediction or set diffusion.process: 'ddpm'");
    if (cfg.train.vlbWeight !== undefined) refuse(['train', 'vlbWeight'], "L_vlb belongs to the ddpm process; remove train.vlbWeight or set diffusion.process: 'ddpm'");
    if (cfg.sample.sampler !== undefined && !FLOW_SAMPLERS.includes(cfg.sample.sampler)) refuse(['sample', 'sampler'], `'${cfg.sample.sampler}' samples the ddpm process; a flow model uses ${FLOW_SAMPLERS.join(', ')}`);
    if ('learnSigma' in cfg.model && cfg.model.learnSigma) refuse(['model', 'learnSigma'], "learned variances belong to the ddpm process; remove model.learnSigma or set diffusion.process: 'ddpm'");
    if (cfg.sample.clipDenoised) refuse(['sample', 'clipDenoised'], 'a flow sampler has no x̂_0 step to clip; remove sample.clipDenoised');
    if (cfg.sample.eta !== undefined) refuse(['sample', 'eta'], "eta is DDIM's; a flow model's stochastic sampler is sample.sampler: 'sde'");
  } else {
    for (const field of ['timeSampling', 'timeMean', 'timeStd', 'velocityDirectionWeight'] as const) {
      if (cfg.train[field] !== undefined) refuse(['train', field], `applies to diffusion.process 'flow' only; remove it or set diffusion.process: 'flow'`);
    }
    if (cfg.sample.sampler !== undefined && !DDPM_SAMPLERS.includes(cfg.sample.sampler)) refuse(['sample', 'sampler'], `'${cfg.sample.sampler}' samples a flow model; the ddpm process uses ${DDPM_SAMPLERS.join(', ')} (or set diffusion.process: 'flow')`);
  }
  if (cfg.repa) {
    if (cfg.repa.projector === 'conv' && cfg.repa.hidden !== undefined) refuse(['repa', 'hidden'], "is the mlp projector's width; the conv projector has none; remove repa.hidden or set repa.projector: 'mlp'");
    if (cfg.distill) refuse(['repa'], 'REPA wraps a denoising objective, not BK-SDM distillation; remove repa or distill');
    if (cfg.model.architecture === 'unet') refuse(['repa'], "aligns a DiT's block tokens; a U-Net has none; remove repa or use a DiT preset");
    if ('depth' in cfg.model && cfg.model.depth !== undefined && cfg.repa.block > cfg.model.depth) {
      refuse(['repa', 'block'], `${cfg.repa.block} is past the model's last block (model.depth ${cfg.model.depth}); blocks count from 1`);
    }
  }
  if (cfg.train.timeSampling !== 'logit-normal') {
    for (const field of ['timeMean', 'timeStd'] as const) {
      if (cfg.train[field] !== undefined) refuse(['train', field], "parametrises train.timeSampling: 'logit-normal' only; remove it or set that");
    }
  }
}

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type { DiTModelConfig, ModelConfig, ModelConfigInput, UNetModelConfig } from './model-config.js';
/** A config as written: the model's `architecture` may be left to its preset. */
export type TrainConfigInput = Omit<z.input<typeof trainConfigSchema>, 'model'> & { model: ModelConfigInput };

/** Validates a parsed config; the error lists every bad field by its dotted path. */
export function parseTrainConfig(raw: unknown, source = 'config'): TrainConfig {
  return parseConfig(trainConfigSchema, raw, 'training config', source);
}

export function loadTrainConfig(path: string): TrainConfig {
  return loadConfigFile(trainConfigSchema, path, 'training config');
}

/** One `--set key=value` of the command line: a dotted path into the config and the value to put there. */
export interface ConfigOverride {
  /** Dotted path, e.g. `train.lr`. */
  key: string;
  value: unknown;
  /** As the user wrote it, for messages and for recording with the run. */
  spec: string;
}

// Path segments that would write through to Object.prototype instead of into the config.
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * Parses `key=value` specs. The value is JSON when it parses as JSON (`3e-4`, `true`, `[1,2]`, `"7"`),
 * else the raw text, so `--set model.preset=DiT-FMNIST-S/4` needs no shell-escaped quotes.
 */
export function parseOverrides(specs: readonly string[]): ConfigOverride[] {
  return specs.map((spec) => {
    const eq = spec.indexOf('=');
    const key = eq < 0 ? '' : spec.slice(0, eq);
    const segments = key.split('.');
    if (eq <= 0 || segments.some((s) => s === '')) {
      throw new ConfigError(`--set ${spec}: expected KEY=VALUE with a dotted KEY, e.g. --set train.lr=3e-4`);
    }
    const bad = segments.find((s) => FORBIDDEN_SEGMENTS.has(s));
    if (bad) throw new ConfigError(`--set ${spec}: '${bad}' is not a config field`);
    const text = spec.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // Not JSON: keep it as a string (zod names the field if a string is not allowed there).
    }
    return { key, value, spec };
  });
}

/** A copy of `raw` with each override written at its dotted path (intermediate objects created as needed). */
export function applyOverrides(raw: unknown, overrides: readonly ConfigOverride[], source = 'config'): unknown {
  if (overrides.length === 0) return raw;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`--set needs a JSON object in ${source}, which holds ${Array.isArray(raw) ? 'an array' : typeof raw}`);
  }
  const root = structuredClone(raw) as Record<string, unknown>;
  for (const { key, value, spec } of overrides) {
    const segments = key.split('.');
    let node = root;
    for (const [i, segment] of segments.slice(0, -1).entries()) {
      const next = node[segment];
      if (next === undefined) node[segment] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
        const at = segments.slice(0, i + 1).join('.');
        throw new ConfigError(`--set ${spec}: ${at} in ${source} is ${JSON.stringify(next)}, not an object, so it has no field '${segments[i + 1]}'`);
      }
      node = node[segment] as Record<string, unknown>;
    }
    node[segments.at(-1)!] = value;
  }
  return root;
}

/**
 * Reads a training config and applies `--set` overrides before validating, so an override is checked
 * exactly as the same value in the file would be. A bad field set by an override is marked with the
 * `--set` that put it there.
 */
export function loadTrainConfigWithOverrides(path: string, specs: readonly string[]): TrainConfig {
  const overrides = parseOverrides(specs);
  if (overrides.length === 0) return loadTrainConfig(path);
  // The one loader reads and JSON-parses (with its messages); the schema check comes after the overrides.
  const raw = applyOverrides(loadConfigFile(z.unknown(), path, 'training config'), overrides, path);
  const result = trainConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const field = issue.path.join('.');
    // An unknown key is reported at its parent; match the override against the key's own path.
    const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k].join('.')) : [field];
    const from = overrides.filter((o) => paths.some((p) => o.key === p || o.key.startsWith(`${p}.`) || p.startsWith(`${o.key}.`)));
    const why = from.length > 0 ? `  (from --set ${from.map((o) => o.spec).join(', --set ')})` : '';
    return `  ${field || '(top level)'}: ${issue.message}${why}`;
  });
  throw new ConfigError(`invalid training config ${path} with ${overrides.map((o) => `--set ${o.spec}`).join(' ')}:\n${lines.join('\n')}`);
}
