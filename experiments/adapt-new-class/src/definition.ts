import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** adapt.json is unreadable or inconsistent; the message names the field and the fix. */
export class AdaptDefinitionError extends Error {
  override name = 'AdaptDefinitionError';
}

const ID = /^[a-z0-9][a-z0-9-]*$/;
const settingsSchema = z.record(z.string().regex(/^[\w]+(\.[\w]+)*$/, 'a dotted config path, e.g. train.lr'), z.unknown());

const methodSchema = z
  .object({
    id: z.string().regex(ID, 'lower-case letters, digits and "-"'),
    /** The trainer's finetune section without newClass (the study sets it to heldOutClass). */
    finetune: z.object({ method: z.enum(['lora', 'houlsby', 'prefix', 'svdiff', 'full']) }).passthrough(),
    /** Peak learning rate of this method; every method runs the same steps, so the lr is what is tuned per method. */
    lr: z.number().positive(),
    /** Why this lr: the source or the measurement behind it (shown in the README and the table). */
    why: z.string().min(1),
  })
  .strict();

const presetSchema = z
  .object({
    /** Set on both the base and the adaptation configs (model size, sampler): the adapters need the base's architecture. */
    set: settingsSchema.default({}),
    /** Optimizer steps of the 9-class base run. */
    baseSteps: z.number().int().positive(),
    /** Optimizer steps of every adaptation, the same for every method and k (matched steps). */
    adaptSteps: z.number().int().positive(),
    /** Adaptation batch size; min(this, k), since a batch cannot exceed the k images. */
    adaptBatchSize: z.number().int().positive(),
    /** Few-shot sizes: the first k training images of the held-out class. */
    ks: z.array(z.number().int().positive()).nonempty(),
    /** Methods run in this preset (ids of `methods`). */
    methods: z.array(z.string()).nonempty(),
    seeds: z.array(z.number().int().nonnegative()).nonempty(),
    /**
     * Samples per class drawn for scoring (generateSamples draws every class, the same x_T for base and adapted):
     * the new class is scored on this many, the old classes on 9 × this many (N of their FID).
     */
    samplesPerClass: z.number().int().min(2),
  })
  .strict();

export const adaptStudySchema = z
  .object({
    name: z.string().regex(ID),
    /** The Fashion-MNIST label the base never sees and the adaptation teaches. */
    heldOutClass: z.number().int().min(0).max(9),
    /** Seed of the one base run per preset. */
    baseSeed: z.number().int().nonnegative(),
    /** The trainer config both runs start from. */
    base: z.record(z.string(), z.unknown()),
    /** Set on every adaptation config after `base` and the preset's `set` (EMA, schedule, held-out loss size). */
    adapt: settingsSchema.default({}),
    methods: z.array(methodSchema).nonempty(),
    presets: z.record(z.string().regex(ID), presetSchema),
  })
  .strict()
  .superRefine((d, ctx) => {
    const ids = d.methods.map((m) => m.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', path: ['methods', i, 'id'], message: `method id '${id}' appears twice; ids name runs, so make them unique` });
    });
    for (const [name, p] of Object.entries(d.presets)) {
      p.methods.forEach((m, i) => {
        if (!ids.includes(m)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'methods', i], message: `unknown method '${m}'; methods: ${ids.join(', ')}` });
      });
      if (new Set(p.ks).size !== p.ks.length) ctx.addIssue({ code: 'custom', path: ['presets', name, 'ks'], message: 'k values must be distinct' });
    }
  });

export type AdaptStudyDefinition = z.output<typeof adaptStudySchema>;
export type AdaptMethod = AdaptStudyDefinition['methods'][number];
export type AdaptPreset = AdaptStudyDefinition['presets'][string];

export const definitionPath = (studyDir: string) => join(studyDir, 'adapt.json');

/** Reads and validates adapt.json without the tensor runtime (the Nx plugin calls this). */
export function loadAdaptDefinition(path: string): AdaptStudyDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new AdaptDefinitionError(`${path}: ${(e as Error).message}`);
  }
  return parseAdaptDefinition(raw, path);
}

export function parseAdaptDefinition(raw: unknown, where = 'adapt.json'): AdaptStudyDefinition {
  const r = adaptStudySchema.safeParse(raw);
  if (!r.success) throw new AdaptDefinitionError(`invalid adapt-new-class study definition ${where}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  return r.data;
}
