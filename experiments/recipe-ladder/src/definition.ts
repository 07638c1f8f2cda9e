import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** ladder.json is unreadable or inconsistent; the message names the field and the fix. */
export class LadderDefinitionError extends Error {
  override name = 'LadderDefinitionError';
}

const ID = /^[a-z0-9][a-z0-9-]*$/;
/** Dotted config paths (as `difflab train --set`) to values. */
const settingsSchema = z.record(z.string().regex(/^[\w]+(\.[\w]+)*$/, 'a dotted config path, e.g. train.lr'), z.unknown());

const rowSchema = z
  .object({
    id: z.string().regex(ID, 'lower-case letters, digits and "-"'),
    /** What this row adds to the one above it. */
    change: z.string().min(1),
    /** The row's FID-50K in LightningDiT's Table 1 (DiT-XL/2, 80 epochs, cfg 1), when the paper has one. */
    paperFid: z.number().positive().nullable(),
    /** Config values set from this row on (dotted paths). */
    set: settingsSchema.default({}),
    /** Config numbers multiplied from this row on (e.g. train.batchSize: 4). */
    scale: z.record(z.string(), z.number().positive()).default({}),
  })
  .strict();

const presetSchema = z
  .object({
    /** Set on the base config before the rows (model size, steps, evaluation cost). */
    set: settingsSchema.default({}),
    seeds: z.array(z.number().int().nonnegative()).nonempty(),
    /** Rows run in this preset (default all); the ladder stays cumulative over every row above. */
    rows: z.array(z.string()).optional(),
    /**
     * The equal-wall-clock column: each row trains for this many seconds, as steps = seconds × its own
     * steps/s measured on this machine just before (so its learning-rate schedule still ends at its last step).
     * 0 = no such column.
     */
    wallClockSeconds: z.number().nonnegative(),
    /** Samples per class scored by `difflab eval` (N = 10 × this; the FID floor is taken at the same N). */
    fidSamplesPerClass: z.number().int().positive(),
  })
  .strict();

export const ladderSchema = z
  .object({
    name: z.string().regex(ID),
    /** The starting point: today's default recipe (a complete trainer config but for the preset's settings). */
    base: z.record(z.string(), z.unknown()),
    rows: z.array(rowSchema).nonempty(),
    presets: z.record(z.string().regex(ID), presetSchema),
  })
  .strict()
  .superRefine((d, ctx) => {
    const ids = d.rows.map((r) => r.id);
    ids.forEach((id, i) => {
      if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', path: ['rows', i, 'id'], message: `row id '${id}' appears twice; ids name runs, so make them unique` });
    });
    for (const [name, p] of Object.entries(d.presets)) {
      (p.rows ?? []).forEach((r, i) => {
        if (!ids.includes(r)) ctx.addIssue({ code: 'custom', path: ['presets', name, 'rows', i], message: `unknown row '${r}'; rows: ${ids.join(', ')}` });
      });
    }
  });

export type LadderDefinition = z.output<typeof ladderSchema>;
export type LadderRow = LadderDefinition['rows'][number];
export type LadderPreset = LadderDefinition['presets'][string];

/** Reads and validates ladder.json without the tensor runtime (the Nx plugin calls this). */
export function loadLadderDefinition(path: string): LadderDefinition {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new LadderDefinitionError(`${path}: ${(e as Error).message}`);
  }
  const r = ladderSchema.safeParse(raw);
  if (!r.success) {
    throw new LadderDefinitionError(`invalid ladder definition ${path}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(top level)'}: ${i.message}`).join('\n')}`);
  }
  return r.data;
}
