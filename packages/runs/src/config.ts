import { z } from 'zod';
import { loadConfigFile, parseConfig } from './config-file.js';

export { ConfigError } from './config-file.js';

const blockRemovalSchema = z
  .object({
    stage: z.enum(['down', 'up']),
    level: z.number().int().nonnegative(),
    index: z.number().int().nonnegative(),
    parts: z.array(z.enum(['resnet', 'attention'])).nonempty().readonly(),
  })
  .strict();

/** @difflab/models' UNetPruningSpec. */
export const pruningSpecSchema = z.object({ removeMid: z.boolean().default(false), remove: z.array(blockRemovalSchema).readonly().default([]) }).strict();

/**
 * A training config as the user writes it. Every field has a default except where a choice
 * matters for the result, so a config file names what the experiment is about.
 */
export const trainConfigSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, 'use letters, digits, ".", "_" or "-"').default('dit'),
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
      })
      .strict()
      .default({ dataset: 'fashion-mnist', pad32: true }),
    model: z
      .object({
        /** A named config from @difflab/models (e.g. "DiT-FMNIST-S/4"); other fields override it. */
        preset: z.string(),
        hiddenSize: z.number().int().positive().optional(),
        depth: z.number().int().positive().optional(),
        numHeads: z.number().int().positive().optional(),
        patchSize: z.number().int().positive().optional(),
        mlpRatio: z.number().positive().optional(),
        classDropoutProb: z.number().min(0).max(1).optional(),
        learnSigma: z.boolean().optional(),
        block: z.enum(['adaLN-Zero', 'adaLN', 'cross-attention', 'in-context']).optional(),
        /** U-Net presets: the SD-style layout rebuilt with these (sdStyleUNetConfig options). */
        channels: z.array(z.number().int().positive()).nonempty().optional(),
        layersPerLevel: z.number().int().positive().optional(),
        attention: z.array(z.boolean()).nonempty().optional(),
        mid: z.boolean().optional(),
        groups: z.number().int().positive().optional(),
        /** U-Net presets: BK-SDM block removal applied to the (overridden) preset; the model is what remains. */
        prune: pruningSpecSchema.optional(),
        /**
         * U-Net presets: parameters (names in the unpruned model) held at zero and not trained — LD-Pruner's
         * operators replaced by the identity rather than removed (their closing projections).
         */
        zero: z.array(z.string()).optional(),
      })
      .strict(),
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
    diffusion: z
      .object({
        schedule: z.enum(['linear', 'cosine']).default('linear'),
        timesteps: z.number().int().min(2).default(1000),
      })
      .strict()
      .default({ schedule: 'linear', timesteps: 1000 }),
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
        sampler: z.enum(['ddim', 'ddpm']).default('ddim'),
        steps: z.number().int().positive().default(50),
        cfgScale: z.number().nonnegative().default(2),
        perClass: z.number().int().positive().default(8),
        /** Sample with the EMA weights (as DiT does) rather than the raw weights. */
        useEma: z.boolean().default(true),
      })
      .strict()
      .default({ every: 0, sampler: 'ddim', steps: 50, cfgScale: 2, perClass: 8, useEma: true }),
  })
  .strict();

export type TrainConfig = z.output<typeof trainConfigSchema>;
export type TrainConfigInput = z.input<typeof trainConfigSchema>;

/** Validates a parsed config; the error lists every bad field by its dotted path. */
export function parseTrainConfig(raw: unknown, source = 'config'): TrainConfig {
  return parseConfig(trainConfigSchema, raw, 'training config', source);
}

export function loadTrainConfig(path: string): TrainConfig {
  return loadConfigFile(trainConfigSchema, path, 'training config');
}
