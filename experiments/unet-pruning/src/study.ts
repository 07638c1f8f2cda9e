import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfigFile, loadTrainConfig, pruningSpecSchema, type TrainConfig } from '@difflab/runs';
import { EvalError } from '@difflab/evaluation';

/**
 * A pruning study preset is four files in `<studyDir>/presets/<preset>/`, one per pipeline stage, so that
 * Nx hashes each stage on the file it reads and a change reruns only the stages downstream of it:
 * baseline.json (a trainer config) → score.json → variants.json → eval.json.
 */
export const scoreSchema = z
  .object({
    ldPruner: z
      .object({
        /** Fixed noises x_T sampled by the original and every modified model. */
        noises: z.number().int().positive(),
        samplerSteps: z.number().int().positive(),
        seed: z.number().int().nonnegative().default(0),
        /** The score that ranks operators for pruning; all four are reported. */
        combine: z.enum(['sum', 'product', 'mean', 'std']).default('sum'),
        distance: z.enum(['l2', 'l1', 'relative']).default('l2'),
        /**
         * blocks: resnets and whole transformers, which pruning removes from the architecture (a lone resnet is zeroed);
         * all: also the transformers' sub-layers (attn1/attn2/ff), which can only be zeroed, saving no MACs.
         */
        operators: z.enum(['blocks', 'all']).default('blocks'),
      })
      .strict(),
    blockImportance: z
      .object({
        /** Test images of the ε-MSE proxy, each noised at every timestep. */
        images: z.number().int().positive(),
        timesteps: z.array(z.number().int().nonnegative()).nonempty(),
        seed: z.number().int().nonnegative().default(0),
      })
      .strict(),
  })
  .strict();

const variantSchema = z.discriminatedUnion('method', [
  z
    .object({
      id: z.string().regex(/^[\w.-]+$/, 'use letters, digits, ".", "_" or "-"'),
      method: z.literal('bk-sdm'),
      /** Block removal on the baseline's architecture; retrained by distillation from the baseline. */
      spec: pruningSpecSchema,
    })
    .strict(),
  z
    .object({
      id: z.string().regex(/^[\w.-]+$/, 'use letters, digits, ".", "_" or "-"'),
      method: z.literal('ld-pruner'),
      /** Prune the k least significant operators of the score stage's ranking. */
      k: z.number().int().positive(),
      /** preserved: finetune the pruned weights; scratch: train the same architecture from a random init. */
      init: z.enum(['preserved', 'scratch']).default('preserved'),
    })
    .strict(),
]);

export const variantsSchema = z
  .object({
    /** Replaces the baseline config's train section for every retraining run. */
    retrain: z
      .object({
        steps: z.number().int().positive(),
        batchSize: z.number().int().positive(),
        lr: z.number().positive(),
        warmupSteps: z.number().int().nonnegative().default(0),
        /** Held-out ε-MSE examples of each retraining run (default: the baseline's eval.heldoutExamples). */
        heldoutExamples: z.number().int().positive().optional(),
      })
      .strict(),
    distill: z
      .object({ task: z.number().nonnegative().default(1), output: z.number().nonnegative().default(1), feature: z.number().nonnegative().default(1) })
      .strict()
      .default({ task: 1, output: 1, feature: 1 }),
    variants: z.array(variantSchema).nonempty(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.variants.forEach((x, i) => {
      if (x.id === 'baseline') ctx.addIssue({ code: 'custom', path: ['variants', i, 'id'], message: "'baseline' is reserved for the unpruned model" });
      if (seen.has(x.id)) ctx.addIssue({ code: 'custom', path: ['variants', i, 'id'], message: `duplicate variant id '${x.id}'` });
      seen.add(x.id);
    });
  });

export const evalSchema = z
  .object({
    /** FID-FMNIST samples: 10 × this many images per model. */
    samplesPerClass: z.number().int().positive(),
    batchSize: z.number().int().positive().default(100),
    latency: z
      .object({
        batches: z.array(z.number().int().positive()).nonempty().default([1, 64]),
        warmup: z.number().int().nonnegative().default(2),
        repeats: z.number().int().positive().default(10),
      })
      .strict(),
  })
  .strict();

export type ScoreSettings = z.output<typeof scoreSchema>;
export type VariantSettings = z.output<typeof variantsSchema>;
export type Variant = VariantSettings['variants'][number];
export type EvalSettings = z.output<typeof evalSchema>;

export class StudyError extends EvalError {
  override name = 'StudyError';
}

/** Where every stage reads and writes; all paths absolute. */
export interface StudyLayout {
  name: string;
  preset: string;
  presetDir: string;
  /** Trainer run of the unpruned model. */
  baselineRun: string;
  scoresDir: string;
  /** The retraining config of each variant. */
  configsDir: string;
  /** Pruned weights before retraining, one run directory per variant (a weights-only checkpoint at step 0). */
  prunedDir: string;
  retrainedDir: string;
  evalDir: string;
  resultsDir: string;
}

export function studyLayout(studyDirArg: string, preset: string): StudyLayout {
  const studyDir = resolve(studyDirArg);
  const presetDir = join(studyDir, 'presets', preset);
  if (!existsSync(presetDir)) throw new StudyError(`preset '${preset}': ${presetDir} not found; presets live in ${join(studyDir, 'presets')}/<name>/`);
  const runs = join(studyDir, 'runs', preset);
  return {
    name: `unet-pruning-${preset}`,
    preset,
    presetDir,
    baselineRun: join(runs, 'baseline'),
    scoresDir: join(studyDir, 'results', preset, 'scores'),
    configsDir: join(runs, 'configs'),
    prunedDir: join(runs, 'pruned'),
    retrainedDir: join(runs, 'retrained'),
    evalDir: join(runs, 'eval'),
    resultsDir: join(studyDir, 'results', preset),
  };
}

export const loadBaselineConfig = (l: StudyLayout): TrainConfig => {
  const path = join(l.presetDir, 'baseline.json');
  const cfg = loadTrainConfig(path);
  if ((cfg.model.architecture === 'unet' && (cfg.model.prune || cfg.model.zero)) || cfg.init || cfg.distill) {
    throw new StudyError(`${path}: the baseline is the unpruned model trained from scratch; remove model.prune, model.zero, init and distill`);
  }
  return cfg;
};
// Every preset file goes through the one config loader of @difflab/runs: it names the file and every bad field.
export const loadScoreSettings = (l: StudyLayout): ScoreSettings => loadConfigFile(scoreSchema, join(l.presetDir, 'score.json'), 'pruning preset');
export const loadVariantSettings = (l: StudyLayout): VariantSettings => loadConfigFile(variantsSchema, join(l.presetDir, 'variants.json'), 'pruning preset');
export const loadEvalSettings = (l: StudyLayout): EvalSettings => loadConfigFile(evalSchema, join(l.presetDir, 'eval.json'), 'pruning preset');

/** The weights a run samples with (and so is evaluated and pruned with). */
export const samplingWeights = (cfg: TrainConfig): 'ema' | 'raw' => (cfg.sample.useEma ? 'ema' : 'raw');
