import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** erase.json is unreadable or inconsistent; the message names the field and the fix. */
export class EraseDefinitionError extends Error {
  override name = 'EraseDefinitionError';
}

const ID = /^[a-z0-9][a-z0-9-]*$/;
const settingsSchema = z.record(z.string().regex(/^[\w]+(\.[\w]+)*$/, 'a dotted config path, e.g. train.lr'), z.unknown());

const variantSchema = z
  .object({
    id: z.string().regex(ID, 'lower-case letters, digits and "-"'),
    /** What ESD trains (the trainer's esd.train): the label's path into the image tokens, or every other weight. */
    train: z.enum(['conditioning', 'unconditioning']),
    lr: z.number().positive(),
    /** Why this lr: the source or the measurement behind it (shown in the README and the table). */
    why: z.string().min(1),
  })
  .strict();

/** The attacks' budget: the same for every model of a preset, the unerased base included; they sample with the run's own sampler. */
const attackSchema = z
  .object({
    /** Adam steps of each attack. */
    steps: z.number().int().positive(),
    /** Images per attack step: the embedding attack's batch (fresh x_T each step), the noise attack's x_T count. */
    batch: z.number().int().positive(),
    /** Adam learning rate on the label embedding (units of the embedding table's entries). */
    embeddingLr: z.number().positive(),
    /** Adam learning rate on x_T (units of the unit-variance noise); x_T is kept on the sphere of radius √dim. */
    noiseLr: z.number().positive(),
    /** Images drawn from new x_T with the attacked embedding to score it (the noise attack scores its own batch). */
    evalImages: z.number().int().positive(),
  })
  .strict();

const presetSchema = z
  .object({
    /** Set on the base and on every ESD config (model size, sampler): ESD fine-tunes the base's architecture. */
    set: settingsSchema.default({}),
    /** Optimizer steps of the ten-class base run. */
    baseSteps: z.number().int().positive(),
    /** Optimizer steps of every ESD run (matched across variants and η). */
    esdSteps: z.number().int().positive(),
    esdBatchSize: z.number().int().positive(),
    /** ESD's negative-guidance strength η per unit. */
    etas: z.array(z.number().positive()).nonempty(),
    variants: z.array(z.string()).nonempty(),
    seeds: z.array(z.number().int().nonnegative()).nonempty(),
    /** Samples per class scored for every model (the same x_T for base and erased): the erased label's and the other nine's (N of their FID = 9 × this). */
    samplesPerClass: z.number().int().min(2),
    attack: attackSchema,
    /** Score with the second FID-FMNIST network too (the attacks optimise against the first: their success is read by the second). */
    secondScorer: z.boolean(),
  })
  .strict();

export const eraseStudySchema = z
  .object({
    name: z.string().regex(ID),
    /** The Fashion-MNIST label ESD erases. */
    erasedClass: z.number().int().min(0).max(9),
    /** Seed of the one base run per preset. */
    baseSeed: z.number().int().nonnegative(),
    /** The trainer config of the base (ten classes; classifier-free guidance needs its label dropout). */
    base: z.record(z.string(), z.unknown()),
    /** Set on every ESD config after `base` and the preset's `set` (schedule, EMA, esd.* sampler settings). */
    esd: settingsSchema.default({}),
    variants: z.array(variantSchema).nonempty(),
    presets: z.record(z.string().regex(ID), presetSchema),
  })
  .strict()
  .superRefine((d, ctx) => {
    const ids = d.variants.map((v) => v.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', path: ['variants', i, 'id'], message: `variant id '${id}' appears twice; ids name runs, so make them unique` });
    });
    for (const [name, p] of Object.entries(d.presets)) {
      p.variants.forEach((v, i) => {
        if (!ids.includes(v)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'variants', i], message: `unknown variant '${v}'; variants: ${ids.join(', ')}` });
      });
      if (new Set(p.etas).size !== p.etas.length) ctx.addIssue({ code: 'custom', path: ['presets', name, 'etas'], message: 'η values must be distinct' });
    }
  });

export type EraseStudyDefinition = z.output<typeof eraseStudySchema>;
export type EraseVariant = EraseStudyDefinition['variants'][number];
export type ErasePreset = EraseStudyDefinition['presets'][string];
export type AttackBudget = ErasePreset['attack'];

export const definitionPath = (studyDir: string) => join(studyDir, 'erase.json');

/** Reads and validates erase.json without the tensor runtime (the Nx plugin calls this). */
export function loadEraseDefinition(path: string): EraseStudyDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EraseDefinitionError(`${path}: ${(e as Error).message}`);
  }
  return parseEraseDefinition(raw, path);
}

export function parseEraseDefinition(raw: unknown, where = 'erase.json'): EraseStudyDefinition {
  const r = eraseStudySchema.safeParse(raw);
  if (!r.success) throw new EraseDefinitionError(`invalid erase-class study definition ${where}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  return r.data;
}
