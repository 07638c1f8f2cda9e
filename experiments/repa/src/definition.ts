import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** repa.json is unreadable or inconsistent; the message names the field and the fix. */
export class RepaDefinitionError extends Error {
  override name = 'RepaDefinitionError';
}

const ID = /^[a-z0-9][a-z0-9-]*$/;
const ENCODERS = ['mae', 'classifier', 'random'] as const;
const settingsSchema = z.record(z.string().regex(/^[\w]+(\.[\w]+)*$/, 'a dotted config path, e.g. train.lr'), z.unknown());

const armSchema = z
  .object({
    id: z.string().regex(ID, 'lower-case letters, digits and "-"'),
    change: z.string().min(1),
    /** null: the vanilla arm. Otherwise the trainer's repa section but for encoder (a name) and stopFraction. */
    repa: z
      .object({
        /** A teacher of experiments/repa-encoders. */
        encoder: z.enum(ENCODERS),
        projector: z.enum(['mlp', 'conv']).optional(),
        spatialNorm: z.boolean().optional(),
        /** HASTE: repa.stopStep = round(stopFraction × train.steps) + 1, so the term runs for that fraction of the steps. */
        stopFraction: z.number().gt(0).lt(1).optional(),
      })
      .strict()
      .nullable(),
  })
  .strict();

const presetSchema = z
  .object({
    /** Set on the base config before the arm (model size, steps, evaluation cost). */
    set: settingsSchema.default({}),
    /** Directory (from the workspace root) holding <encoder>/tokens.npy for each teacher: the repa-encoders artifacts of this scale. */
    encoders: z.string().min(1),
    /** The repa-encoders target that makes them (Nx runs it first). */
    encodersTask: z.string().min(1),
    /** Shared by every aligned arm: the block (1-based) and λ. */
    repa: z.object({ block: z.number().int().positive(), lambda: z.number().nonnegative() }).strict(),
    /** Arms run in this preset (default all). */
    arms: z.array(z.string()).optional(),
    seeds: z.array(z.number().int().nonnegative()).nonempty(),
    /** Samples per class scored by `difflab eval` (N = 10 × this; the FID floor at the same N). */
    fidSamplesPerClass: z.number().int().positive(),
    /** Also score every checkpoint's samples with the second FID network (FMNIST_FEATURE_NET_S1); off in smoke, whose CI budget has no room to train it. */
    secondScorer: z.boolean().default(false),
    /**
     * Steps at which the train stage keeps a checkpoint and the evaluate stage scores it (the FID-vs-steps
     * curve): strictly increasing, the last = train.steps.
     */
    /** The per-block probe and CKNNA to each teacher at every evalStep (src/probe.ts). */
    probe: z.object({ images: z.number().int().min(17), t: z.number().min(0).max(1), topk: z.number().int().min(2) }).strict(),
    evalSteps: z
      .array(z.number().int().positive())
      .nonempty()
      .refine((v) => v.every((s, i) => i === 0 || s > v[i - 1]!), 'strictly increasing steps, e.g. [250, 500, 1000, 2000]'),
  })
  .strict();

export const repaStudySchema = z
  .object({
    name: z.string().regex(ID),
    base: z.record(z.string(), z.unknown()),
    arms: z.array(armSchema).nonempty(),
    presets: z.record(z.string().regex(ID), presetSchema),
  })
  .strict()
  .superRefine((d, ctx) => {
    const ids = d.arms.map((a) => a.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', path: ['arms', i, 'id'], message: `arm id '${id}' appears twice; ids name runs, so make them unique` });
    });
    for (const [name, p] of Object.entries(d.presets)) {
      (p.arms ?? []).forEach((a, i) => {
        if (!ids.includes(a)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'arms', i], message: `unknown arm '${a}'; arms: ${ids.join(', ')}` });
      });
    }
  });

export type RepaStudyDefinition = z.output<typeof repaStudySchema>;
export type RepaArm = RepaStudyDefinition['arms'][number];
export type RepaPreset = RepaStudyDefinition['presets'][string];

export const definitionPath = (studyDir: string) => join(studyDir, 'repa.json');

/** Reads and validates repa.json without the tensor runtime (the Nx plugin calls this). */
export function loadRepaDefinition(path: string): RepaStudyDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RepaDefinitionError(`${path}: ${(e as Error).message}`);
  }
  const r = repaStudySchema.safeParse(raw);
  if (!r.success) throw new RepaDefinitionError(`invalid REPA study definition ${path}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  return r.data;
}
